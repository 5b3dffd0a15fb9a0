"""A listener's checks of who says HELLO (or PROBE), and what each new session's HELLO told.

A HELLO in another link protocol version is refused (REFUSE "version"); with CurveZMQ, a
claimed ident the client's key may not use is refused (REFUSE "ident"), for a PROBE too.
A session that starts leaves its peer's addresses and key (``link.get_socket_by_conn``)
and the largest PACKETS body the peer accepts.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from .._core import wire
from .._core.drops import host_of
from . import curve, peersocket
from .peer_io import Sink, ident_text, peer_address


def sender_address(first: Any, reported: Optional[str]) -> str:
    """The ``"ip:port"`` of the peer that sent HELLO / PROBE header frame ``first``: the
    ``local_address`` a newer connector appends (``reported``) if its host is the one
    ZeroMQ saw, else ZeroMQ's Peer-Address (host only, "" when unknown)."""
    seen = peer_address(first)
    if reported is None or host_of(reported) == reported:
        return seen
    return reported if not seen or host_of(reported) == seen else seen


class Hellos:
    """HELLO / PROBE checks for the listener on ``endpoint``, replies through ``send_control``."""

    def __init__(self, endpoint: str, sink: Sink, guard: Optional[curve.CurveGuard],
                 send_control: Callable[[bytes, bytes], bool]) -> None:
        self.endpoint = endpoint
        self.sink = sink
        self.guard = guard
        self.send_control = send_control
        self.peer_sockets: Dict[str, peersocket.PeerSocket] = {}  #: conn_id: link.get_socket_by_conn()
        #: conn_id: the largest PACKETS body its peer accepts (from HELLO; absent: none)
        self.packets_limits: Dict[str, int] = {}

    def refused(self, rid: bytes, fields: Tuple[Any, ...], first: Any, address: str) -> bool:
        """REFUSE (and an ERROR) a HELLO in another protocol version, or claiming an ident
        the client's CURVE key may not use."""
        version, rid_is_ident = fields[1], fields[3]
        if version != wire.LINK_VERSION:
            text = "link protocol version %d is not supported (this side speaks %d)" % (
                version, wire.LINK_VERSION)
            self.send_control(rid, wire.encode_link(wire.LinkKind.REFUSE, "version", text))
            self.sink._problem("error", "%s refused %r: %s" % (self.endpoint, rid[:60], text))
            return True
        return self.ident_refused(rid, first, rid if rid_is_ident else None, address)

    def ident_refused(self, reply_rid: bytes, first: Any, claimed: Optional[bytes],
                      address: str) -> bool:
        """CurveZMQ: refuse (REFUSE "ident", logged) a claimed ident the client's key may not use."""
        if self.guard is None:
            return False
        ident = ident_text(claimed) if claimed is not None else None
        refused = self.guard.refusal(first, ident)
        if refused is None:
            return False
        text, key = refused
        self.send_control(reply_rid, wire.encode_link(wire.LinkKind.REFUSE, "ident", text))
        self.sink._problem("error", "%s refused the peer at %s with CURVE key %s claiming ident %r: %s"
                           % (self.endpoint, address or "?", curve.short_key(key), ident, text))
        return True

    def started(self, conn_id: str, fields: Tuple[Any, ...], first: Any) -> None:
        """The new session's PACKETS limit, addresses (from the descriptor HELLO came from)
        and CURVE key."""
        self.packets_limits[conn_id] = fields[5] or 0
        key = curve.user_id(first) if self.guard is not None else None
        self.peer_sockets[conn_id] = peersocket.PeerSocket(
            conn_id, False, self.endpoint, peersocket.listener_ends(first, self.endpoint, fields[4]),
            key.encode("ascii") if key else None)

    def peer_socket(self, conn_id: str) -> peersocket.PeerSocket:
        """What ``link.get_socket_by_conn(conn_id)`` returns; KeyError if no session."""
        return self.peer_sockets[conn_id]

    def packets_limit(self, conn_id: str) -> int:
        """The largest PACKETS body the peer of ``conn_id`` accepts (0: none)."""
        return self.packets_limits.get(conn_id, 0)

    def forget(self, conn_id: str) -> None:
        self.packets_limits.pop(conn_id, None)
        self.peer_sockets.pop(conn_id, None)
