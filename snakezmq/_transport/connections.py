"""A Link's connectors, listeners and connections: what they report, and what the layers above use.

``Connections`` is the ``Sink`` every listener and connector reports to
(``peer_io.Sink``): connections up and down, data, sends done, problems. It
turns those into the Link's callbacks, looked up at call time (user code may
replace them). It is also ``link.stack`` (``snakezmq._stack.LinkStack``) and
the work of the Link's ``Loop`` pass.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._core import ratelimit
from .._core.coalescing import Coalescer
from ..callbacks import Callback
from . import linger, sockets
from .connector import Connector
from .listener import Listener
from .loop import Loop
from .peer_io import PART_HEADER
from .peersocket import PeerSocket
from .probe import PROBE_PREFIX

AUTO_RID_PREFIX = b"~szmq-link-"  #: routing ids of connectors without a Messaging ident


class Connections:
    """Sessions of one Link, by conn id; its listeners and connectors, by the Link's keys."""

    def __init__(self, link: Any) -> None:
        self._link = link  #: the Link: ``log`` and the callbacks on_connect, on_recv, ...
        self.on_error = Callback()  #: ``func(conn_id, exception)``: a peer misbehaved or refused us
        #: ``func(conn_id, packet, payload)``: a packet whose payload came as a frame of its own
        #: (without a subscriber, the Link's ``on_recv`` gets ``packet + payload``)
        self.on_recv_detached = Callback()
        #: ``func()``: close_all() is about to close every connection (_stack.LinkStack)
        self.on_closing = Callback()
        self.loop = Loop(self)
        self.loop.deadline_sources.append(self._owners_deadline)
        self.listeners: Dict[Any, Listener] = {}
        self.connectors: Dict[Any, Connector] = {}
        self._owner_by_conn: Dict[str, Any] = {}
        self._conn_counter = 0
        self._ready_to_send: List[Tuple[str, int]] = []
        #: small packets the loop's thread sent, sent together at the end of the pass
        self._gathered = Coalescer()
        self._routing_id: Optional[bytes] = None
        self._max_message_size = -1  #: ZMQ_MAXMSGSIZE of new sockets (set_max_message_size)
        self._problem_limit = ratelimit.RateLimit()  #: log lines of _problem

    # -- what the Link does ---------------------------------------------------------------

    def add_connector(self, key: Any, endpoint: str, reconnect_interval: float,
                      security: Optional[object]) -> None:
        connector = Connector(self, endpoint, reconnect_interval, self._connector_routing_id, security)
        self.connectors[key] = connector
        connector.start(time.monotonic())

    def add_listener(self, endpoint: str, security: Optional[object]) -> Listener:
        return Listener(self, endpoint, security)

    def send(self, conn_id: str, data: bytes) -> None:
        """From the loop's thread (a callback), a small packet goes at the end of the pass,
        with the others sent to that connection (one ZeroMQ message; ``_core.coalescing``)."""
        owner = self._owner_by_conn[conn_id]
        if self.loop.in_loop_thread() and self._gather(conn_id, data):
            return
        self._send_gathered(conn_id)
        owner.send(conn_id, data)

    def _gather(self, conn_id: str, data: bytes) -> bool:
        """Keep ``data`` for the end of the pass; False if it must go now."""
        if self._gathered.add(conn_id, data):
            return True
        if not self._gathered.has(conn_id):
            return False
        self._send_gathered(conn_id)  # full: what it has goes, then it gathers anew
        return self._gathered.add(conn_id, data)

    def _send_gathered(self, conn_id: str) -> None:
        """Send what was gathered for ``conn_id`` (before anything else goes to it)."""
        packets = self._gathered.take(conn_id)
        if packets:
            self._owner_by_conn[conn_id].send_packets(conn_id, packets)

    def send_gathered(self) -> None:
        """Send what was gathered for every connection."""
        for conn_id in self._gathered.conn_ids():
            self._send_gathered(conn_id)

    def close(self, conn_id: str) -> None:
        self._send_gathered(conn_id)
        self._owner_by_conn[conn_id].close_conn(conn_id, time.monotonic())

    def peer_socket(self, conn_id: str) -> PeerSocket:
        peer: PeerSocket = self._owner_by_conn[conn_id].peer_socket(conn_id)
        return peer

    def close_all(self, linger_seconds: float) -> None:
        """Close every connector and listener, after waiting up to ``linger_seconds`` for peers
        to confirm what they were sent (``linger``); a raising user ``on_disconnect`` stops
        nothing (the first exception is raised at the end)."""
        first_error: Optional[BaseException] = None
        try:
            self.on_closing()  # (the layers' last words, lingered for like any data)
        except Exception as exc:
            first_error = exc
        self.send_gathered()
        owners: List[Any] = [self.connectors.pop(key) for key in list(self.connectors)]
        owners += [self.listeners.pop(key) for key in list(self.listeners)]
        linger.flush([owner.farewell for owner in owners], linger_seconds)
        now = time.monotonic()
        for owner in owners:
            try:
                owner.close(now)
            except Exception as exc:
                first_error = first_error or exc
        linger.release_zero_copy(owners)
        if first_error is not None:
            raise first_error

    # -- the loop's pass (loop.Pass) ---------------------------------------------------------

    def busy(self) -> bool:
        return bool(self._ready_to_send) or bool(self._gathered)

    def tick(self, now: float) -> None:
        for owner in list(self.connectors.values()) + list(self.listeners.values()):
            owner.tick(now)

    def passed(self) -> None:
        self.send_gathered()
        self._notify_ready_to_send()
        self._link.on_loop_pass()
        self.send_gathered()
        if self._ready_to_send:  # what on_loop_pass sent, reported now rather than after a poll
            self._notify_ready_to_send()
            self.send_gathered()  # (reported at the next pass, which does not wait)
        self._gathered.pass_over()

    def _owners_deadline(self) -> float:
        deadlines = [owner.next_deadline() for owner in self.connectors.values()]
        deadlines += [owner.next_deadline() for owner in self.listeners.values()]
        return min(deadlines, default=float("inf"))

    def _notify_ready_to_send(self) -> None:
        ready, self._ready_to_send = self._ready_to_send, []
        for conn_id, size in ready:
            if conn_id in self._owner_by_conn:
                self._link.on_ready_to_send(conn_id, size)

    # -- what listeners and connectors report (peer_io.Sink) ------------------------------------

    def _new_conn_id(self) -> str:
        self._conn_counter += 1
        return "%dzmq" % self._conn_counter

    def _register(self, sock: Any, handler: Callable[[float], None]) -> None:
        self.loop.register(sock, handler)

    def _unregister(self, sock: Any) -> None:
        self.loop.unregister(sock)

    def _connected(self, conn_id: str, owner: Any) -> None:
        self._owner_by_conn[conn_id] = owner
        self._gathered.connected(conn_id, owner.packets_limit(conn_id))
        self._link.log.info("connect %s", conn_id)
        self._link.on_connect(conn_id)

    def _disconnected(self, conn_id: str) -> None:
        self._gathered.disconnected(conn_id)
        if self._owner_by_conn.pop(conn_id, None) is not None:
            self._link.on_disconnect(conn_id)

    def _received(self, conn_id: str, data: bytes, payload: Optional[bytes] = None) -> None:
        if payload is None:
            self._link.on_recv(conn_id, data)
        elif self.on_recv_detached.callbacks:
            self.on_recv_detached(conn_id, data, payload)
        else:
            self._link.on_recv(conn_id, data + payload)

    def _sent(self, conn_id: str, size: int) -> None:
        self._ready_to_send.append((conn_id, size))

    def _problem(self, level: str, text: str, error: Optional[Exception] = None,
                 conn_id: Optional[str] = None) -> None:
        """Log ``text`` at ``level`` ("error" or "warning") and report ``error`` to ``on_error``.

        Problems with an ``error`` are logged at most ``ratelimit.BURST`` times a minute per
        connection and error type (one key for all peers without a session): a peer flooding
        garbage gets ``on_error`` for every frame but only a few log lines, the rest at DEBUG.
        """
        levelno = logging.ERROR if level == "error" else logging.WARNING
        if error is None:
            self._link.log.log(levelno, "%s", text)
            return
        at, tail = self._problem_limit.level((conn_id, levelno, type(error).__name__), levelno,
                                             time.monotonic())
        self._link.log.log(at, "%s%s", text, tail)
        self.on_error(conn_id, error)

    def _connector_routing_id(self) -> Tuple[bytes, bool]:
        if self._routing_id is not None:
            return self._routing_id, True
        return sockets.random_routing_id(AUTO_RID_PREFIX), False

    # -- what the layers above use (snakezmq._stack.LinkStack) -----------------------------------

    def set_routing_id(self, ident: str) -> None:
        """Messaging's ident becomes the connectors' ZeroMQ routing id (the one upward hand-off)."""
        rid = ident.encode("utf-8")
        usable = 0 < len(rid) <= 255 and not rid.startswith((b"\x00", PROBE_PREFIX, AUTO_RID_PREFIX))
        self._routing_id = rid if usable else None

    def set_max_message_size(self, size: int) -> None:
        """The Packeter's limit (plus header room) becomes ZMQ_MAXMSGSIZE of sockets made from now on."""
        self._max_message_size = size

    def send_detached(self, conn_id: str, packet: bytes, payload: bytes) -> None:
        """Like ``send(conn_id, packet + payload)``, but ``payload`` goes as a frame of its
        own, without being copied (the Packeter's path for large messages)."""
        self._send_gathered(conn_id)
        self._owner_by_conn[conn_id].send(conn_id, packet, payload)

    def send_part(self, conn_id: str, chunk: bytes) -> None:
        """Send a leading piece of a packet: the peer's Link keeps it and puts it in front of
        the next ``send`` on this connection (a Throttle's chunks; docs/protocol.md)."""
        self._send_gathered(conn_id)
        self._owner_by_conn[conn_id].send(conn_id, chunk, header=PART_HEADER)

    def add_deadline_source(self, source: Callable[[], float]) -> None:
        self.loop.deadline_sources.append(source)

    def peer_ident(self, conn_id: str) -> Optional[str]:
        """The ident a connector announced as its routing id (listener side), else None."""
        owner = self._owner_by_conn.get(conn_id)
        return owner.peer_ident(conn_id) if owner is not None else None

    def data_age(self, conn_id: str) -> Optional[float]:
        """Seconds since TCP data from the peer of ``conn_id`` last arrived (None: unknown)."""
        owner = self._owner_by_conn.get(conn_id)
        return owner.data_age(conn_id) if owner is not None else None
