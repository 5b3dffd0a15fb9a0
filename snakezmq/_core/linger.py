"""Whether a peer's application has the DATA sent to it: what a closing Link waits for.

Theory of operation:
- A peer handles the frames of one ZeroMQ pipe (connection) in order and
  answers each PING with one PONG, in order. A PONG may be lost (control
  frames are best effort) but never invented.
- So on one pipe the n-th PONG received answers PING number n or a later one,
  and DATA handed to ZeroMQ after PING number k has reached the peer's
  application once more than k PONGs came back.
- The count belongs to the pipe, not to the session: a session can end and a
  new one start on the same pipe (RESET, then HELLO again) while PONGs to older
  PINGs are still on their way. A connector's pipe is its DEALER socket; a
  listener's is a routing id, which ZeroMQ gives to a new pipe only after the
  old one ended.
- Counting costs one attribute store per DATA message and one increment per
  PING or PONG.
"""
from __future__ import annotations

from typing import Dict, Optional

from .wire import LinkKind

MAX_IDLE_LEDGERS = 4096  #: ledgers kept for routing ids without a session that still owe PONGs


class PingLedger:
    """PINGs sent, PONGs received and the last DATA on one pipe."""

    __slots__ = ("pings", "pongs", "data_after")

    def __init__(self) -> None:
        self.pings = 0  #: PINGs handed to ZeroMQ
        self.pongs = 0  #: PONGs received (never more than PINGs)
        self.data_after = -1  #: ``pings`` when DATA was last handed to ZeroMQ (-1: none yet)

    def data_sent(self) -> None:
        self.data_after = self.pings

    def ping_sent(self) -> None:
        self.pings += 1

    def pong_received(self) -> None:
        if self.pongs < self.pings:  # one we did not ask for proves nothing
            self.pongs += 1

    @property
    def confirmed(self) -> bool:
        """The peer's application has every DATA handed to ZeroMQ so far."""
        return self.pongs > self.data_after

    @property
    def ping_due(self) -> bool:
        """Confirming the DATA takes a PING, and none was sent since the last DATA."""
        return self.pings == self.data_after

    @property
    def owed(self) -> int:
        """PINGs not answered yet."""
        return self.pings - self.pongs


class RidLedgers:
    """The PingLedger of each routing id of a ROUTER socket.

    A ledger outlives its session while the pipe may still answer one of its
    PINGs; it is forgotten when nothing is owed or the pipe is gone. Ledgers of
    routing ids without a session are capped at MAX_IDLE_LEDGERS (oldest first):
    forgetting one that is owed PONGs can only matter if that same pipe starts a
    new session whose DATA is confirmed by such a late PONG.
    """

    def __init__(self) -> None:
        self._by_rid: Dict[bytes, PingLedger] = {}
        self._idle: Dict[bytes, None] = {}  #: routing ids without a session, oldest first

    def __getitem__(self, rid: bytes) -> PingLedger:
        ledger = self._by_rid.get(rid)
        if ledger is None:
            ledger = self._by_rid[rid] = PingLedger()
        return ledger

    def confirmed(self, rid: bytes) -> bool:
        ledger = self._by_rid.get(rid)
        return ledger is None or ledger.confirmed

    def session_started(self, rid: bytes) -> None:
        self._idle.pop(rid, None)

    def ping_sent(self, rid: bytes, in_session: bool) -> None:
        self[rid].ping_sent()
        if not in_session:
            self._now_idle(rid)

    def pong_received(self, rid: bytes) -> None:
        ledger = self._by_rid.get(rid)
        if ledger is not None:
            ledger.pong_received()
            if rid in self._idle and not ledger.owed:
                self.forget(rid)

    def session_ended(self, rid: bytes, pipe_gone: bool) -> None:
        ledger = self._by_rid.get(rid)
        if ledger is not None and (pipe_gone or not ledger.owed):
            self.forget(rid)
        elif ledger is not None:
            self._now_idle(rid)

    def forget(self, rid: bytes) -> None:
        self._by_rid.pop(rid, None)
        self._idle.pop(rid, None)

    def _now_idle(self, rid: bytes) -> None:
        self._idle[rid] = None
        if len(self._idle) > MAX_IDLE_LEDGERS:
            self.forget(next(iter(self._idle)))


class Farewell:
    """One peer of a Link that lingers in ``cleanup()``: what it says, what we answer."""

    __slots__ = ("waiting", "discarded")

    def __init__(self, waiting: bool) -> None:
        self.waiting = waiting  #: its confirmation is awaited (it has unconfirmed DATA)
        self.discarded = False  #: DATA from it was thrown away

    def frame(self, kind: LinkKind) -> Optional[LinkKind]:
        """A frame of ``kind`` from the peer (PONGs are the ledger's): the kind to answer.

        DATA is thrown away, as closing the socket would (no callback runs any more), and
        the peer's PINGs then get BYE, not PONG: its own linger must not take that DATA
        for delivered. BYE or RESET: the peer will not confirm anything.
        """
        if kind is LinkKind.DATA or kind is LinkKind.PACKETS:
            self.discarded = True
        elif kind is LinkKind.PING:
            return LinkKind.BYE if self.discarded else LinkKind.PONG
        elif kind is LinkKind.BYE or kind is LinkKind.RESET:
            self.waiting = False
        return None
