"""Throttle: limit each connection's sending speed; use it in place of a Link under a Packeter.

The rule: in any one-second window a connection sends at most ``speed``
bytes plus one chunk, whatever the packet sizes. A packet larger than a chunk
is cut into chunks (``chunk_size``: ``speed * TIME_QUANTUM`` bytes, at least
MIN_CHUNK and at most MAX_CHUNK, 64 KiB); each chunk but the last goes as a
link PART frame and the receiving Link joins them before ``on_recv``, so the
receiver may run a plain Packeter (docs/protocol.md, "Chunked packets").

Each connection has a token bucket that starts empty, fills at ``speed``
bytes per second and holds at most one chunk; a chunk (or a smaller packet)
goes when the bucket holds its size. So the bytes sent in any window of one
second are at most what the bucket held at its start (one chunk) plus what one
second earns (``speed``). Waiting chunks go out when the Link's loop passes,
and the Link does not poll past the moment the next one may go.

``on_ready_to_send(conn_id, size)`` fires once per ``send()``, when its last
chunk was handed to ZeroMQ (``size``: the whole buffer's). Send through the
Throttle only: a ``link.send`` on the same connection would be counted as one
of the Throttle's chunks.

snakemq's Throttle reports throttled bytes as unsent (a Packeter over it
sends them twice) and never runs ``on_loop_pass`` for the layers above; this
one does neither.
"""
from __future__ import annotations

import collections
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from ._stack import LinkStack
from .callbacks import Callback
from .link import POLL_TIMEOUT

TIME_QUANTUM = POLL_TIMEOUT * 2  #: a chunk is this many seconds of traffic (within the bounds below)
MIN_CHUNK = 1024  #: bytes
MAX_CHUNK = 64 * 1024  #: bytes

#: one chunk and what to report when it went: None, or (last chunk) the size of its send()
Piece = Tuple[bytes, Optional[int]]


def chunk_size(speed: float) -> int:
    """The chunk size in bytes for ``speed`` bytes per second."""
    return max(MIN_CHUNK, min(MAX_CHUNK, int(speed * TIME_QUANTUM)))


def cut(buf: bytes, size: int) -> List[Piece]:
    """``buf`` as chunks of at most ``size`` bytes; the last carries ``len(buf)`` to report."""
    starts = range(0, max(len(buf) - 1, 0) // size * size + 1, size)
    pieces: List[Piece] = [(buf[start:start + size], None) for start in starts]
    pieces[-1] = (pieces[-1][0], len(buf))
    return pieces


class TokenBucket:
    """Bytes a connection may send now: refilled at ``speed`` bytes per second, holding at
    most ``capacity`` (one chunk). Starts empty."""

    __slots__ = ("speed", "capacity", "tokens", "updated")

    def __init__(self, speed: float, now: float, capacity: Optional[int] = None) -> None:
        self.speed = speed
        self.capacity = chunk_size(speed) if capacity is None else capacity
        self.tokens = 0.0
        self.updated = now

    def take(self, size: int, now: float) -> bool:
        """Spend ``size`` bytes (at most ``capacity``) if the bucket holds them."""
        self.tokens = min(float(self.capacity), self.tokens + (now - self.updated) * self.speed)
        self.updated = now
        if self.tokens < size:
            return False
        self.tokens -= size
        return True

    def ready_at(self, size: int) -> float:
        """When the bucket will hold ``size`` bytes."""
        return self.updated + max(0.0, size - self.tokens) / self.speed


class Throttle:
    """Stands in for a Link: ``send`` is throttled per connection, the rest is the Link's."""

    def __init__(self, link: Any, speed: float) -> None:
        """
        :param link: :class:`~snakezmq.link.Link`
        :param speed: maximum speed in bytes per second (for each connection)
        """
        self.link = link
        self.speed = speed
        # pass on the Link's callbacks the throttle does not change
        self.on_connect = link.on_connect
        self.on_disconnect = link.on_disconnect
        self.on_recv = link.on_recv
        #: ``func(conn_id, last_send_size)``: one per ``send()``, when its last chunk went out
        self.on_ready_to_send = Callback()
        self.on_loop_pass = Callback()  #: ``func()``, after the throttle released what it could

        self.connections: Dict[str, TokenBucket] = {}
        self._waiting: Dict[str, Deque[Piece]] = {}
        self._in_link: Dict[str, Deque[Optional[int]]] = {}  #: per chunk handed to the Link: report
        link.on_connect.add(self._on_connect)
        link.on_disconnect.add(self._on_disconnect)
        link.on_ready_to_send.add(self._on_link_ready_to_send)
        link.on_loop_pass.add(self._on_loop_pass)
        #: the Link's ``stack`` (``snakezmq._stack.LinkStack``), detached sends throttled too
        self.stack: LinkStack = _Stack(self, link.stack)
        link.stack.add_deadline_source(self._next_release)

    def __getattr__(self, name: str) -> Any:
        # The rest of the Link's public API (loop, stop, close, wakeup_poll, add_connector, ...).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.link, name)

    @property
    def stopped(self) -> Set[str]:
        """snakemq compatibility: the connections with data waiting for the throttle."""
        return set(self._waiting)

    def send(self, conn_id: str, buf: bytes) -> None:
        """Send ``buf`` on ``conn_id``, in chunks, as fast as the bucket allows; in order.

        Raises ``KeyError`` for an unknown conn_id (as the Link).
        """
        bucket = self.connections[conn_id]
        self._waiting.setdefault(conn_id, collections.deque()).extend(cut(buf, bucket.capacity))
        self._release(conn_id, bucket, time.monotonic())

    def _release(self, conn_id: str, bucket: TokenBucket, now: float) -> None:
        """Hand the Link the waiting chunks of ``conn_id`` that the bucket allows."""
        waiting = self._waiting[conn_id]
        while waiting and bucket.take(len(waiting[0][0]), now):
            piece, report = waiting.popleft()
            if report is None:
                self.link.stack.send_part(conn_id, piece)
            else:
                self.link.send(conn_id, piece)
            self._in_link.setdefault(conn_id, collections.deque()).append(report)
            if conn_id not in self.connections:
                return  # the send ended the connection: on_disconnect dropped its state
        if not waiting:
            self._waiting.pop(conn_id, None)

    def _on_link_ready_to_send(self, conn_id: str, size: int) -> None:
        reports = self._in_link.get(conn_id)
        report = reports.popleft() if reports else size  # (not ours: passed on as it is)
        if report is not None:
            self.on_ready_to_send(conn_id, report)

    def _on_connect(self, conn_id: str) -> None:
        self.connections[conn_id] = TokenBucket(self.speed, time.monotonic())

    def _on_disconnect(self, conn_id: str) -> None:
        self.connections.pop(conn_id, None)
        self._waiting.pop(conn_id, None)
        self._in_link.pop(conn_id, None)

    def _next_release(self) -> float:
        """When the first waiting chunk may go (the Link's poll does not sleep past it)."""
        releases = [bucket.ready_at(len(waiting[0][0])) for conn_id, waiting in self._waiting.items()
                    for bucket in [self.connections.get(conn_id)] if bucket is not None and waiting]
        return min(releases, default=float("inf"))

    def _on_loop_pass(self) -> None:
        now = time.monotonic()
        for conn_id in list(self._waiting):
            bucket = self.connections.get(conn_id)
            if bucket is not None and conn_id in self._waiting:
                self._release(conn_id, bucket, now)
        self.on_loop_pass()


class _Stack:
    """``throttle.stack``: the wrapped Link's stack, except that a detached send is an
    ordinary throttled ``send`` of the joined packet."""

    def __init__(self, throttle: Throttle, link: LinkStack) -> None:
        self._throttle = throttle
        self._link = link
        self.on_error = link.on_error
        self.on_recv_detached = link.on_recv_detached
        self.on_closing = link.on_closing

    def send_detached(self, conn_id: str, packet: bytes, payload: bytes) -> None:
        self._throttle.send(conn_id, packet + payload)

    def send_part(self, conn_id: str, chunk: bytes) -> None:
        self._link.send_part(conn_id, chunk)

    def set_routing_id(self, ident: str) -> None:
        self._link.set_routing_id(ident)

    def set_max_message_size(self, size: int) -> None:
        self._link.set_max_message_size(size)

    def add_deadline_source(self, source: Callable[[], float]) -> None:
        self._link.add_deadline_source(source)

    def peer_ident(self, conn_id: str) -> Optional[str]:
        return self._link.peer_ident(conn_id)

    def data_age(self, conn_id: str) -> Optional[float]:
        return self._link.data_age(conn_id)
