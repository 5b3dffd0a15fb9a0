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


SWEEP_AGAIN = 0.1  #: a listener pings every session again this long after a transport drop


class Sweeps:
    """When a listener pings every session because some connection dropped.

    A ROUTER's socket monitor reports DISCONNECTED without saying which peer, and
    libzmq frees that peer's routing id a moment later than it reports the drop: a
    sweep at once can still find the routing id reachable. So: one sweep at once
    (per batch of events), and one more ``SWEEP_AGAIN`` seconds after the last drop.
    """

    __slots__ = ("again_at",)

    def __init__(self) -> None:
        self.again_at: Optional[float] = None

    def dropped(self, now: float) -> None:
        """A transport drop was reported (the caller sweeps at once)."""
        self.again_at = now + SWEEP_AGAIN

    def due(self, now: float) -> bool:
        """True once, when the follow-up sweep is due."""
        if self.again_at is None or now < self.again_at:
            return False
        self.again_at = None
        return True

    def next_deadline(self) -> float:
        return float("inf") if self.again_at is None else self.again_at
