"""How often the same kind of report may be logged: a burst, then once per interval.

A peer that sends 10,000 bad frames gets 10,000 ``on_error`` calls but only a
few log lines; the next line that is let through says how many were left out.
The one log rate limiter of snakezmq: the Link, its listeners and connectors, the
ZAP handler and Messaging each keep a ``RateLimit`` and log through ``level()``.
Pure logic: times are float seconds on a monotonic clock, passed in by the caller.
Not thread-safe: each instance belongs to one thread (the loop's) or is used under a lock.
"""
from __future__ import annotations

from typing import Dict, Hashable, List, Optional, Tuple

REPEAT_AFTER = 60.0  #: seconds in one window
BURST = 3  #: reports let through per key and window
MAX_KEYS = 4096  #: keys remembered; beyond that the oldest half is forgotten
DEBUG = 10  #: ``logging.DEBUG``: where left-out reports go (the core does not import logging)


class RateLimit:
    """Per key: at most ``burst`` reports per ``interval`` seconds; the rest are counted."""

    def __init__(self, interval: float = REPEAT_AFTER, burst: int = BURST,
                 max_keys: int = MAX_KEYS) -> None:
        if interval < 0 or burst < 1 or max_keys < 1:
            raise ValueError("interval >= 0, burst >= 1 and max_keys >= 1 are required")
        self.interval = interval
        self.burst = burst
        self.max_keys = max_keys
        # key -> [window start, reports let through in this window, reports left out since the last one]
        self._seen: Dict[Hashable, List[float]] = {}

    def allow(self, key: Hashable, now: float) -> Optional[int]:
        """None: leave this report out; else how many were left out since the last one let through."""
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = [now, 1, 0]
            if len(self._seen) > self.max_keys:
                self._forget_oldest()
            return 0
        if now - seen[0] >= self.interval:
            left_out = int(seen[2])
            seen[0], seen[1], seen[2] = now, 1, 0
            return left_out
        if seen[1] < self.burst:
            seen[1] += 1
            return 0
        seen[2] += 1
        return None

    def level(self, key: Hashable, level: int, now: float) -> Tuple[int, str]:
        """How to log a report: ``(level, suffix)`` when it is let through (``suffix``
        counts the reports left out before it), else ``(DEBUG, "")``::

            at, tail = limit.level((conn_id, type(error)), logging.ERROR, time.monotonic())
            log.log(at, "%s%s", text, tail)
        """
        left_out = self.allow(key, now)
        if left_out is None:
            return DEBUG, ""
        return level, suffix(left_out)

    def __len__(self) -> int:
        return len(self._seen)

    def _forget_oldest(self) -> None:
        by_age = sorted(self._seen, key=lambda k: self._seen[k][0])
        for key in by_age[:len(by_age) // 2 or 1]:
            del self._seen[key]


def suffix(left_out: int) -> str:
    """Text appended to a report that follows ``left_out`` reports that were not logged."""
    if not left_out:
        return ""
    return " (%d more like this were not logged since the last such line)" % left_out
