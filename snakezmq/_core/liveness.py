"""When to ping a silent peer and when to give up on it.

Times are float seconds on a monotonic clock, passed in by the caller.
"""
from __future__ import annotations

import enum
from typing import Optional

PING_INTERVAL = 2.0  #: ping a peer that has been silent this long
DEAD_AFTER = 6.0  #: a peer silent this long (pings unanswered) is gone


class Verdict(enum.Enum):
    ALIVE = "alive"
    PING = "ping"
    DEAD = "dead"


class Liveness:
    """Last sign of life of one peer, and whether a ping is outstanding."""

    __slots__ = ("last_heard", "ping_sent_at")

    def __init__(self, now: float) -> None:
        self.last_heard = now
        self.ping_sent_at: Optional[float] = None

    def heard(self, now: float) -> None:
        self.last_heard = now
        self.ping_sent_at = None

    def check(self, now: float, interval: float = PING_INTERVAL,
              dead_after: float = DEAD_AFTER) -> Verdict:
        """PING once after ``interval`` of silence, DEAD after ``dead_after``."""
        silent = now - self.last_heard
        if silent >= dead_after:
            return Verdict.DEAD
        if silent >= interval and self.ping_sent_at is None:
            self.ping_sent_at = now
            return Verdict.PING
        return Verdict.ALIVE

    def next_deadline(self, interval: float = PING_INTERVAL,
                      dead_after: float = DEAD_AFTER) -> float:
        if self.ping_sent_at is None:
            return self.last_heard + interval
        return self.last_heard + dead_after
