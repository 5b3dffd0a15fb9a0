"""When to ping a silent peer and when to give up on it.

A sign of life is a complete message from the peer, or TCP data from it: a
message that takes longer than ``DEAD_AFTER`` to arrive (12 MB over 8 Mbit/s)
is not silence, and snakemq 1.6 counts every ``recv()`` of bytes too. libzmq
reports complete messages only, so the I/O shell asks the kernel how long ago
data arrived (``data_age``, read only when a verdict is due; None: unknown, and
then only messages count, as before). A partition stops the data, so it is still
noticed within ``DEAD_AFTER``.

While a peer's bytes arrive but no message completes, its answers wait behind
the message it is sending (one TCP stream), so what it hears from us is our
PINGs: one goes again every ``interval`` for as long as its data keeps coming,
and it does not take us for dead while its own message is in flight.

Times are float seconds on a monotonic clock, passed in by the caller.
"""
from __future__ import annotations

import enum
from typing import Callable, Optional

PING_INTERVAL = 2.0  #: ping a peer that has been silent this long
DEAD_AFTER = 6.0  #: a peer silent this long (pings unanswered) is gone
INFINITY = float("inf")
#: ``data_age()``: seconds since TCP data from the peer last arrived; None when unknown
DataAge = Callable[[], Optional[float]]


def unknown(*_: object) -> Optional[float]:
    """No source of TCP data ages (ipc://, inproc://, not Linux): messages only."""
    return None


class Verdict(enum.Enum):
    ALIVE = "alive"
    PING = "ping"
    DEAD = "dead"


class Liveness:
    """The last signs of life of one peer, and whether a ping is outstanding.

    Two rules share it: the link's (``dead_after``: DEAD after that long without a
    sign of life) and Messaging's keepalive, snakemq's (``wait``: DEAD when a PING
    got no sign of life for longer than that); each passes ``INFINITY`` for the other.
    """

    __slots__ = ("last_heard", "last_data", "ping_sent_at", "next_look", "data_known")

    def __init__(self, now: float) -> None:
        self.last_heard = now  #: the last complete message
        self.last_data = now  #: TCP data, as of the last look at it
        self.ping_sent_at: Optional[float] = None
        self.next_look = now  #: while a PING is outstanding: look at the data again then
        self.data_known = False  #: whether the last look found the data's age

    def heard(self, now: float) -> None:
        self.last_heard = now
        self.ping_sent_at = None

    def last_sign(self) -> float:
        return max(self.last_heard, self.last_data)

    def check(self, now: float, data_age: DataAge = unknown, interval: float = PING_INTERVAL,
              dead_after: float = DEAD_AFTER, wait: float = INFINITY) -> Verdict:
        """PING after ``interval`` without a message (again every ``interval`` while the
        peer's data arrives); DEAD after ``dead_after`` without a sign of life, or when
        a PING saw none for longer than ``wait``."""
        if now < self.next_deadline(interval, dead_after, wait):
            return Verdict.ALIVE
        age = data_age()
        self.data_known = age is not None
        if age is not None:
            self.last_data = max(self.last_data, now - age)
        ping = self.ping_sent_at
        if now >= self.last_sign() + dead_after or (
                ping is not None and now > ping + wait and self.last_data <= ping):
            return Verdict.DEAD
        if ping is None or (self.last_data > ping and now >= ping + interval):
            self.ping_sent_at = now
            self.next_look = now + interval
            return Verdict.PING
        if now >= self.next_look:
            self.next_look = now + interval
        return Verdict.ALIVE

    def next_deadline(self, interval: float = PING_INTERVAL, dead_after: float = DEAD_AFTER,
                      wait: float = INFINITY) -> float:
        """When ``check`` may say something other than ALIVE."""
        ping = self.ping_sent_at
        if ping is None:
            return self.last_heard + interval
        due = self.last_sign() + dead_after
        if self.data_known:  # (its data may come after the PING: PING again)
            due = min(due, self.next_look)
        if self.last_data <= ping:
            due = min(due, ping + wait)
        return due


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
