"""A listener: one ROUTER socket and its sessions.

Its helpers: ``hello`` (HELLO checks), ``probe`` (PROBE answers), ``drops`` (monitor
events, cut reports), ``gone`` (sessions whose connection is gone), ``farewell`` (cleanup's linger).
"""
from __future__ import annotations

import logging
import time
from typing import Any, List, Optional, Tuple

import zmq

from .._core import coalescing, wire
from .._core.linger import RidLedgers
from .._core.liveness import DEAD_AFTER
from .._core.reassembly import Reassembly
from .._core.sessions import Session, SessionTable
from ..exceptions import WireError
from . import curve, peersocket, sockets
from .drops import ListenerDrops
from .farewell import ListenerFarewell
from .gone import GoneSessions
from .hello import Hellos, sender_address
from .linger import LOCAL_SESSIONS
from .monitor import ConnectionMonitor
from .peer_io import (BYE, DATA_HEADER, PING, PONG, RESET, Outgoing, Sink, Unreachable,
                      deliver_packets, deliver_with_parts, ident_text, keep_part, packets_message,
                      receive_batch, send_now)
from .probe import ProbeAnswers

log = logging.getLogger("snakezmq.link")


class Listener:
    """Sessions on one bound ROUTER socket, reported to the Link through ``sink``."""

    def __init__(self, sink: Sink, endpoint: str, security: Optional[object] = None) -> None:
        self.sink = sink
        # CurveZMQ: the ZAP handler runs before the socket exists, so no client is ever unchecked.
        self.guard = curve.CurveGuard(security) if security is not None else None
        try:
            self.router = sockets.make_router(security)
        except BaseException:
            self._release_guard()
            raise
        self.router.maxmsgsize = sink._max_message_size  # libzmq drops a peer that sends more
        try:
            self.endpoint = sockets.bind(self.router, endpoint)
        except zmq.ZMQError:
            self.router.close(linger=0)
            self._release_guard()
            raise
        if self.guard is not None:
            self.guard.bound(self.endpoint)
        self.monitor = ConnectionMonitor(self.router, sockets.MONITORED_ROUTER)  # why drops happen
        self.sessions = SessionTable(sink._new_conn_id)
        self.outgoing = Outgoing()
        self.ledgers = RidLedgers()  #: what each peer confirmed (``_core.linger``)
        self.farewell = ListenerFarewell(self)  #: the sessions while cleanup() lingers (linger.flush)
        self.probes = ProbeAnswers(self)
        self.gone = GoneSessions(self.router, self.sessions, self._end)  #: sessions soon ended
        self.limit: int = sink._max_message_size
        self.drops = ListenerDrops(self)  #: why connections drop, and the cuts it reports
        self.hellos = Hellos(self.endpoint, sink, self.guard, self.send_control)  #: HELLO's checks and facts
        self.parts = Reassembly()  #: packets arriving in PART pieces
        sink._register(self.router, self._on_readable)
        sink._register(self.monitor.socket, self.drops.on_monitor)

    # -- input -----------------------------------------------------------------

    def _on_readable(self, now: float) -> None:
        receive_batch(lambda: self.router, self._handle, now, frame_object=1, routed=True)

    def _handle(self, frames: List[Any], now: float) -> None:
        """``frames``: the routing id and the body frames as bytes, the header frame a
        ``zmq.Frame`` (its User-Id and Peer-Address properties are read)."""
        rid = frames[0]
        # A frame with another CURVE key than its routing id's session is from a stranger
        # (a new connection that has not said HELLO): it must not act for that session.
        stranger = self.guard is not None and not self.guard.same_key(rid, frames[1])
        conn_id = None if stranger else self.sessions.heard(rid, now)
        if rid in self.probes.pending and not stranger:
            self.probes.answered(rid)
        try:
            frame = wire.decode_link([frames[1].bytes, *frames[2:]])
        except WireError as exc:
            self.sink._problem("error", "%s from %r: %s" % (self.endpoint, rid[:60], exc), exc, conn_id)
            return
        kind = frame.kind
        if kind is wire.LinkKind.DATA:
            if conn_id is None:
                self.send_control(rid, RESET)
            elif self.parts.pending:
                deliver_with_parts(self.sink, self.parts, conn_id, frame.body)
            else:
                self.sink._received(conn_id, *frame.body)
        elif kind is wire.LinkKind.PACKETS:
            if conn_id is None:
                self.send_control(rid, RESET)
            else:
                deliver_packets(self.sink, self.parts, conn_id, frame.body[0], self.endpoint)
        elif kind is wire.LinkKind.PART:
            if conn_id is None:
                self.send_control(rid, RESET)
            else:
                keep_part(self.sink, self.parts, conn_id, frame.body[0], self.endpoint)
        elif kind is wire.LinkKind.HELLO:
            self._hello(rid, frame.fields, now, sender_address(frames[1], frame.fields[4]), frames[1])
        elif kind is wire.LinkKind.PING:
            self.send_control(rid, PONG if conn_id is not None else RESET)
        elif kind is wire.LinkKind.PONG:
            if not stranger:
                self.ledgers.pong_received(rid)
        elif kind is wire.LinkKind.BYE:
            if not stranger:
                self._end(rid)
        elif kind is wire.LinkKind.PROBE:  # is its routing id held by a live peer? (``probe``)
            address = sender_address(frames[1], frame.fields[4])
            if not self.hellos.ident_refused(rid, frames[1], frame.fields[2], address):
                self.probes.received(rid, frame.fields[2], now, address)
        else:
            error = WireError("%s frame is not valid towards a listener" % kind.name)
            self.sink._problem("error", "%s from %r: %s" % (self.endpoint, rid[:60], error), error, conn_id)

    def _hello(self, rid: bytes, fields: Tuple[Any, ...], now: float, address: str,
               first: Any = None) -> None:
        if self.hellos.refused(rid, fields, first, address):
            return
        nonce, rid_is_ident = fields[2], fields[3]
        current = self.sessions.by_rid(rid)
        if current is not None and current.nonce != nonce:
            self.drops.report_cut(rid, now)  # its connection is gone: was it cut off by libzmq?
        outcome = self.sessions.hello(rid, nonce, now, address, rid_is_ident)
        if outcome.started is not None:
            self.ledgers.session_started(rid)
            LOCAL_SESSIONS.started(nonce)
        if self.guard is not None:
            self.guard.session_started(rid, first)
        self.send_control(rid, wire.encode_link(wire.LinkKind.WELCOME, wire.LINK_VERSION, nonce,
                                                 coalescing.accepted_limit(self.limit)))
        if outcome.ended is not None:
            self._disconnected(outcome.ended)
        if outcome.started is not None:
            self.hellos.started(outcome.started, fields, first)
            log.info("accept %s %r from %s", outcome.started, ident_text(rid), address or self.endpoint)
            self.sink._connected(outcome.started, self)

    def peer_socket(self, conn_id: str) -> peersocket.PeerSocket:
        """What ``link.get_socket_by_conn(conn_id)`` returns; KeyError if not a session here."""
        return self.hellos.peer_socket(conn_id)

    # -- output ---------------------------------------------------------------------

    def send(self, conn_id: str, *body: bytes, header: bytes = DATA_HEADER) -> None:
        """One DATA message: a packet, or a packet and its detached payload (PART_HEADER: a
        leading piece of a packet)."""
        self._send(conn_id, [header, *body], None)

    def send_packets(self, conn_id: str, packets: List[bytes]) -> None:
        """The packets as one PACKETS message (one DATA for one packet); one ``_sent`` each."""
        self._send(conn_id, packets_message(packets), [len(packet) for packet in packets])

    def _send(self, conn_id: str, frames: List[bytes], sizes: Optional[List[int]]) -> None:
        session = self.sessions.by_conn(conn_id)
        if session is None:
            raise KeyError(conn_id)
        try:
            self.outgoing.send(self.router, conn_id, [session.rid, *frames], self.sink,
                               self.ledgers[session.rid], sizes)
        except Unreachable:
            self.gone.found(session.rid, time.monotonic())

    def packets_limit(self, conn_id: str) -> int:
        """The largest PACKETS body the peer of ``conn_id`` accepts (0: none)."""
        return self.hellos.packets_limit(conn_id)

    def send_control(self, rid: bytes, header: bytes) -> bool:
        """Best effort: a peer whose queue is full or that is gone gets nothing."""
        try:
            send_now(self.router, [rid, header])
        except Unreachable:
            return False
        return True

    def ping(self, rid: bytes, now: float) -> bool:
        """PING ``rid``; False (and its session soon ended: ``gone``) when its connection is gone."""
        if self.reachable(rid):
            return True
        self.gone.found(rid, now)
        return False

    def reachable(self, rid: bytes) -> bool:
        """PING ``rid`` (counted in its ledger if sent); False when its connection is gone."""
        try:
            sent = send_now(self.router, [rid, PING])
        except Unreachable:
            return False
        if sent:
            self.ledgers.ping_sent(rid, self.sessions.by_rid(rid) is not None)
        return True

    # -- sessions ending -------------------------------------------------------------

    def _end(self, rid: bytes, gone_at: Optional[float] = None) -> None:
        """End ``rid``'s session; ``gone_at``: when its connection was found gone."""
        self.gone.ended(rid)
        if gone_at is not None:
            self.drops.report_cut(rid, gone_at)
        if self.guard is not None:
            self.guard.session_ended(rid)
        self.ledgers.session_ended(rid, pipe_gone=gone_at is not None)
        conn_id = self.sessions.end(rid)
        if conn_id is not None:
            self._disconnected(conn_id)

    def end_silent(self, rid: bytes) -> None:
        """End the session of a peer that stopped answering, and its TCP connection: libzmq
        then frees the routing id for the peer's next connection (nothing else would)."""
        session = self.sessions.by_rid(rid)
        if session is not None:
            self.monitor.shut(session.peer_address)
        self._end(rid)

    def _disconnected(self, conn_id: str) -> None:
        self.outgoing.forget(conn_id)
        self.hellos.forget(conn_id)
        self.parts.forget(conn_id)
        log.info("disconnect %s", conn_id)
        self.sink._disconnected(conn_id)

    def data_age(self, conn_id: str) -> Optional[float]:
        """Seconds since TCP data from the peer of ``conn_id`` arrived (None: unknown)."""
        session = self.sessions.by_conn(conn_id)
        return self._session_data_age(session) if session is not None else None

    def _session_data_age(self, session: Session) -> Optional[float]:
        """Read on the held connection to the ``ip:port`` from its HELLO (``monitor.find``)."""
        return self.monitor.data_age(session.peer_address)

    def peer_ident(self, conn_id: str) -> Optional[str]:
        """The ident a connector announced through its routing id (None if it did not)."""
        session = self.sessions.by_conn(conn_id)
        if session is None or not session.rid_is_ident:
            return None
        try:
            return session.rid.decode("utf-8")
        except UnicodeDecodeError:
            return "\ufffd"  # no valid ident can match it: Messaging refuses the peer

    def close_conn(self, conn_id: str, now: float) -> None:
        session = self.sessions.by_conn(conn_id)
        if session is None:
            raise KeyError(conn_id)
        self.send_control(session.rid, BYE)
        self._end(session.rid)

    def tick(self, now: float) -> None:
        self.drops.watch.passed(now)
        self.monitor.prune_every(now)
        for conn_id in self.outgoing.conn_ids():
            session = self.sessions.by_conn(conn_id)
            if session is None:
                self.outgoing.forget(conn_id)
                continue
            try:
                self.outgoing.flush(self.router, conn_id, self.sink, self.ledgers[session.rid])
            except Unreachable:
                self.gone.found(session.rid, now)
        to_ping, dead = self.sessions.liveness_check(now, self._session_data_age)
        for rid in to_ping:
            self.ping(rid, now)
        for rid in dead:
            log.warning("%s: peer %r silent for %.0f s, session ended", self.endpoint,
                        ident_text(rid), DEAD_AFTER)
            self.send_control(rid, BYE)
            self.end_silent(rid)
        if self.probes.pending:
            self.probes.expire(now)
        self.drops.tick(now)
        if self.gone:
            self.gone.end_drained(now)

    def next_deadline(self) -> float:
        deadlines = [self.sessions.next_deadline(), self.drops.next_deadline()]
        deadlines += self.probes.deadlines()
        deadlines += self.gone.deadlines()
        return min(deadlines, default=float("inf"))

    def close(self, now: float) -> None:
        """BYE to every session, end them all, close the sockets."""
        try:
            for session in self.sessions:
                self.send_control(session.rid, BYE)
                self._end(session.rid)
        finally:  # a raising on_disconnect must not leak the sockets
            self.sink._unregister(self.router)
            self.sink._unregister(self.monitor.socket)
            try:
                self.router.unbind(self.endpoint)  # free the port now, not when libzmq gets to it
            except zmq.ZMQError:
                pass
            self.monitor.close(self.router)
            self.router.close(linger=sockets.BYE_LINGER_MS)
            self._release_guard()

    def _release_guard(self) -> None:
        if self.guard is not None:
            self.guard.close()  # the last secure listener of the process stops the ZAP handler
