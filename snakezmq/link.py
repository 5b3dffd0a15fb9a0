"""Link: snakemq's connection keeper, on ZeroMQ ROUTER (listener) and DEALER (connector).

Not thread-safe, as in snakemq: other threads may only call ``wakeup_poll()``
and ``stop()``. Callbacks run in the thread that runs ``loop()``.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import zmq

from ._core import endpoints, ratelimit
from ._transport import linger, sockets
from ._transport.connector import PROBE_PREFIX, Connector
from ._transport.listener import Listener
from ._transport.peer_io import PART_HEADER
from ._transport.peersocket import PeerSocket
from ._transport.wakeup import Wakeup
from .callbacks import Callback
from .exceptions import SendNotFinished as SendNotFinished  # snakemq compatibility: re-exported
from .exceptions import SSLNotSupported
from .security import CurveConfig

RECONNECT_INTERVAL = 3.0
POLL_TIMEOUT = 0.2
#: seconds cleanup() may wait for peers to confirm the data sent to them (``Link.linger``)
LINGER = 5.0
MIN_POLL_TIMEOUT = 0.002  # pending work (full queues) is retried at least this often
AUTO_RID_PREFIX = b"~szmq-link-"

Address = Union[Tuple[str, int], str]

SSL_MESSAGE = (
    "snakezmq does not speak TLS, and it never falls back to plaintext. ZeroMQ's "
    "encryption and authentication is CurveZMQ: make keys with zmq.auth.create_certificates() "
    "(snakezmq keys keys client), then replace the SSLConfig with these two lines:\n"
    "    curve = snakezmq.security.CurveConfig.from_files(%s)\n"
    "    link.%s(address, ssl_config=curve)\n"
    "(see the README's Security section).")
#: ``from_files`` arguments shown in SSL_MESSAGE, for each side
SSL_LISTENER_ARGS = '"keys/server.key_secret", allowed_clients_dir="keys/clients"'
SSL_CONNECTOR_ARGS = '"keys/clients/client.key_secret", server_public_file="keys/server.key"'


class SSLConfig:
    """snakemq's SSL settings container, kept so imports work; using it raises ``SSLNotSupported``."""

    def __init__(self, keyfile: Any = None, certfile: Any = None, cert_reqs: Any = None,
                 ssl_version: Any = None, ca_certs: Any = None) -> None:
        self.keyfile = keyfile
        self.certfile = certfile
        self.cert_reqs = cert_reqs
        self.ssl_version = ssl_version
        self.ca_certs = ca_certs


def _refuse_ssl(ssl_config: Any, listening: bool) -> None:
    if isinstance(ssl_config, SSLConfig):
        raise SSLNotSupported(SSL_MESSAGE % ((SSL_LISTENER_ARGS, "add_listener") if listening
                                             else (SSL_CONNECTOR_ARGS, "add_connector")))
    if ssl_config is not None and not isinstance(ssl_config, CurveConfig):
        raise TypeError("ssl_config must be a snakezmq.security.CurveConfig or None, not %s"
                        % type(ssl_config).__name__)


def _curve(ssl_config: Optional[CurveConfig], endpoint: str, listening: bool) -> Optional[CurveConfig]:
    if ssl_config is not None:
        ssl_config.check_usable(endpoint, listening)  # never plaintext by surprise
    return ssl_config


class Link:
    """Keeper of connections: listeners, connectors and their sessions."""

    def __init__(self) -> None:
        self.log = logging.getLogger("snakezmq.link")
        self.reconnect_interval = RECONNECT_INTERVAL  #: in seconds
        #: seconds ``cleanup()`` may wait for peers to confirm what they were sent (0: none)
        self.linger = LINGER

        self.on_connect = Callback()  #: ``func(conn_id)``
        self.on_disconnect = Callback()  #: ``func(conn_id)``
        self.on_recv = Callback()  #: ``func(conn_id, data)``
        #: ``func(conn_id, last_send_size)``: ``data`` of one ``send()`` went to ZeroMQ
        self.on_ready_to_send = Callback()
        self.on_loop_pass = Callback()  #: ``func()``, after every poll
        #: ``func(conn_id, exception)``: a peer misbehaved or refused us (conn_id may be None)
        self._on_error = Callback()
        #: ``func(conn_id, packet, payload)``: a packet whose payload came as a frame of its own
        #: (the Packeter's; without a subscriber, ``on_recv`` gets ``packet + payload``)
        self._on_recv_detached = Callback()

        self._do_loop = False
        #: held by the thread running loop(): another thread may use the sockets only when it is free
        self._loop_lock = threading.RLock()
        self._loop_thread: Optional[int] = None
        self._wake_soon = False  #: the loop thread asked for another pass without blocking
        #: more ``func() -> monotonic time`` the poll must not sleep past (a Throttle's next release)
        self._deadline_sources: List[Callable[[], float]] = []
        self._conn_counter = 0
        self._poller = zmq.Poller()
        self._handlers: Dict[Any, Callable[[float], None]] = {}
        self._wakeup = Wakeup()
        self._register(self._wakeup.fileno(), lambda now: self._wakeup.drain())
        self._listeners: Dict[Any, Listener] = {}
        self._connectors: Dict[Any, Connector] = {}
        self._owner_by_conn: Dict[str, Any] = {}
        self._ready_to_send: List[Tuple[str, int]] = []
        self._routing_id: Optional[bytes] = None
        self._max_message_size = -1  #: set by the Packeter (ZMQ_MAXMSGSIZE of new sockets)
        self._cleaned_up = False
        self._problem_limit = ratelimit.RateLimit()  #: used by _problem

    # -- connectors and listeners -----------------------------------------------------

    def add_connector(self, address: Address, reconnect_interval: Optional[float] = None,
                      ssl_config: Any = None) -> Address:
        """Connect to ``address`` (and keep reconnecting); returns the key for ``del_connector``.

        ``address`` is ``(host, port)`` or a ZeroMQ endpoint (``tcp://``,
        ``ipc://``, ``inproc://``). Host names are resolved on every connection
        attempt, so a host that does not resolve yet is retried, not an error.

        ``ssl_config``: None (plaintext) or a ``snakezmq.security.CurveConfig`` with
        this side's keys and ``server_public_key``: the connection is encrypted and
        authenticated with CurveZMQ, and this Messaging's ident must be one the
        listener allows for this key. snakemq's ``SSLConfig`` raises ``SSLNotSupported``.
        """
        _refuse_ssl(ssl_config, listening=False)
        endpoint = endpoints.to_endpoint(address, listening=False)
        ssl_config = _curve(ssl_config, endpoint, listening=False)
        key = self._connector_key(address)
        if key in self._connectors:
            raise ValueError("connector %r already set" % (key,))
        connector = Connector(self, endpoint, reconnect_interval or self.reconnect_interval,
                              self._connector_routing_id, ssl_config)
        self._connectors[key] = connector
        connector.start(time.monotonic())
        return key

    def _connector_key(self, address: Address) -> Address:
        if isinstance(address, str):
            return address
        try:
            return socket.gethostbyname(address[0]), address[1]
        except (socket.gaierror, UnicodeError):
            self.log.warning("host %r does not resolve yet; will keep trying to connect to %r",
                             address[0], address)
            return address

    def del_connector(self, address: Address) -> None:
        self._connectors.pop(address).close(time.monotonic())

    def add_listener(self, address: Address, ssl_config: Any = None) -> Address:
        """Listen on ``address``; returns the real address (port 0 picks a free port).

        ``ssl_config``: None (plaintext) or a ``snakezmq.security.CurveConfig`` with
        this side's keys and ``allowed_clients``: only those client keys can connect
        (CurveZMQ, checked by a ZAP handler that runs while a secure listener exists),
        each only with the ident(s) bound to its key. snakemq's ``SSLConfig`` raises
        ``SSLNotSupported``.
        """
        _refuse_ssl(ssl_config, listening=True)
        if isinstance(address, tuple) and len(address) == 2 and \
                isinstance(address[0], str) and address[0] not in endpoints.ALL_INTERFACES:
            address = (socket.gethostbyname(address[0]), address[1])
        endpoint = endpoints.to_endpoint(address, listening=True)
        ssl_config = _curve(ssl_config, endpoint, listening=True)
        if address in self._listeners:
            raise ValueError("listener %r already set" % (address,))
        listener = Listener(self, endpoint, ssl_config)
        key: Address = listener.endpoint
        if isinstance(address, tuple):
            key = endpoints.tcp_address(listener.endpoint)
        self._listeners[key] = listener
        self.log.debug("add_listener %r", key)
        return key

    def del_listener(self, address: Address) -> None:
        """Stop listening; sessions accepted on it end (ZeroMQ closes them with the socket)."""
        self._listeners.pop(address).close(time.monotonic())

    # -- connections --------------------------------------------------------------------

    def send(self, conn_id: str, data: bytes) -> None:
        """Queue ``data`` as one message on ``conn_id``; ``on_ready_to_send`` follows.

        Raises ``KeyError`` for an unknown conn_id (as snakemq).
        """
        self._owner_by_conn[conn_id].send(conn_id, data)

    def _send_detached(self, conn_id: str, packet: bytes, payload: bytes) -> None:
        """Like ``send(conn_id, packet + payload)``, but ``payload`` goes as a frame of its
        own, without being copied (the Packeter's path for large messages)."""
        self._owner_by_conn[conn_id].send(conn_id, packet, payload)

    def get_socket_by_conn(self, conn: str) -> PeerSocket:
        """Connection ``conn``'s ``getpeername()``, ``getsockname()``, ``getpeercert()`` (None)
        and, beyond snakemq, the peer's ``curve_public_key``. KeyError for an unknown conn id.
        (The parameter is named ``conn`` as in snakemq.)"""
        peer: PeerSocket = self._owner_by_conn[conn].peer_socket(conn)
        return peer

    def _send_part(self, conn_id: str, chunk: bytes) -> None:
        """Send a leading piece of a packet: the peer's Link keeps it and puts it in front of
        the next ``send`` on this connection (a Throttle's chunks; docs/protocol.md)."""
        self._owner_by_conn[conn_id].send(conn_id, chunk, header=PART_HEADER)

    def close(self, conn_id: str) -> None:
        """End a connection; both sides get ``on_disconnect``. A connector reconnects later."""
        self._owner_by_conn[conn_id].close_conn(conn_id, time.monotonic())

    def wakeup_poll(self) -> None:
        """Thread-safe: make a blocked ``loop()`` poll return at once."""
        if self._loop_thread == threading.get_ident():
            self._wake_soon = True  # called from a callback: the next poll must not block
        else:
            self._wakeup.wake()

    def stop(self) -> None:
        """Interrupt the loop (from a callback or another thread). No cleanup."""
        self._do_loop = False
        self._wakeup.wake()

    def cleanup(self) -> None:
        """Close all connections, connectors and listeners (``on_disconnect`` for each).

        Like a TCP close, what was sent is not thrown away: first every peer that may
        not have all its data yet is asked to confirm (a PING after it; its PONG means
        the peer's application got everything before), waiting at most ``linger``
        seconds in all. No callback runs meanwhile; data that arrives is discarded.
        Peers in this process are not waited for. So the process may exit right after.
        """
        if self._cleaned_up:
            return
        first_error: Optional[BaseException] = None
        owners: List[Any] = [self._connectors.pop(key) for key in list(self._connectors)]
        owners += [self._listeners.pop(key) for key in list(self._listeners)]
        linger.flush(owners, self.linger)
        now = time.monotonic()
        for owner in owners:  # close everything even if a user on_disconnect raises
            try:
                owner.close(now)
            except Exception as exc:
                first_error = first_error or exc
        self._unregister(self._wakeup.fileno())
        self._wakeup.close()
        self._cleaned_up = True
        linger.release_zero_copy(owners)
        if first_error is not None:
            raise first_error

    # -- the loop ---------------------------------------------------------------------------

    def loop(self, poll_timeout: Optional[float] = POLL_TIMEOUT, count: Optional[int] = None,
             runtime: Optional[float] = None) -> None:
        """Run the communication loop.

        :param poll_timeout: seconds one poll may block (None: until something happens)
        :param count: return after this many polls that had events (None: no limit)
        :param runtime: return after about this many seconds (None: no limit)
        """
        with self._loop_lock:
            outer_thread, self._loop_thread = self._loop_thread, threading.get_ident()
            self._do_loop = True
            start = time.monotonic()
            try:
                while self._do_loop and count != 0:
                    timeout = float("inf") if poll_timeout is None else poll_timeout
                    if runtime is not None:
                        left = runtime - (time.monotonic() - start)
                        if left < 0:
                            break
                        timeout = min(timeout, left)
                    if self._run_once(timeout) and count is not None:
                        count -= 1
            finally:
                self._do_loop = False
                self._loop_thread = outer_thread

    # -- driving the loop from another event loop (snakezmq.asyncio) -----------------------

    def poll_fds(self) -> Dict[int, object]:
        """The descriptors an outside event loop must watch for reading, each with the
        socket it belongs to (a new socket may get a closed one's number: watch it anew).

        ZeroMQ's descriptors are edge-triggered: after a ``run_once`` that returned False
        they signal anything new; after one that returned True, run another pass first.
        """
        return sockets.poll_descriptors(self._poller)

    def next_timeout(self) -> Optional[float]:
        """Seconds until a pass is due even if nothing becomes readable (None: never)."""
        if self._ready_to_send or self._wake_soon:
            return 0.0
        deadline = self._next_deadline()
        if deadline == float("inf"):
            return None
        return max(MIN_POLL_TIMEOUT, deadline - time.monotonic())

    def run_once(self, timeout: float = 0.0) -> bool:
        """One loop pass whose poll waits at most ``timeout`` seconds (0: never blocks), as
        ``loop()`` runs them; for a driver in another event loop (``snakezmq.asyncio``).

        Returns True when another pass is due at once (more to read, or work pending).
        Callbacks run in this thread; their exceptions propagate, as from ``loop()``.
        """
        if self._cleaned_up:
            return False
        with self._loop_lock:
            outer_thread, self._loop_thread = self._loop_thread, threading.get_ident()
            try:
                self._run_once(timeout, floor=min(timeout, MIN_POLL_TIMEOUT))
            finally:
                self._loop_thread = outer_thread
            if self._cleaned_up:  # a callback cleaned up
                return False
            return self._wake_soon or bool(self._ready_to_send) or sockets.readable(self._poller)

    def _run_if_idle(self, action: Callable[[], None]) -> bool:
        """Run ``action`` now if this thread may use the sockets: no other thread is in
        ``loop()``. Lets ``send_message`` send a backlog before the loop runs (pipelining)."""
        if not self._loop_lock.acquire(blocking=False):
            return False
        try:
            if not self._cleaned_up:
                action()
        finally:
            self._loop_lock.release()
        return True

    def _run_once(self, poll_timeout: float, floor: float = MIN_POLL_TIMEOUT) -> bool:
        now = time.monotonic()
        if self._ready_to_send or self._wake_soon:
            self._wake_soon = False
            timeout = 0.0
        else:
            timeout = max(floor, min(poll_timeout, self._next_deadline() - now))
        # (timeout >= 0: pyzmq would int() a float too; infinite: block until something happens)
        ready = self._poller.poll(None if timeout == float("inf") else int(timeout * 1000))
        now = time.monotonic()
        for sock, _ in ready:
            handler = self._handlers.get(sock)
            if handler is not None:  # an earlier handler may have closed it
                handler(now)
        for owner in list(self._connectors.values()) + list(self._listeners.values()):
            owner.tick(now)
        self._wake_soon = False  # what callbacks queued so far is flushed by on_loop_pass now
        self._notify_ready_to_send()
        self.on_loop_pass()
        if self._ready_to_send:  # what on_loop_pass sent, reported now rather than after a poll
            self._notify_ready_to_send()
        return bool(ready)

    def _next_deadline(self) -> float:
        deadlines = [owner.next_deadline() for owner in self._connectors.values()]
        deadlines += [owner.next_deadline() for owner in self._listeners.values()]
        deadlines += [source() for source in self._deadline_sources]
        return min(deadlines, default=float("inf"))

    def _notify_ready_to_send(self) -> None:
        ready, self._ready_to_send = self._ready_to_send, []
        for conn_id, size in ready:
            if conn_id in self._owner_by_conn:
                self.on_ready_to_send(conn_id, size)

    # -- what endpoints report (the transport's Sink) ------------------------------------------

    def _new_conn_id(self) -> str:
        self._conn_counter += 1
        return "%dzmq" % self._conn_counter

    def _register(self, sock: Any, handler: Callable[[float], None]) -> None:
        self._poller.register(sock, zmq.POLLIN)
        self._handlers[sock] = handler

    def _unregister(self, sock: Any) -> None:
        if self._handlers.pop(sock, None) is not None:
            self._poller.unregister(sock)

    def _connected(self, conn_id: str, owner: Any) -> None:
        self._owner_by_conn[conn_id] = owner
        self.log.info("connect %s", conn_id)
        self.on_connect(conn_id)

    def _disconnected(self, conn_id: str) -> None:
        if self._owner_by_conn.pop(conn_id, None) is not None:
            self.on_disconnect(conn_id)

    def _received(self, conn_id: str, data: bytes, payload: Optional[bytes] = None) -> None:
        if payload is None:
            self.on_recv(conn_id, data)
        elif self._on_recv_detached.callbacks:
            self._on_recv_detached(conn_id, data, payload)
        else:
            self.on_recv(conn_id, data + payload)

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
            self.log.log(levelno, "%s", text)
            return
        left_out = self._problem_limit.allow((conn_id, levelno, type(error).__name__), time.monotonic())
        if left_out is None:
            self.log.debug("%s", text)
        else:
            self.log.log(levelno, "%s%s", text, ratelimit.suffix(left_out))
        self._on_error(conn_id, error)

    # -- hand-offs to the layers above ------------------------------------------------------------

    def _set_routing_id(self, ident: str) -> None:
        """Messaging's ident becomes the connectors' ZeroMQ routing id (the one upward hand-off)."""
        rid = ident.encode("utf-8")
        usable = 0 < len(rid) <= 255 and not rid.startswith((b"\x00", PROBE_PREFIX, AUTO_RID_PREFIX))
        self._routing_id = rid if usable else None

    def _set_max_message_size(self, size: int) -> None:
        """The Packeter's limit (plus header room) becomes ZMQ_MAXMSGSIZE of sockets made from now on."""
        self._max_message_size = size

    def _connector_routing_id(self) -> Tuple[bytes, bool]:
        if self._routing_id is not None:
            return self._routing_id, True
        return sockets.random_routing_id(AUTO_RID_PREFIX), False

    def _peer_ident(self, conn_id: str) -> Optional[str]:
        """The ident a connector announced as its routing id (listener side), else None."""
        owner = self._owner_by_conn.get(conn_id)
        return owner.peer_ident(conn_id) if owner is not None else None
