"""What ``link.get_socket_by_conn(conn_id)`` returns: one connection's addresses and peer key.

snakemq returns its ``LinkSocket``, whose ``sock`` is the connection's
``socket.socket``; snakezmq's connections are libzmq's, so this object answers
the questions user code asks: ``getpeername()`` / ``getsockname()`` (as the OS
reports them, read from libzmq's descriptor when the session starts),
``getpeercert()`` (None: there is no TLS) and ``curve_public_key``.
"""
from __future__ import annotations

import errno
from typing import Any, Optional

import zmq

from .._core import endpoints
from .monitor import Ends as Ends  # (re-exported: peersocket.Ends)
from .monitor import dup_socket
from .monitor import ends_of as socket_ends

#: ``zmq_msg_get(ZMQ_SRCFD)``: the descriptor a received message came from (deprecated in
#: libzmq but still there; -1 or an error when there is none, e.g. inproc)
_SRCFD = int(getattr(zmq, "SRCFD", 2))


def ends_of(fd: int) -> Optional[Ends]:
    """The OS's addresses of descriptor ``fd`` (read through a duplicate); None if it is no
    connected socket. ``fd`` is a hint that may be stale: callers check what they get."""
    sock = dup_socket(fd) if fd >= 0 else None
    if sock is None:
        return None
    try:
        return socket_ends(sock)
    finally:
        sock.close()


def ends_of_frame(frame: Any) -> Optional[Ends]:
    """The addresses of the connection a received ``zmq.Frame`` came from (None if unknown)."""
    try:
        fd = frame.get(_SRCFD)
    except (zmq.ZMQError, AttributeError, TypeError):
        return None
    return ends_of(fd) if isinstance(fd, int) else None


def listener_ends(frame: Any, endpoint: str, reported: Optional[str]) -> Optional[Ends]:
    """A listener's connection that sent ``frame`` (a HELLO): checked against the bound
    ``endpoint`` and, when the connector ``reported`` its ``"ip:port"``, against that."""
    ends = ends_of_frame(frame)
    if ends is None or not endpoints.is_end_of(ends.local, endpoint):
        return None
    if reported and isinstance(ends.remote, tuple) and _ip_port(ends.remote) != reported:
        return None
    return ends


def connector_ends(ends: Optional[Ends], endpoint: str) -> Optional[Ends]:
    """A connector's connection (``monitor.ConnectionMonitor.opened``), checked against ``endpoint``."""
    return ends if ends is not None and endpoints.is_end_of(ends.remote, endpoint) else None


def _ip_port(address: Any) -> str:
    host, port = address[0], address[1]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


class PeerSocket:
    """One connection as snakemq's ``LinkSocket`` showed it to user code.

    ``getpeername()`` / ``getsockname()`` return what the OS reports for the
    connection: ``(ip, port)`` for TCP (``(ip, port, flowinfo, scope_id)`` for
    IPv6), the socket path for ``ipc://`` (``""`` for the unnamed connecting
    end), and the endpoint string for ``inproc://``, which has no OS socket.
    """

    def __init__(self, conn_id: str, is_connector: bool, endpoint: str, ends: Optional[Ends],
                 curve_public_key: Optional[bytes] = None) -> None:
        self.conn_id = conn_id
        self.is_connector = is_connector  #: this side connected (else: it was accepted)
        self.endpoint = endpoint  #: the connector's target, or the listener's bound endpoint
        #: the peer's CurveZMQ public key (Z85, 40 bytes) when the connection uses CurveZMQ
        self.curve_public_key = curve_public_key
        self._ends = ends

    @property
    def sock(self) -> "PeerSocket":
        """snakemq compatibility: ``get_socket_by_conn(c).sock.getpeername()`` works too."""
        return self

    def getpeername(self) -> Any:
        """The peer's address. Raises OSError (ENOTCONN) if it could not be read."""
        return self._end("remote")

    def getsockname(self) -> Any:
        """This side's address. Raises OSError (ENOTCONN) if it could not be read."""
        return self._end("local")

    def getpeercert(self, binary_form: bool = False) -> None:
        """None, as snakemq's without SSL: snakezmq has no TLS (see ``curve_public_key``)."""
        return None

    def _end(self, which: str) -> Any:
        if self.endpoint.startswith("inproc://"):
            return self.endpoint
        if self._ends is None:
            raise OSError(errno.ENOTCONN, "the address of connection %s (%s) is unknown: libzmq's "
                          "connection was gone when the session started" % (self.conn_id, self.endpoint))
        return getattr(self._ends, which)

    def __repr__(self) -> str:
        return "<PeerSocket conn_id=%r %s %s>" % (
            self.conn_id, "to" if self.is_connector else "accepted on", self.endpoint)
