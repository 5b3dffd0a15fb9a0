"""Create and configure snakezmq's ZeroMQ sockets: every socket option lives here."""
from __future__ import annotations

import errno
import os
import socket
import time
from typing import Any, Dict, Optional, Tuple, Union, cast

import zmq
from zmq.utils.monitor import parse_monitor_message

from .._core.drops import Hangup

HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 4000
SNDHWM = 100000  # the outbox window bounds what is in flight; this only caps raw Link use
BYE_LINGER_MS = 300  # long enough to flush a BYE, short enough not to hold a dead peer
HEARTBEAT_TIMEOUT = HEARTBEAT_TIMEOUT_MS / 1000.0
# CONNECTED / ACCEPTED carry the new connection's descriptor (addresses, HeldConnections).
MONITORED_DEALER = (zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
# HANDSHAKE_FAILED_NO_DETAIL on listeners too: a client that saw CURVE when it has no key (or the
# reverse) hangs up, often before the listener read its greeting (the listener then only sees
# this event, with EPIPE). Every bare TCP connect (a health check) makes one too, with ECONNRESET:
# the listener ignores those (curve.peer_hung_up).
MONITORED_ROUTER = (zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


def context() -> zmq.Context[zmq.Socket[Any]]:
    """The process-wide context (pyzmq's pattern), so inproc:// works between Links."""
    return zmq.Context.instance()


def _common(sock: zmq.Socket[Any]) -> None:
    # ZMTP heartbeats make libzmq close connections to frozen or unreachable peers,
    # which frees their routing ids (a parked duplicate can then be identified).
    sock.heartbeat_ivl = HEARTBEAT_IVL_MS
    sock.heartbeat_timeout = HEARTBEAT_TIMEOUT_MS
    sock.sndhwm = SNDHWM
    sock.linger = 0


def make_router(security: Optional[object] = None) -> zmq.Socket[Any]:
    sock = context().socket(zmq.ROUTER)
    _common(sock)
    # Without ROUTER_MANDATORY a send to an unknown routing id is dropped silently.
    sock.router_mandatory = 1
    # No ROUTER_HANDOVER: a second connection with a live routing id must not
    # silently cut off the first (libzmq issue 4503); the PROBE handshake reports it.
    if security is not None:
        security.apply_server(sock)  # type: ignore[attr-defined]
    return sock


def make_dealer(routing_id: bytes, reconnect_interval: float,
                security: Optional[object] = None) -> zmq.Socket[Any]:
    sock = context().socket(zmq.DEALER)
    _common(sock)
    sock.routing_id = routing_id
    # IMMEDIATE: never queue frames for a connection that is not up, so a new
    # session never receives stale frames of the previous one.
    sock.immediate = 1
    # libzmq adds a random delay of up to one more interval to each retry: halve
    # it so retries come on average every reconnect_interval, at most 1x apart.
    sock.reconnect_ivl = max(1, int(reconnect_interval * 500))
    if security is not None:
        security.apply_client(sock)  # type: ignore[attr-defined]
    return sock


def poll_descriptors(poller: zmq.Poller) -> Dict[int, object]:
    """``{descriptor: what it belongs to}`` of a poller's sockets, for an outside event loop.

    A ZeroMQ socket's descriptor (``ZMQ_FD``) is edge-triggered: it signals new events
    only once ``readable(poller)`` found none. The owner is there so that a driver sees a
    new socket that got a closed socket's descriptor number."""
    return {owner if isinstance(owner, int) else int(owner.FD): owner for owner, _ in poller.sockets}


def readable(poller: zmq.Poller) -> bool:
    """Whether any socket of ``poller`` is readable now (never blocks). Checking every
    socket's ZMQ_EVENTS this way re-arms their edge-triggered descriptors."""
    return bool(poller.poll(0))


def random_routing_id(prefix: bytes) -> bytes:
    """A routing id nobody else uses (ids starting with a zero byte are libzmq's own)."""
    return prefix + os.urandom(8).hex().encode()


BIND_RETRY_SECONDS = 1.0


def bind(sock: zmq.Socket[Any], endpoint: str) -> str:
    """Bind and return the real endpoint (port 0 / ``*`` resolved).

    A port released by a socket closed an instant ago is freed by libzmq's I/O
    thread slightly later, so EADDRINUSE is retried briefly (snakemq re-binds at once).
    """
    deadline = time.monotonic() + BIND_RETRY_SECONDS
    while True:
        try:
            sock.bind(endpoint)
            break
        except zmq.ZMQError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    last = cast(Union[bytes, str], sock.last_endpoint)  # pyzmq types options as bytes | str | int
    return last.decode() if isinstance(last, bytes) else last


def monitor(sock: zmq.Socket[Any], events: int) -> zmq.Socket[Any]:
    return sock.get_monitor_socket(events)


def read_monitor_event(monitor_sock: zmq.Socket[Any]) -> Tuple[int, str]:
    """``(event, endpoint)`` of the next pending monitor event (NOBLOCK)."""
    event, _, endpoint = read_monitor_event_value(monitor_sock)
    return event, endpoint


def read_monitor_event_value(monitor_sock: zmq.Socket[Any]) -> Tuple[int, int, str]:
    """``(event, value, endpoint)`` of the next pending monitor event (NOBLOCK)."""
    event = parse_monitor_message(monitor_sock.recv_multipart(zmq.NOBLOCK))
    endpoint = event.get("endpoint", b"")
    return (event["event"], int(event.get("value", 0)),
            endpoint.decode("utf-8", "replace") if isinstance(endpoint, bytes) else str(endpoint))


def close(sock: zmq.Socket[Any], monitor_sock: Optional[zmq.Socket[Any]] = None, linger_ms: int = 0) -> None:
    """Close a socket and its monitor; never terminates the shared context."""
    if monitor_sock is not None:
        try:
            sock.disable_monitor()
        except zmq.ZMQError:
            pass
        monitor_sock.close(linger=0)
    sock.close(linger=linger_ms)


# -- the TCP connections behind a socket (from monitor events' descriptors) ---------------------


def format_address(address: object) -> str:
    """``"ip:port"`` (``"[ip]:port"`` for IPv6) of a socket address; "" when it has no port."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    return ""


def _dup(fd: int) -> Optional[socket.socket]:
    """A socket object on a duplicate of libzmq's descriptor ``fd``; None if it is gone or no socket."""
    try:
        copy = os.dup(fd)
    except OSError:
        return None
    try:
        return socket.socket(fileno=copy)
    except OSError:
        os.close(copy)
        return None


def _ends(sock: socket.socket) -> Tuple[str, str]:
    try:
        return format_address(sock.getsockname()), format_address(sock.getpeername())
    except OSError:
        return "", ""


def tcp_ends(fd: int) -> Tuple[str, str]:
    """``(local, remote)`` ``"ip:port"`` of libzmq's connection ``fd`` ("" each when unknown).

    The descriptor is read through a duplicate, closed at once. The event that carried
    ``fd`` may be read after libzmq closed it (and the number may be reused): callers
    check what they get (e.g. against the endpoint) and treat it as a hint.
    """
    sock = _dup(fd)
    if sock is None:
        return "", ""
    try:
        return _ends(sock)
    finally:
        sock.close()


def _identity(fd: int) -> Optional[Tuple[int, int]]:
    try:
        stat = os.fstat(fd)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _hangup(sock: socket.socket) -> Hangup:
    """What is left on a connection libzmq has dropped (see ``_core.drops``)."""
    try:
        data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return Hangup.QUIET
    except OSError:  # reset by the peer
        return Hangup.PEER
    return Hangup.MID_MESSAGE if data else Hangup.PEER


PRUNE_INTERVAL = 1.0  #: seconds between looks for duplicates of connections libzmq closed silently


class HeldConnections:
    """Duplicates of libzmq's TCP connection descriptors, kept until libzmq drops each.

    While a duplicate is open the connection stays readable after libzmq's close,
    so ``dropped`` can tell whether the peer had hung up or was still sending
    (``_core.drops``). A duplicate also keeps the connection itself open until
    it is closed: ``dropped`` (on EVENT_DISCONNECTED) closes it, ``prune``
    (for connections libzmq closed without that event) and ``close`` too.
    POSIX only; at most ``limit`` are held (later connections are not watched).
    """

    def __init__(self, limit: Optional[int] = None) -> None:
        self.enabled = os.name == "posix" and hasattr(socket, "MSG_DONTWAIT")
        self.limit = limit if limit is not None else _default_hold_limit()
        self._held: Dict[int, Tuple[socket.socket, Optional[Tuple[int, int]], str]] = {}
        self._next_prune = 0.0

    def __len__(self) -> int:
        return len(self._held)

    def opened(self, fd: int) -> Tuple[str, str]:
        """libzmq made connection ``fd``: hold a duplicate; returns its ``(local, remote)`` ends."""
        self._release(fd)  # an older connection with that number ended unannounced
        sock = _dup(fd)
        if sock is None:
            return "", ""
        ends = _ends(sock)
        if not self.enabled or len(self._held) >= self.limit or sock.type != socket.SOCK_STREAM \
                or not ends[1]:
            sock.close()
            return ends
        self._held[fd] = (sock, _identity(sock.fileno()), ends[1])
        return ends

    def dropped(self, fd: int) -> Tuple[Optional[Hangup], str]:
        """libzmq dropped connection ``fd``: ``(hangup, remote "ip:port")``; hangup None if not held."""
        held = self._held.pop(fd, None)
        if held is None:
            return None, ""
        sock, _, remote = held
        try:
            return _hangup(sock), remote
        finally:
            sock.close()

    def prune_every(self, now: float, interval: float = PRUNE_INTERVAL) -> None:
        """``prune()``, at most every ``interval`` seconds (called on every loop pass)."""
        if now >= self._next_prune:
            self._next_prune = now + interval
            self.prune()

    def prune(self) -> None:
        """Close the duplicates of connections libzmq closed without EVENT_DISCONNECTED."""
        for fd, (_, identity, _) in list(self._held.items()):
            if identity is None or _identity(fd) != identity:
                self._release(fd)

    def close(self) -> None:
        for fd in list(self._held):
            self._release(fd)

    def _release(self, fd: int) -> None:
        held = self._held.pop(fd, None)
        if held is not None:
            held[0].close()


def _default_hold_limit() -> int:
    """A share of the process's descriptor limit: holding must never starve the application."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 64
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, soft // 8))
