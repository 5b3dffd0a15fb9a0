"""A listener's answers to PROBEs: is the routing id a new connector asks for held by a live peer?

A connector whose HELLO goes unanswered asks, on a connection of its own, whether its
routing id (its ident) is taken. The listener PINGs the session that holds it: an answer
within PROBE_WAIT makes the newcomer a duplicate ident ("duplicate", and on_error
DuplicateIdent); silence ends that session, and the newcomer tries again ("wait").
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Protocol

from .._core import wire
from .._core.sessions import SessionTable
from ..exceptions import DuplicateIdent
from .peer_io import Sink, ident_text

PROBE_WAIT = 1.0  #: how long the holder of a routing id has to answer before it counts as gone


class PendingProbe(NamedTuple):
    probe_rid: bytes
    deadline: float
    address: str


class ProbeHost(Protocol):
    """What ProbeAnswers needs of its Listener."""

    endpoint: str
    sink: Sink
    sessions: SessionTable

    def send_control(self, rid: bytes, header: bytes) -> bool:
        """Best effort: False if not sent."""

    def reachable(self, rid: bytes) -> bool:
        """PING ``rid``; False when its connection is gone."""

    def ping(self, rid: bytes, now: float) -> bool:
        """PING ``rid``; False (and its session soon ended) when its connection is gone."""

    def end_silent(self, rid: bytes) -> None:
        """End the session of a peer that stopped answering, and its TCP connection."""


class ProbeAnswers:
    """The PROBEs waiting for the holder of their routing id to answer a PING."""

    def __init__(self, host: ProbeHost) -> None:
        self.host = host
        self.pending: Dict[bytes, List[PendingProbe]] = {}  #: by the routing id asked for

    def received(self, probe_rid: bytes, target: bytes, now: float, address: str) -> None:
        """A PROBE for ``target`` from ``probe_rid`` (the peer at ``address``)."""
        host = self.host
        if host.sessions.by_rid(target) is None:
            status = "wait" if host.reachable(target) else "retry"
            self._answer(probe_rid, status, "no live session for this ident")
        elif not host.ping(target, now):
            self._answer(probe_rid, "retry", "the previous connection is gone")
        else:
            self.pending.setdefault(target, []).append(PendingProbe(probe_rid, now + PROBE_WAIT, address))

    def answered(self, rid: bytes) -> None:
        """``rid``'s holder said something: the PROBEs for it were from duplicates."""
        session = self.host.sessions.by_rid(rid)
        for probe in self.pending.pop(rid, []):
            holder = session.peer_address if session else "?"
            text = "ident %r is in use by the peer at %s; refused the peer at %s" % (
                ident_text(rid), holder or "?", probe.address or "?")
            self._answer(probe.probe_rid, "duplicate", text)
            error = DuplicateIdent(ident_text(rid), "%s, on listener %s" % (text, self.host.endpoint))
            self.host.sink._problem("error", str(error), error, session.conn_id if session else None)

    def expire(self, now: float) -> None:
        """The holders that did not answer in time: their sessions end."""
        for target, pending in list(self.pending.items()):
            if pending[0].deadline > now:
                continue
            del self.pending[target]
            self.host.end_silent(target)  # the holder did not answer: its session is over
            for probe in pending:
                self._answer(probe.probe_rid, "wait", "the previous connection did not answer")

    def deadlines(self) -> List[float]:
        return [pending[0].deadline for pending in self.pending.values()]

    def _answer(self, probe_rid: bytes, status: str, text: str) -> None:
        self.host.send_control(probe_rid, wire.encode_link(wire.LinkKind.PROBED, status, text))
