"""One peer pipe while ``cleanup()`` lingers (``_transport.linger``), for a Listener and a Connector alike.

``push``: send what waits for the peer, then PING it when its confirmation takes one.
``answer``: what a frame read meanwhile calls for (PONGs go to the pipe's ledger).
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional

import zmq

from .._core import wire
from .._core.linger import Farewell, PingLedger
from ..exceptions import WireError
from .peer_io import Outgoing, Sink, Unreachable


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
