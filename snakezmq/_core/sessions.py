"""Sessions of one listener (ROUTER): who is connected, under which conn id.

Theory of operation:
- A session starts with a HELLO from a routing id and ends with BYE, a
  liveness verdict, a newer HELLO from the same routing id (ZeroMQ only lets a
  routing id reconnect once its old connection ended), or the listener closing.
- Input methods return what changed; the caller (the I/O shell) sends frames
  and fires callbacks. Times are float seconds, monotonic, passed in.
- The loop asks on every pass; the scan of all sessions runs at most every
  CHECK_EVERY seconds, and ``next_deadline`` is kept from the last scan, so a
  pass costs the same with 1 or 10,000 sessions.
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from .liveness import PING_INTERVAL, Liveness, Verdict, unknown

CHECK_EVERY = 0.1  #: liveness is checked this often at most (pings come after seconds of silence)


class Session(NamedTuple):
    conn_id: str
    rid: bytes
    nonce: bytes
    liveness: Liveness
    peer_address: str
    rid_is_ident: bool


class HelloOutcome(NamedTuple):
    """``started`` is the new conn id (None for a repeated HELLO); ``ended`` the replaced one."""
    started: Optional[str]
    ended: Optional[str]


class SessionTable:
    """Sessions of one listener, keyed by routing id."""

    def __init__(self, new_conn_id: Callable[[], str]) -> None:
        self._new_conn_id = new_conn_id
        self._by_rid: Dict[bytes, Session] = {}
        self._by_conn: Dict[str, Session] = {}
        self._next_check = 0.0  #: no liveness scan before this
        self._earliest = float("inf")  #: earliest ping or death as of the last scan (or a new session)

    def __len__(self) -> int:
        return len(self._by_rid)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_rid.values()))

    def by_rid(self, rid: bytes) -> Optional[Session]:
        return self._by_rid.get(rid)

    def by_conn(self, conn_id: str) -> Optional[Session]:
        return self._by_conn.get(conn_id)

    def hello(self, rid: bytes, nonce: bytes, now: float, peer_address: str = "",
              rid_is_ident: bool = True) -> HelloOutcome:
        """A HELLO arrived: start a session, or recognise a repeat, or replace a stale one."""
        current = self._by_rid.get(rid)
        if current is not None and current.nonce == nonce:
            self.heard(rid, now)
            return HelloOutcome(None, None)
        ended = self.end(rid) if current is not None else None
        session = Session(self._new_conn_id(), rid, nonce, Liveness(now), peer_address, rid_is_ident)
        self._by_rid[rid] = session
        self._by_conn[session.conn_id] = session
        self._earliest = min(self._earliest, now + PING_INTERVAL)
        return HelloOutcome(session.conn_id, ended)

    def heard(self, rid: bytes, now: float) -> Optional[str]:
        """Any frame from ``rid``: its conn id, or None when it has no session."""
        session = self._by_rid.get(rid)
        if session is None:
            return None
        session.liveness.heard(now)
        if now + PING_INTERVAL < self._earliest:  # (it was waiting for a ping's answer)
            self._earliest = now + PING_INTERVAL
        return session.conn_id

    def end(self, rid: bytes) -> Optional[str]:
        session = self._by_rid.pop(rid, None)
        if session is None:
            return None
        del self._by_conn[session.conn_id]
        return session.conn_id

    def liveness_check(self, now: float, data_age: Callable[[Session], Optional[float]] = unknown
                       ) -> Tuple[List[bytes], List[bytes]]:
        """``(to_ping, dead)`` routing ids; the caller ends the dead ones. ``data_age(session)``:
        seconds since TCP data from its peer arrived (None: unknown), asked only when due."""
        to_ping: List[bytes] = []
        dead: List[bytes] = []
        if now < self._next_check or now < self._earliest:
            return to_ping, dead
        earliest = float("inf")
        for session in self._by_rid.values():
            verdict = session.liveness.check(now, functools.partial(data_age, session))
            if verdict is Verdict.DEAD:
                dead.append(session.rid)
                continue
            if verdict is Verdict.PING:
                to_ping.append(session.rid)
            earliest = min(earliest, session.liveness.next_deadline())
        self._earliest, self._next_check = earliest, now + CHECK_EVERY
        return to_ping, dead

    def next_deadline(self) -> float:
        """When ``liveness_check`` may have something to do (never too late: new sessions
        and answers to pings bring it forward)."""
        return max(self._earliest, self._next_check)
