"""What listeners and connectors share: the sink they report to, sending with backpressure."""
from __future__ import annotations

import collections
import errno
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Sequence

import zmq

from .._core.reassembly import Reassembly
from .._core.wire import LinkKind, encode_link

DATA_HEADER = encode_link(LinkKind.DATA)
PART_HEADER = encode_link(LinkKind.PART)  #: a leading piece of the next DATA's packet
PING = encode_link(LinkKind.PING)
PONG = encode_link(LinkKind.PONG)
BYE = encode_link(LinkKind.BYE)
RESET = encode_link(LinkKind.RESET)
RECV_BATCH = 512  # messages drained per socket per loop pass, so no peer starves the others
COPY_THRESHOLD = 64 * 1024  # frames larger than this are sent without a copy
_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_POLLIN = int(zmq.POLLIN)
_EVENTS = int(zmq.EVENTS)
_RCVMORE = int(zmq.RCVMORE)


class Sink(Protocol):
    """What the Link offers to its endpoints (implemented by ``Link``, structurally)."""

    _max_message_size: int  #: ZMQ_MAXMSGSIZE for new sockets (-1: no limit)

    def _new_conn_id(self) -> str: ...
    def _register(self, sock: Any, handler: Callable[[float], None]) -> None: ...
    def _unregister(self, sock: Any) -> None: ...
    def _connected(self, conn_id: str, owner: Any) -> None: ...
    def _disconnected(self, conn_id: str) -> None: ...
    def _received(self, conn_id: str, data: bytes, payload: Optional[bytes] = None) -> None: ...
    def _sent(self, conn_id: str, size: int) -> None: ...
    def _problem(self, level: str, text: str, error: Optional[Exception] = None,
                 conn_id: Optional[str] = None) -> None: ...


def deliver_with_parts(sink: Sink, parts: Reassembly, conn_id: str, body: Sequence[Any]) -> None:
    """Hand a DATA's body to ``sink`` with the PART pieces before it in front (callers test
    ``parts.pending`` first: the usual DATA has none and goes to ``sink._received`` directly)."""
    whole = parts.complete(conn_id, body)
    if whole is not None:
        sink._received(conn_id, *whole)


def keep_part(sink: Sink, parts: Reassembly, conn_id: str, chunk: bytes, endpoint: str) -> None:
    """Keep one PART piece; a packet growing past the limit is dropped, logged, and on_error."""
    error = parts.part(conn_id, chunk, sink._max_message_size)
    if error is not None:
        sink._problem("error", "%s: conn=%s sent a packet in parts that grew past the limit: %s; "
                      "dropped" % (endpoint, conn_id, error), error, conn_id)


class Unreachable(Exception):
    """The peer's connection is gone (EHOSTUNREACH on a ROUTER_MANDATORY socket)."""


def send_now(sock: zmq.Socket[Any], frames: Sequence[Any]) -> bool:
    """Send without blocking: True if sent, False at the high-water mark.

    Raises:
        Unreachable: the routing id has no connection any more.
    """
    last = len(frames) - 1
    try:
        # Frame by frame with int flags: pyzmq's send_multipart costs twice as much (flag
        # enums). Only the first frame can meet the high-water mark (ZeroMQ then takes the
        # rest of a multipart message); frames larger than COPY_THRESHOLD are not copied.
        for index, frame in enumerate(frames):
            sock.send(frame, _NOBLOCK if index == last else _NOBLOCK_MORE,
                      copy=len(frame) <= COPY_THRESHOLD)
    except zmq.Again:
        return False
    except zmq.ZMQError as exc:
        if exc.errno == errno.EHOSTUNREACH:
            raise Unreachable() from exc
        raise
    return True


def receive_batch(socket_of: Callable[[], Optional[zmq.Socket[Any]]],
                  handle: Callable[[List[Any], float], None], now: float,
                  frame_object: int = -1) -> None:
    """Hand up to RECV_BATCH messages of a readable socket to ``handle(frames, now)``.

    Frames come as bytes, except frame number ``frame_object``: a ``zmq.Frame``, whose
    properties (CURVE User-Id, Peer-Address) the handler reads. (A Frame costs about a
    microsecond more than bytes; pyzmq's recv_multipart makes all or none Frames.)
    ``socket_of()`` is asked again after each message (a handler may replace or close the
    socket). After the first message, ZMQ_EVENTS tells whether more wait: the usual lone
    message (request/response) costs no raised and caught zmq.Again, a third of the price.
    """
    for count in range(RECV_BATCH):
        sock = socket_of()
        if sock is None or sock.closed:
            return
        try:
            frames = [sock.recv(_NOBLOCK, copy=frame_object != 0)]
        except zmq.Again:
            return
        while sock.get(_RCVMORE):  # the rest of a multipart message is there already
            frames.append(sock.recv(_NOBLOCK, copy=len(frames) != frame_object))
        handle(frames, now)
        if count == 0:
            sock = socket_of()
            events = sock.get(_EVENTS) if sock is not None and not sock.closed else 0
            if not (isinstance(events, int) and events & _POLLIN):
                return


class Outgoing:
    """Per-connection DATA frames that met the high-water mark, resent in order later."""

    def __init__(self) -> None:
        self._waiting: Dict[str, Deque[List[Any]]] = {}

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def send(self, sock: zmq.Socket[Any], conn_id: str, frames: List[Any], sink: Sink) -> None:
        waiting = self._waiting.get(conn_id)
        if waiting is None and send_now(sock, frames):
            sink._sent(conn_id, len(frames[-1]))
            return
        self._waiting.setdefault(conn_id, collections.deque()).append(frames)

    def flush(self, sock: zmq.Socket[Any], conn_id: str, sink: Sink) -> None:
        waiting = self._waiting.get(conn_id)
        while waiting:
            if not send_now(sock, waiting[0]):
                return
            sink._sent(conn_id, len(waiting.popleft()[-1]))
        self._waiting.pop(conn_id, None)

    def conn_ids(self) -> List[str]:
        return list(self._waiting)

    def forget(self, conn_id: str) -> None:
        self._waiting.pop(conn_id, None)


def peer_address(frame: Any) -> str:
    """The remote address ZeroMQ attached to a received frame ("" when unknown)."""
    try:
        return frame.get("Peer-Address") or ""
    except (zmq.ZMQError, AttributeError, TypeError):
        return ""
