"""The one internal interface between the layers: what each layer offers the layer above it.

snakemq's public model stays: Link -> Packeter -> Messaging wired by callbacks
(``on_connect``, ``on_recv``, ...). What the layers need beyond that public
surface (the routing id, detached payloads, deadlines, errors) goes through
these two interfaces only, reached as ``link.stack`` and ``packeter.stack``,
never through another layer's private attributes. A Throttle offers the
same ``stack`` as the Link it wraps, so Packeter and Messaging work over either.
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol

from .callbacks import Callback


class LinkStack(Protocol):
    """What a Link (or a Throttle wrapping one) offers the layers above it; reached as ``link.stack``."""

    #: ``func(conn_id, exception)``: a peer misbehaved or refused us (conn_id may be None)
    on_error: Callback
    #: ``func(conn_id, packet, payload)``: a packet whose payload came as its own frame
    #: (without a subscriber, ``on_recv`` gets ``packet + payload``)
    on_recv_detached: Callback
    #: ``func()``: ``cleanup()`` is about to close every connection; what a layer owes its
    #: peers (Messaging: acks waiting for a packet to ride on) goes now, before the linger
    on_closing: Callback

    def set_routing_id(self, ident: str) -> None:
        """Messaging's ident becomes the connectors' ZeroMQ routing id (connectors made from now on)."""

    def set_max_message_size(self, size: int) -> None:
        """ZMQ_MAXMSGSIZE, in bytes, of the sockets made from now on (-1: no limit)."""

    def send_detached(self, conn_id: str, packet: bytes, payload: bytes) -> None:
        """Like ``send(conn_id, packet + payload)``, without copying ``payload``."""

    def send_part(self, conn_id: str, chunk: bytes) -> None:
        """Send a leading piece of a packet: the peer's Link keeps it and puts it in front
        of the next ``send`` on this connection (a Throttle's chunks; docs/protocol.md)."""

    def add_deadline_source(self, source: Callable[[], float]) -> None:
        """The poll never sleeps past ``source()`` (monotonic time; ``inf``: nothing due)."""

    def peer_ident(self, conn_id: str) -> Optional[str]:
        """The ident a connector announced as its routing id (listener side), else None."""

    def data_age(self, conn_id: str) -> Optional[float]:
        """Seconds since TCP data from the peer of ``conn_id`` last arrived (None: unknown):
        a sign of life before a message completes (``_core.liveness``). The loop's thread only."""


class PacketStack(Protocol):
    """What a Packeter offers Messaging; reached as ``packeter.stack``."""

    link: LinkStack
    #: ``func(conn_id, packet, payload)``: a packet whose payload came as its own frame
    #: (without a subscriber, ``on_packet_recv`` gets ``packet + payload``)
    on_packet_recv_detached: Callback

    def send_detached(self, conn_id: str, packet: bytes, payload: bytes) -> int:
        """``send_packet(conn_id, packet + payload)`` without copying ``payload``; the packet id."""
