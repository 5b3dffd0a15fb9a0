"""A listener's sessions whose connection is gone, ended once the ROUTER read what they sent.

A send to a routing id whose connection is gone fails (EHOSTUNREACH), but the ROUTER may
still hold what that peer sent before: a closing connection's messages stay readable, and
libzmq refuses sends to it meanwhile. Its session ends once they are read (the ROUTER has
nothing left to read), at most GONE_WAIT after it was found gone.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import zmq

from .._core.sessions import SessionTable
from .peer_io import readable

#: at most this long a session whose connection is gone waits for its last messages to be read
GONE_WAIT = 2.0


class GoneSessions:
    """The sessions found gone, by routing id; ``end(rid, gone_at)`` ends one (the Listener's)."""

    def __init__(self, router: zmq.Socket[Any], sessions: SessionTable,
                 end: Callable[[bytes, float], None]) -> None:
        self.router = router
        self.sessions = sessions
        self.end = end
        #: rid: (conn_id, since) of sessions whose connection is gone
        self.gone: Dict[bytes, Tuple[str, float]] = {}

    def __bool__(self) -> bool:
        return bool(self.gone)

    def found(self, rid: bytes, now: float) -> None:
        """``rid``'s connection is gone (a send to it is EHOSTUNREACH): its session ends soon."""
        session = self.sessions.by_rid(rid)
        if session is not None:
            self.gone.setdefault(rid, (session.conn_id, now))

    def ended(self, rid: bytes) -> None:
        """``rid``'s session ended (for whatever reason): nothing to wait for."""
        self.gone.pop(rid, None)

    def end_drained(self, now: float) -> None:
        """End the gone sessions when the ROUTER has nothing left to read (libzmq lets go of a
        closed connection only after its last message was read), at most GONE_WAIT later."""
        drained = not readable(self.router)
        for rid, (conn_id, since) in list(self.gone.items()):
            session = self.sessions.by_rid(rid)
            if session is None or session.conn_id != conn_id:
                del self.gone[rid]  # ended meanwhile (BYE, a new HELLO)
            elif drained or now - since >= GONE_WAIT:
                self.end(rid, since)

    def deadlines(self) -> List[float]:
        return [since for _, since in self.gone.values()]
