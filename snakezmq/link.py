"""Link: snakemq's connection keeper, on ZeroMQ ROUTER (listener) and DEALER (connector).

Not thread-safe, as in snakemq: other threads may only call ``wakeup_poll()``
and ``stop()``. Callbacks run in the thread that runs ``loop()``.
"""
from __future__ import annotations

import logging
import socket
import time
from typing import Any, Dict, Optional, Tuple, Union

from ._core import endpoints
from ._stack import LinkStack
from ._transport.connections import Connections
from ._transport.peersocket import PeerSocket
from .callbacks import Callback
from .exceptions import SendNotFinished as SendNotFinished  # snakemq compatibility: re-exported
from .exceptions import SSLNotSupported
from .security import CurveConfig

RECONNECT_INTERVAL = 3.0
POLL_TIMEOUT = 0.2
#: seconds cleanup() may wait for peers to confirm the data sent to them (``Link.linger``)
LINGER = 5.0

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
    """Keeper of connections: listeners, connectors and their sessions.

    A facade: the sockets, the poll loop and the sessions live in
    ``snakezmq._transport`` (``Connections`` and its ``Loop``).
    """

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

        self._connections = Connections(self)
        self._loop = self._connections.loop
        #: what the layers above use beyond snakemq's API (``snakezmq._stack.LinkStack``)
        self.stack: LinkStack = self._connections
        self._cleaned_up = False

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
        if key in self._connections.connectors:
            raise ValueError("connector %r already set" % (key,))
        self._connections.add_connector(key, endpoint, reconnect_interval or self.reconnect_interval,
                                        ssl_config)
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
        self._connections.send_gathered()
        self._connections.connectors.pop(address).close(time.monotonic())

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
        if address in self._connections.listeners:
            raise ValueError("listener %r already set" % (address,))
        listener = self._connections.add_listener(endpoint, ssl_config)
        key: Address = listener.endpoint
        if isinstance(address, tuple):
            key = endpoints.tcp_address(listener.endpoint)
        self._connections.listeners[key] = listener
        self.log.debug("add_listener %r", key)
        return key

    def del_listener(self, address: Address) -> None:
        """Stop listening; sessions accepted on it end (ZeroMQ closes them with the socket)."""
        self._connections.send_gathered()
        self._connections.listeners.pop(address).close(time.monotonic())

    # -- connections --------------------------------------------------------------------

    def send(self, conn_id: str, data: bytes) -> None:
        """Queue ``data`` as one message on ``conn_id``; ``on_ready_to_send`` follows.

        Raises ``KeyError`` for an unknown conn_id (as snakemq). Sent from a callback (the
        loop's thread), a small packet goes at the end of the loop pass, together with the
        others sent to that connection (one ZeroMQ message; ``_core.coalescing``).
        """
        self._connections.send(conn_id, data)

    def get_socket_by_conn(self, conn: str) -> PeerSocket:
        """Connection ``conn``'s ``getpeername()``, ``getsockname()``, ``getpeercert()`` (None)
        and, beyond snakemq, the peer's ``curve_public_key``. KeyError for an unknown conn id.
        (The parameter is named ``conn`` as in snakemq.)"""
        return self._connections.peer_socket(conn)

    def close(self, conn_id: str) -> None:
        """End a connection; both sides get ``on_disconnect``. A connector reconnects later."""
        self._connections.close(conn_id)

    def wakeup_poll(self) -> None:
        """Thread-safe: make a blocked ``loop()`` poll return at once."""
        self._loop.wake()

    def stop(self) -> None:
        """Interrupt the loop (from a callback or another thread). No cleanup."""
        self._loop.stop()

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
        try:
            self._connections.close_all(self.linger)  # all, even if a user on_disconnect raises
        finally:
            self._loop.close()
            self._cleaned_up = True

    def loop(self, poll_timeout: Optional[float] = POLL_TIMEOUT, count: Optional[int] = None,
             runtime: Optional[float] = None) -> None:
        """Run the communication loop.

        :param poll_timeout: seconds one poll may block (None: until something happens)
        :param count: return after this many polls that had events (None: no limit)
        :param runtime: return after about this many seconds (None: no limit)
        """
        self._loop.run(poll_timeout, count, runtime)

    # -- driving the loop from another event loop (snakezmq.asyncio) -----------------------

    def poll_fds(self) -> Dict[int, object]:
        """The descriptors an outside event loop must watch for reading, each with the
        socket it belongs to (a new socket may get a closed one's number: watch it anew).

        ZeroMQ's descriptors are edge-triggered: after a ``run_once`` that returned False
        they signal anything new; after one that returned True, run another pass first.
        """
        return self._loop.descriptors()

    def next_timeout(self) -> Optional[float]:
        """Seconds until a pass is due even if nothing becomes readable (None: never)."""
        return self._loop.next_timeout()

    def run_once(self, timeout: float = 0.0) -> bool:
        """One loop pass whose poll waits at most ``timeout`` seconds (0: never blocks), as
        ``loop()`` runs them; for a driver in another event loop (``snakezmq.asyncio``).

        Returns True when another pass is due at once (more to read, or work pending).
        Callbacks run in this thread; their exceptions propagate, as from ``loop()``.
        """
        if self._cleaned_up:
            return False
        more = self._loop.run_outside(timeout)
        return more and not self._cleaned_up  # (a callback may have cleaned up)
