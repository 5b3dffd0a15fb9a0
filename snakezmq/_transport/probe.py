"""PROBEs: is the routing id a new connector asks for held by a live peer?

A connector whose HELLO goes unanswered asks, on a connection of its own (``ProbeSocket``),
whether its routing id (its ident) is taken. The listener (``ProbeAnswers``) PINGs the
session that holds it: an answer within PROBE_WAIT makes the newcomer a duplicate ident
("duplicate", and on_error DuplicateIdent); silence ends that session, and the newcomer
tries again ("wait").
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Protocol

import zmq

from .._core import wire
from .._core.sessions import SessionTable
from ..exceptions import DuplicateIdent, WireError
from . import sockets
from .peer_io import Sink, ident_text

PROBE_WAIT = 1.0  #: how long the holder of a routing id has to answer before it counts as gone
PROBE_PREFIX = b"~szmq-probe-"  #: routing ids of the connectors' probe sockets


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


class ProbeSocket:
    """A connector's probe: a DEALER of its own to ``endpoint``, one PROBE at a time; the
    answer (PROBED or REFUSE) goes to ``answered(frame, now)``."""

    def __init__(self, sink: Sink, endpoint: str, security: Optional[object],
                 answered: Callable[[wire.LinkFrame, float], None]) -> None:
        self.sink = sink
        self.endpoint = endpoint
        self.security = security
        self.answered = answered
        self.socket: Optional[zmq.Socket[Any]] = None

    def open(self, rid: bytes, nonce: bytes, local_address: str) -> None:
        """PROBE for ``rid`` (the previous probe, if any, closed)."""
        self.close()
        self.socket = sockets.make_dealer(sockets.random_routing_id(PROBE_PREFIX), 0.1, self.security)
        self.socket.immediate = 0  # queue the PROBE until the connection is up
        self.sink._register(self.socket, self._on_readable)
        self.socket.connect(self.endpoint)
        # local_address (appended; older listeners ignore it): the listener names our
        # parked connection's address in its duplicate-ident report.
        self.socket.send(wire.encode_link(wire.LinkKind.PROBE, wire.MAGIC, wire.LINK_VERSION, rid,
                                          nonce, local_address), zmq.NOBLOCK)

    def close(self) -> None:
        if self.socket is not None:
            self.sink._unregister(self.socket)
            self.socket.close(linger=0)
            self.socket = None

    def _on_readable(self, now: float) -> None:
        try:
            frames = self.socket.recv_multipart(zmq.NOBLOCK) if self.socket is not None else None
        except zmq.Again:
            return
        if frames is None:
            return
        try:
            frame = wire.decode_link(frames)
        except WireError as exc:
            self.sink._problem("error", "%s: bad probe answer: %s" % (self.endpoint, exc), exc)
            return
        self.answered(frame, now)
