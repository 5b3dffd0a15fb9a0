"""A connector: one DEALER socket driven by the pure ``ConnectorState``.

Its helpers: ``probe`` (its probe socket), ``drops`` (loop stalls, handshake failures),
``farewell`` (cleanup's linger).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import zmq

from .._core import connector as state_machine
from .._core import coalescing, wire
from .._core.linger import PingLedger
from .._core.reassembly import Reassembly
from ..exceptions import WireError
from . import peersocket, sockets
from .drops import DropWatch
from .farewell import ConnectorFarewell
from .linger import LOCAL_SESSIONS
from .monitor import ConnectionMonitor, format_address
from .peer_io import (BYE, DATA_HEADER, PING, PONG, Outgoing, Sink, deliver_packets,
                      deliver_with_parts, keep_part, packets_message, receive_batch, send_now)
from .probe import ProbeSocket

log = logging.getLogger("snakezmq.link")
DRAIN_BATCHES = 64  #: receive batches read from a DEALER whose connection dropped, at most


def new_nonce() -> bytes:
    return os.urandom(wire.NONCE_BYTES)


class Connector:
    """Connects to one endpoint, keeps one session at a time, reconnects forever."""

    def __init__(self, sink: Sink, endpoint: str, reconnect_interval: float,
                 routing_id: Callable[[], Tuple[bytes, bool]], security: Optional[object] = None) -> None:
        self.sink = sink
        self.endpoint = endpoint
        self.security = security
        self._routing_id = routing_id  # () -> (rid bytes, rid_is_ident)
        self.state = state_machine.ConnectorState(endpoint, reconnect_interval,
                                                  sink._new_conn_id, new_nonce)
        self.dealer: Optional[zmq.Socket[Any]] = None
        self.monitor: Optional[ConnectionMonitor] = None  #: the DEALER's, and its connection
        self.probe = ProbeSocket(sink, endpoint, security, self._probe_answered)  #: PROBEs (ident taken?)
        self.rid_is_ident = False
        self.hello_unsent = False
        self.outgoing = Outgoing()
        self.ledger = PingLedger()  #: what the listener confirmed on this DEALER (_core.linger)
        self.farewell = ConnectorFarewell(self)  #: the session while cleanup() lingers (linger.flush)
        self.drops = DropWatch(endpoint, sink)  #: loop stalls, handshake failures
        self.local_address = ""  #: "ip:port" of this side of the connection (in HELLO and PROBE)
        self.remote_address = ""  #: "ip:port" of the listener's side, as the OS reports it
        self.ends: Optional[peersocket.Ends] = None  #: the connection's OS addresses (get_socket_by_conn)
        self.parts = Reassembly()  #: packets arriving in PART pieces
        self.limit = -1  #: ZMQ_MAXMSGSIZE of the DEALER (-1: none)
        self.packets_limit_of_peer = 0  #: the largest PACKETS body the listener accepts (WELCOME)
        self._handlers: Dict[type, Callable[[Any], object]] = {
            state_machine.CreateSocket: self._create,
            state_machine.DestroySocket: self._destroy,
            state_machine.SendHello: self._send_hello,
            state_machine.SendPing: self.ping,
            state_machine.SendBye: lambda action: self.send_control(BYE),
            state_machine.OpenProbe: self._open_probe,
            state_machine.CloseProbe: lambda action: self.probe.close(),
            state_machine.Connected: self._connected,
            state_machine.Disconnected: self._disconnected,
            state_machine.Problem: lambda action: self.sink._problem(
                action.level, action.text, action.error, action.conn_id),
        }

    def start(self, now: float) -> None:
        self._run(self.state.start(now))

    def _run(self, actions: List[state_machine.Action]) -> None:
        for action in actions:
            self._handlers[type(action)](action)

    # -- sockets ----------------------------------------------------------------------

    def _create(self, action: Any = None) -> None:
        self._destroy()
        rid, self.rid_is_ident = self._routing_id()
        self.dealer = sockets.make_dealer(rid, self.state.reconnect_interval, self.security)
        self.ledger = PingLedger()
        self.limit = self.dealer.maxmsgsize = self.sink._max_message_size
        self.monitor = ConnectionMonitor(self.dealer, sockets.MONITORED_DEALER, limit=4)
        self.sink._register(self.dealer, self._on_readable)
        self.sink._register(self.monitor.socket, self._on_monitor)
        self.dealer.connect(self.endpoint)
        if self.endpoint.startswith("inproc://"):
            # inproc has no ZMTP handshake, so the monitor reports nothing: say HELLO now
            # (tick() retries while the listener's end is not bound yet).
            self._run(self.state.transport_up(time.monotonic()))

    def _destroy(self, action: Any = None) -> None:
        if self.dealer is None or self.monitor is None:
            return
        self.sink._unregister(self.dealer)
        self.sink._unregister(self.monitor.socket)
        self.monitor.close(self.dealer)
        self.dealer.close(linger=sockets.BYE_LINGER_MS)
        self.dealer = self.monitor = None
        self.local_address = self.remote_address = ""
        self.ends = None

    def _open_probe(self, action: state_machine.OpenProbe) -> None:
        rid, _ = self._routing_id()
        self.probe.open(rid, action.nonce, self.local_address)

    # -- input ------------------------------------------------------------------------

    def _on_monitor(self, now: float) -> None:
        while self.monitor is not None:  # (an action below may destroy the socket)
            next_event = self.monitor.next_event()
            if next_event is None:
                return
            event, value = next_event
            if event == zmq.EVENT_CONNECTED:
                self._connection_up(self.monitor.opened(value))
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._run(self.state.transport_up(now))
            elif event == zmq.EVENT_DISCONNECTED:
                self._read_rest(now)
                if self.monitor is None:  # what it read ended the session (BYE): socket gone
                    return
                hangup, remote = self.monitor.dropped(value)
                if not self.drops.smooth(now):
                    hangup = None  # libzmq may have timed out a connection nobody read
                self._run(self.state.transport_down(now, hangup, self.limit,
                                                    sockets.QUIET_CLOSE_AFTER, remote))
            else:
                refusal = self.drops.connector_failure(event, value, self.security is not None,
                                                       self.state.handshake_failed)
                if refusal is not None:
                    self._run(self.state.handshake_refused(refusal, time.monotonic()))

    def _read_rest(self, now: float) -> None:
        """Before the session ends: what the listener sent before the connection dropped is
        still in the DEALER (at most its receive high-water mark); it is delivered first."""
        for _ in range(DRAIN_BATCHES):
            if not receive_batch(lambda: self.dealer, self._handle, now):
                return

    def _connection_up(self, ends: Optional[peersocket.Ends]) -> None:
        """A connection is up (``ends``: its addresses, from the monitor, which holds it to see
        why it drops): for HELLO and PROBE (``local_address``), ``get_socket_by_conn`` and
        liveness (``remote_address``: its TCP data, ``_data_age``)."""
        self.ends = peersocket.connector_ends(ends, self.endpoint)
        self.local_address = format_address(self.ends.local) if self.ends is not None else ""
        self.remote_address = format_address(ends.remote) if ends is not None else ""

    def _on_readable(self, now: float) -> None:
        receive_batch(lambda: self.dealer, self._handle, now)

    def _handle(self, frames: List[bytes], now: float) -> None:
        self.state.heard(now)
        try:
            frame = wire.decode_link(frames)
        except WireError as exc:
            self.sink._problem("error", "%s: %s" % (self.endpoint, exc), exc, self.state.conn_id)
            return
        kind, state = frame.kind, self.state
        if kind is wire.LinkKind.DATA:
            if state.conn_id is not None and self.parts.pending:
                deliver_with_parts(self.sink, self.parts, state.conn_id, frame.body)
            elif state.conn_id is not None:
                self.sink._received(state.conn_id, *frame.body)
        elif kind is wire.LinkKind.PACKETS:
            if state.conn_id is not None:
                deliver_packets(self.sink, self.parts, state.conn_id, frame.body[0], self.endpoint)
        elif kind is wire.LinkKind.PART:
            if state.conn_id is not None:
                keep_part(self.sink, self.parts, state.conn_id, frame.body[0], self.endpoint)
        elif kind is wire.LinkKind.WELCOME:
            self.packets_limit_of_peer = frame.fields[2] or 0
            self._run(state.welcome(frame.fields[1], now, frame.fields[0]))
        elif kind is wire.LinkKind.PING:
            self.send_control(PONG)
        elif kind is wire.LinkKind.PONG:
            self.ledger.pong_received()
        elif kind is wire.LinkKind.BYE:
            self._run(state.bye(now))
        elif kind is wire.LinkKind.RESET:
            self._run(state.reset(now))
        elif kind is wire.LinkKind.REFUSE:
            self._run(state.refused(frame.fields[0], frame.fields[1], now))
        else:
            error = WireError("%s frame is not valid towards a connector" % kind.name)
            self.sink._problem("error", "%s: %s" % (self.endpoint, error), error, state.conn_id)

    def _probe_answered(self, frame: wire.LinkFrame, now: float) -> None:
        if frame.kind is wire.LinkKind.PROBED:
            rid, _ = self._routing_id()
            self._run(self.state.probed(frame.fields[0], frame.fields[1],
                                        rid.decode("utf-8", "replace"), now, self.local_address))
        elif frame.kind is wire.LinkKind.REFUSE:  # e.g. CurveZMQ: our key may not use this ident
            self._run(self.state.refused(frame.fields[0], frame.fields[1], now))

    # -- output -----------------------------------------------------------------------

    def _send_hello(self, action: Any = None) -> None:
        header = wire.encode_link(wire.LinkKind.HELLO, wire.MAGIC, wire.LINK_VERSION,
                                  self.state.nonce, self.rid_is_ident, self.local_address,
                                  coalescing.accepted_limit(self.limit))
        self.hello_unsent = not self.send_control(header)

    def send_control(self, header: bytes) -> bool:
        if self.dealer is None:
            return False
        return send_now(self.dealer, [header])

    def ping(self, action: Any = None) -> bool:
        if not self.send_control(PING):
            return False
        self.ledger.ping_sent()
        return True

    def send(self, conn_id: str, *body: bytes, header: bytes = DATA_HEADER) -> None:
        """One DATA message: a packet, or a packet and its detached payload (PART_HEADER: a
        leading piece of a packet)."""
        if conn_id != self.state.conn_id or self.dealer is None:
            raise KeyError(conn_id)
        self.outgoing.send(self.dealer, conn_id, [header, *body], self.sink, self.ledger)

    def send_packets(self, conn_id: str, packets: List[bytes]) -> None:
        """The packets as one PACKETS message (one DATA for one packet); one ``_sent`` each."""
        if conn_id != self.state.conn_id or self.dealer is None:
            raise KeyError(conn_id)
        self.outgoing.send(self.dealer, conn_id, packets_message(packets), self.sink, self.ledger,
                           [len(packet) for packet in packets])

    def packets_limit(self, conn_id: str) -> int:
        """The largest PACKETS body the listener accepts (0: none)."""
        return self.packets_limit_of_peer if conn_id == self.state.conn_id else 0

    def _connected(self, action: state_machine.Connected) -> None:
        LOCAL_SESSIONS.started(self.state.nonce)
        self.sink._connected(action.conn_id, self)

    def _disconnected(self, action: state_machine.Disconnected) -> None:
        self.outgoing.forget(action.conn_id)
        self.parts.forget(action.conn_id)
        log.info("disconnect %s (%s)", action.conn_id, self.endpoint)
        self.sink._disconnected(action.conn_id)

    def peer_socket(self, conn_id: str) -> peersocket.PeerSocket:
        """What ``link.get_socket_by_conn(conn_id)`` returns; KeyError if not this session."""
        if conn_id != self.state.conn_id:
            raise KeyError(conn_id)
        return peersocket.PeerSocket(conn_id, True, self.endpoint, self.ends,
                                     getattr(self.security, "server_public_key", None))

    def peer_ident(self, conn_id: str) -> Optional[str]:
        return None  # a listener announces its ident in Messaging's IDENT only

    def data_age(self, conn_id: str) -> Optional[float]:
        """Seconds since TCP data from the listener arrived (None: unknown)."""
        return self._data_age() if conn_id == self.state.conn_id else None

    def _data_age(self) -> Optional[float]:
        """Read on the monitor's hold of the connection (``_connection_up``'s address)."""
        return self.monitor.data_age(self.remote_address) if self.monitor is not None else None

    def close_conn(self, conn_id: str, now: float) -> None:
        if conn_id != self.state.conn_id:
            raise KeyError(conn_id)
        self._run(self.state.close(now))

    def tick(self, now: float) -> None:
        self.drops.passed(now)
        if self.monitor is not None:
            self.monitor.prune_every(now)
        if self.hello_unsent and self.state.phase is state_machine.Phase.HELLO_SENT:
            self._send_hello()
        conn_id = self.state.conn_id
        if conn_id is not None and self.outgoing and self.dealer is not None:
            self.outgoing.flush(self.dealer, conn_id, self.sink, self.ledger)
        self._run(self.state.tick(now, self._data_age))

    def next_deadline(self) -> float:
        if self.hello_unsent or self.outgoing:
            return 0.0
        return self.state.next_deadline()

    def close(self, now: float) -> None:
        """Say BYE, end the session, close the sockets (no reconnect)."""
        actions = self.state.close(now)
        try:
            self._run([a for a in actions if not isinstance(a, state_machine.DestroySocket)])
        finally:  # a raising on_disconnect must not leak the sockets
            self.probe.close()
            self._destroy()
