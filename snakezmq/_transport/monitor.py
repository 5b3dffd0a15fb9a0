"""Socket monitors, and the TCP connections their events name, held without touching another socket.

libzmq closes a connection whose peer sends a message over ``ZMQ_MAXMSGSIZE``
and its monitor reports only ``DISCONNECTED``, as for a peer that hung up. To
tell the two apart (``_core.drops``), a ``ConnectionMonitor`` keeps a duplicate
of each connection's descriptor and looks at what is left of the connection
once libzmq dropped it; and it asks the kernel when data last arrived on a
connection (``tcpinfo``: bytes arriving are a sign of life, ``_core.liveness``).

A monitor event carries a descriptor *number*, read some time after libzmq
made the event: by then libzmq may have closed the descriptor and the number
may name another file or socket of the process. A duplicate is therefore
kept only when it is provably libzmq's connection:

- libzmq queues ``DISCONNECTED(fd)`` on the monitor before it closes ``fd``
  (``stream_engine_base_t::error``), and it never drops a monitor event (its
  send blocks while the queue is full). Our end of the monitor has RCVHWM 0, so
  that send never blocks libzmq's I/O thread either, however long the loop is away.
- So after duplicating ``fd`` for an ACCEPTED / CONNECTED event, the monitor is
  read once more: if no ``DISCONNECTED(fd)`` is queued after that event, libzmq
  had not closed ``fd`` when it was duplicated, and the duplicate is its
  connection. Otherwise the duplicate is closed unused (that connection is not watched).
"""
from __future__ import annotations

import collections
import itertools
import os
import socket
from typing import Any, Deque, Dict, NamedTuple, Optional, Tuple

import zmq
from zmq.utils.monitor import parse_monitor_message

from .._core.drops import Hangup, host_of
from . import tcpinfo

PRUNE_INTERVAL = 1.0  #: seconds between looks for connections closed without DISCONNECTED
_endpoints = itertools.count(1)


def open_monitor(sock: zmq.Socket[Any], events: int) -> zmq.Socket[Any]:
    """``sock.get_monitor_socket(events)``, with no limit on queued events (see the module docstring)."""
    address = "inproc://snakezmq-monitor-%d-%d" % (os.getpid(), next(_endpoints))
    sock.monitor(address, events)
    monitor_sock: zmq.Socket[Any] = sock.context.socket(zmq.PAIR)
    monitor_sock.rcvhwm = 0  # before connect: the inproc pipe's limit is fixed then
    monitor_sock.linger = 0
    monitor_sock.connect(address)
    return monitor_sock


def format_address(address: object) -> str:
    """``"ip:port"`` (``"[ip]:port"`` for IPv6) of a socket address; "" when it has no port."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    return ""


class Ends(NamedTuple):
    """``(getsockname(), getpeername())`` of a connection, as the OS reports them."""
    local: Any
    remote: Any


def ends_of(sock: socket.socket) -> Optional[Ends]:
    try:
        return Ends(sock.getsockname(), sock.getpeername())
    except OSError:
        return None


def dup_socket(fd: int) -> Optional[socket.socket]:
    """A socket object on a duplicate of descriptor ``fd``; None if it is gone or no socket."""
    try:
        copy = os.dup(fd)
    except OSError:
        return None
    try:
        return socket.socket(fileno=copy)
    except OSError:
        os.close(copy)
        return None


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


class ConnectionMonitor:
    """One ZeroMQ socket's monitor events, in order, and duplicates of its TCP connections.

    ``next_event()`` yields the events; the endpoint calls ``opened(fd)`` for
    ACCEPTED / CONNECTED and ``dropped(fd)`` for DISCONNECTED. A duplicate keeps
    its connection open after libzmq's close until ``dropped`` (or ``prune``, for a
    connection libzmq closed without the event, or ``close``) closes it.
    POSIX only; at most ``limit`` are held (later connections are not watched).
    """

    def __init__(self, sock: zmq.Socket[Any], events: int, limit: Optional[int] = None) -> None:
        self.socket = open_monitor(sock, events)
        self.enabled = os.name == "posix" and hasattr(socket, "MSG_DONTWAIT")
        self.limit = limit if limit is not None else _default_hold_limit()
        self._ahead: Deque[Tuple[int, int]] = collections.deque()
        self._held: Dict[int, Tuple[socket.socket, Optional[Tuple[int, int]], str]] = {}
        self._next_prune = 0.0

    def __len__(self) -> int:
        return len(self._held)

    def next_event(self) -> Optional[Tuple[int, int]]:
        """The next ``(event, value)``, None when none is pending."""
        if not self._ahead:
            self._read_ahead()
        return self._ahead.popleft() if self._ahead else None

    def _read_ahead(self) -> None:
        while True:
            try:
                event = parse_monitor_message(self.socket.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            self._ahead.append((event["event"], int(event.get("value", 0))))

    def _closed_later(self, fd: int) -> bool:
        """Whether ``DISCONNECTED(fd)`` is queued after the event being handled (read ahead first)."""
        self._read_ahead()
        return (zmq.EVENT_DISCONNECTED, fd) in self._ahead

    def opened(self, fd: int) -> Optional[Ends]:
        """ACCEPTED / CONNECTED ``fd``: hold a duplicate of a TCP connection; returns the
        connection's addresses as the OS reports them (None when unknown)."""
        self._release(fd)  # an older connection with that number ended unannounced
        sock = dup_socket(fd)
        if sock is None:
            return None
        if self._closed_later(fd):  # the number may have named another file by then
            sock.close()
            return None
        ends = ends_of(sock)
        remote = format_address(ends.remote) if ends is not None else ""  # "" unless TCP
        if not self.enabled or len(self._held) >= self.limit or sock.type != socket.SOCK_STREAM \
                or not remote:
            sock.close()
            return ends
        self._held[fd] = (sock, _identity(sock.fileno()), remote)
        return ends

    def dropped(self, fd: int) -> Tuple[Optional[Hangup], str]:
        """DISCONNECTED ``fd``: ``(hangup, remote "ip:port")``; hangup None if it was not held."""
        held = self._held.pop(fd, None)
        if held is None:
            return None, ""
        sock, _, remote = held
        try:
            return _hangup(sock), remote
        finally:
            sock.close()

    def find(self, address: str) -> Optional[socket.socket]:
        """The held connection to ``address`` (``"ip:port"``, or a host with one held
        connection); None when there is none, or more than one."""
        found = [sock for sock, _, remote in self._held.values() if address and remote == address]
        if not found and address and host_of(address) == address:
            found = [sock for sock, _, remote in self._held.values() if host_of(remote) == address]
        return found[0] if len(found) == 1 else None

    def shut(self, address: str) -> bool:
        """End the held connection to ``address`` (see ``find``): libzmq reads its end and
        frees the peer's routing id. False: none found."""
        sock = self.find(address)
        if sock is None:
            return False
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        return True

    def data_age(self, address: str) -> Optional[float]:
        """Seconds since TCP data last arrived on the held connection to ``address`` (see
        ``find``); None when unknown (none held, not Linux): liveness then goes by messages only."""
        sock = self.find(address)
        return tcpinfo.data_age(sock) if sock is not None else None

    def prune_every(self, now: float, interval: float = PRUNE_INTERVAL) -> None:
        """``prune()``, at most every ``interval`` seconds (called on every loop pass)."""
        if now >= self._next_prune:
            self._next_prune = now + interval
            self.prune()

    def prune(self) -> None:
        """Close the duplicates of connections libzmq closed without DISCONNECTED (none is
        known; a safety net: a duplicate keeps its connection open). Only fstat()s numbers."""
        for fd, (_, identity, _) in list(self._held.items()):
            if identity is None or _identity(fd) != identity:
                self._release(fd)

    def release_all(self) -> None:
        for fd in list(self._held):
            self._release(fd)

    def close(self, sock: zmq.Socket[Any]) -> None:
        """Stop monitoring ``sock`` (still open) and close the monitor and the duplicates."""
        try:
            sock.monitor(None, 0)
        except zmq.ZMQError:
            pass
        self.socket.close(linger=0)
        self._ahead.clear()
        self.release_all()

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
