"""The peer pipes while ``cleanup()`` lingers (``_transport.linger``), for a Listener and a Connector.

``push``: send what waits for the peer, then PING it when its confirmation takes one.
``answer``: what a frame read meanwhile calls for (PONGs go to the pipe's ledger).
``ListenerFarewell`` / ``ConnectorFarewell``: a listener's sessions / a connector's session,
as ``linger.flush`` drives them (``linger.Lingering``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Protocol

import zmq

from .._core import wire
from .._core.connector import ConnectorState
from .._core.linger import Farewell, PingLedger, RidLedgers
from .._core.sessions import SessionTable
from ..exceptions import WireError
from .curve import CurveGuard
from .linger import LOCAL_SESSIONS
from .monitor import ConnectionMonitor
from .peer_io import Outgoing, Sink, Unreachable, receive_batch


def push(outgoing: Outgoing, sock: zmq.Socket[Any], conn_id: str, sink: Sink, ledger: PingLedger,
         ping: bool, send_ping: Callable[[], bool]) -> bool:
    """Send what waits for ``conn_id``, then ``send_ping()`` if due (``ping``: due anyway);
    False once there is nothing to wait for (its connection is gone, or ``send_ping`` says so)."""
    try:
        outgoing.flush(sock, conn_id, sink, ledger)
    except Unreachable:
        return False
    if outgoing.waiting(conn_id) or not (ping or ledger.ping_due):
        return True
    return send_ping()


def answer(frames: List[Any], peer: Optional[Farewell], pong: Callable[[], None]) -> Optional[bytes]:
    """The control frame to send back for ``frames`` (None: nothing). ``peer``: its Farewell,
    None if it has no session (a PING then gets RESET); a PONG is handed to ``pong``."""
    try:
        kind = wire.decode_link(frames).kind
    except WireError:
        return None
    if kind is wire.LinkKind.PONG:
        pong()
        return None
    reply = peer.frame(kind) if peer is not None else (
        wire.LinkKind.RESET if kind is wire.LinkKind.PING else None)
    return wire.encode_link(reply) if reply is not None else None


class ListenerHost(Protocol):
    """What ListenerFarewell needs of its Listener."""

    router: zmq.Socket[Any]
    sessions: SessionTable
    ledgers: RidLedgers
    outgoing: Outgoing
    sink: Sink
    guard: Optional[CurveGuard]

    def send_control(self, rid: bytes, header: bytes) -> bool:
        """Best effort: False if not sent."""

    def reachable(self, rid: bytes) -> bool:
        """PING ``rid``; False when its connection is gone."""


class ListenerFarewell:
    """A listener's sessions while ``cleanup()`` lingers."""

    def __init__(self, host: ListenerHost) -> None:
        self.host = host
        self.outgoing = host.outgoing
        self.closing: Dict[bytes, Farewell] = {}  #: the sessions' peers while cleanup() lingers

    def linger_begin(self) -> bool:
        host = self.host
        self.closing = {session.rid: Farewell(not host.ledgers.confirmed(session.rid) and
                                              not LOCAL_SESSIONS.both_ends_here(session.nonce))
                        for session in host.sessions}
        return any(peer.waiting for peer in self.closing.values())

    def linger_sockets(self) -> List[zmq.Socket[Any]]:
        return [self.host.router]

    def linger_pass(self, ping: bool) -> bool:
        receive_batch(lambda: self.host.router, self._handle, 0.0, frame_object=1, routed=True)
        for rid, peer in self.closing.items():
            peer.waiting = peer.waiting and self._push(rid, ping)
        return any(peer.waiting for peer in self.closing.values())

    def _push(self, rid: bytes, ping: bool) -> bool:
        """Send what waits for ``rid``, PING it if due; False once there is nothing to wait for."""
        host = self.host
        session = host.sessions.by_rid(rid)
        if session is None or host.ledgers.confirmed(rid):
            return False
        return push(host.outgoing, host.router, session.conn_id, host.sink,
                    host.ledgers[rid], ping, lambda: host.reachable(rid))

    def _handle(self, frames: List[Any], now: float) -> None:
        host, rid = self.host, frames[0]
        if host.guard is not None and not host.guard.same_key(rid, frames[1]):
            return
        reply = answer([frames[1].bytes, *frames[2:]], self.closing.get(rid),
                       lambda: host.ledgers.pong_received(rid))
        if reply is not None:
            host.send_control(rid, reply)


class ConnectorHost(Protocol):
    """What ConnectorFarewell needs of its Connector (its DEALER, monitor and ledger change
    with each socket it creates)."""

    state: ConnectorState
    dealer: Optional[zmq.Socket[Any]]
    monitor: Optional[ConnectionMonitor]
    ledger: PingLedger
    outgoing: Outgoing
    sink: Sink

    def send_control(self, header: bytes) -> bool:
        """Best effort: False if not sent."""

    def ping(self) -> bool:
        """PING the listener (counted in the ledger if sent)."""


class ConnectorFarewell:
    """A connector's session while ``cleanup()`` lingers."""

    def __init__(self, host: ConnectorHost) -> None:
        self.host = host
        self.outgoing = host.outgoing
        self.closing = Farewell(False)  #: the listener while cleanup() lingers

    def linger_begin(self) -> bool:
        host = self.host
        self.closing = Farewell(host.state.conn_id is not None and not host.ledger.confirmed
                                and not LOCAL_SESSIONS.both_ends_here(host.state.nonce))
        return self.closing.waiting

    def linger_sockets(self) -> List[zmq.Socket[Any]]:
        if self.host.dealer is None or self.host.monitor is None:
            return []
        return [self.host.dealer, self.host.monitor.socket]

    def linger_pass(self, ping: bool) -> bool:
        host = self.host
        receive_batch(lambda: host.dealer, self._handle, 0.0)
        while host.monitor is not None:
            next_event = host.monitor.next_event()
            if next_event is None:
                break
            event, value = next_event
            if event == zmq.EVENT_DISCONNECTED:  # what it had not read is lost with the connection
                host.monitor.dropped(value)
                self.closing.waiting = False
        closing = self.closing
        closing.waiting = closing.waiting and self._push(ping)
        return closing.waiting

    def _push(self, ping: bool) -> bool:
        """Send what waits, PING if due; False once there is nothing to wait for (a dropped
        connection is the monitor's DISCONNECTED, read by ``linger_pass``)."""
        host = self.host
        conn_id = host.state.conn_id
        if conn_id is None or host.dealer is None or host.ledger.confirmed:
            return False
        return push(host.outgoing, host.dealer, conn_id, host.sink, host.ledger, ping, self._ping)

    def _ping(self) -> bool:
        self.host.ping()  # refused at the high-water mark: again after REPING
        return True  # (a DEALER's peer is never found gone by a send)

    def _handle(self, frames: List[bytes], now: float) -> None:
        reply = answer(frames, self.closing, self.host.ledger.pong_received)
        if reply is not None:
            self.host.send_control(reply)
