"""Packeter: one packet is one ZeroMQ message, so framing is free.

Keeps snakemq's interface: packet ids, ``on_packet_sent``, ``NoConnection``.
"""
from __future__ import annotations

import collections
import logging
from typing import Any, Deque, Dict

from ._stack import LinkStack, PacketStack
from .callbacks import Callback
from .exceptions import NoConnection, PacketTooLarge
from .exceptions import SnakeMQBrokenPacket as SnakeMQBrokenPacket  # snakemq compatibility: re-exported

MAX_PACKET_SIZE = 256 * 1024 * 1024  #: default limit for one packet, in bytes
FRAME_OVERHEAD = 64  #: room for the link header frame within ZMQ_MAXMSGSIZE


class Packeter:
    def __init__(self, link: Any) -> None:
        """:param link: :class:`~snakezmq.link.Link` (or a Throttle around one)"""
        self.link = link
        self.log = logging.getLogger("snakezmq.packeter")
        self._max_packet_size = 0
        self.max_packet_size = MAX_PACKET_SIZE

        self.on_connect = Callback()  #: ``func(conn_id)``
        self.on_disconnect = Callback()  #: ``func(conn_id)``
        self.on_packet_recv = Callback()  #: ``func(conn_id, packet)``
        self.on_packet_sent = Callback()  #: ``func(conn_id, packet_id)``: handed to ZeroMQ
        self.on_error = Callback()  #: ``func(conn_id, exception)``

        self._sent_ids: Dict[str, Deque[int]] = {}  # conn_id -> packet ids awaiting on_ready_to_send
        self._last_packet_id = 0

        link.on_connect.add(self._on_connect)
        link.on_disconnect.add(self._on_disconnect)
        link.on_recv.add(self._on_recv)
        link.on_ready_to_send.add(self._on_ready_to_send)
        #: what Messaging uses beyond snakemq's API (``snakezmq._stack.PacketStack``)
        self.stack: PacketStack = _Stack(self, link.stack)
        self.stack.link.on_error.add(self._on_link_error)
        self.stack.link.on_recv_detached.add(self._on_recv_detached)

    @property
    def max_packet_size(self) -> int:
        """Largest packet in bytes: larger ones raise PacketTooLarge on send, and a peer
        that sends one is disconnected by ZeroMQ (ZMQ_MAXMSGSIZE; set it before connecting)."""
        return self._max_packet_size

    @max_packet_size.setter
    def max_packet_size(self, size: int) -> None:
        self._max_packet_size = size
        self.link.stack.set_max_message_size(size + FRAME_OVERHEAD)

    def send_packet(self, conn_id: str, buf: bytes) -> int:
        """Queue ``buf`` for ``conn_id``; returns its packet id.

        Raises:
            NoConnection: ``conn_id`` is not connected.
            PacketTooLarge: ``buf`` is larger than ``max_packet_size``.
        """
        if type(buf) is not bytes:
            raise TypeError("packet must be bytes, not %s" % type(buf).__name__)
        packet_id = self._new_packet_id(conn_id, len(buf))
        self.link.send(conn_id, buf)
        return packet_id

    def _new_packet_id(self, conn_id: str, size: int) -> int:
        """The id of a packet of ``size`` bytes about to be sent (NoConnection, PacketTooLarge)."""
        ids = self._sent_ids.get(conn_id)
        if ids is None:
            raise NoConnection(conn_id)
        if size > self._max_packet_size:
            raise PacketTooLarge(size, self._max_packet_size)
        self._last_packet_id += 1
        ids.append(self._last_packet_id)
        return self._last_packet_id

    def _on_connect(self, conn_id: str) -> None:
        self._sent_ids[conn_id] = collections.deque()
        self.on_connect(conn_id)

    def _on_disconnect(self, conn_id: str) -> None:
        self._sent_ids.pop(conn_id, None)
        self.on_disconnect(conn_id)

    def _on_recv(self, conn_id: str, packet: bytes) -> None:
        if self._fits(conn_id, len(packet)):
            self.on_packet_recv(conn_id, packet)

    def _on_recv_detached(self, conn_id: str, packet: bytes, payload: bytes) -> None:
        if not self._fits(conn_id, len(packet) + len(payload)):
            return
        if self.stack.on_packet_recv_detached.callbacks:
            self.stack.on_packet_recv_detached(conn_id, packet, payload)
        else:
            self.on_packet_recv(conn_id, packet + payload)

    def _fits(self, conn_id: str, size: int) -> bool:
        """A received packet within ``max_packet_size``; else a logged error and on_error."""
        if size <= self._max_packet_size:
            return True
        error = PacketTooLarge(size, self.max_packet_size)
        self.log.error("conn=%s %s", conn_id, error)
        self.on_error(conn_id, error)
        return False

    def _on_ready_to_send(self, conn_id: str, size: int) -> None:
        ids = self._sent_ids.get(conn_id)
        if ids:
            self.on_packet_sent(conn_id, ids.popleft())

    def _on_link_error(self, conn_id: Any, error: Exception) -> None:
        self.on_error(conn_id, error)


class _Stack:
    """``packeter.stack``: what Messaging uses beyond snakemq's API (``_stack.PacketStack``)."""

    def __init__(self, packeter: Packeter, link: LinkStack) -> None:
        self.link = link
        #: ``func(conn_id, packet, payload)``: a packet whose payload came as a frame of its own
        #: (large messages); without a subscriber, ``on_packet_recv`` gets ``packet + payload``
        self.on_packet_recv_detached = Callback()
        self._packeter = packeter

    def send_detached(self, conn_id: str, packet: bytes, payload: bytes) -> int:
        """``send_packet(conn_id, packet + payload)`` without copying ``payload``; the packet id."""
        packet_id = self._packeter._new_packet_id(conn_id, len(packet) + len(payload))
        self.link.send_detached(conn_id, packet, payload)
        return packet_id
