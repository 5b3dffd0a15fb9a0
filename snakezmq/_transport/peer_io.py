"""What listeners and connectors share: the sink they report to, sending with backpressure."""
from __future__ import annotations

import atexit
import collections
import ctypes
import errno
import logging
import time
import weakref
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Sequence, Tuple

import zmq

from .._core.reassembly import Reassembly
from .._core.linger import PingLedger
from .._core.wire import LinkKind, decode_packets, encode_link, encode_packets
from ..exceptions import WireError

DATA_HEADER = encode_link(LinkKind.DATA)
PART_HEADER = encode_link(LinkKind.PART)  #: a leading piece of the next DATA's packet
PACKETS_HEADER = encode_link(LinkKind.PACKETS)  #: several packets (``_core.coalescing``)
PING = encode_link(LinkKind.PING)
PONG = encode_link(LinkKind.PONG)
BYE = encode_link(LinkKind.BYE)
RESET = encode_link(LinkKind.RESET)
RECV_BATCH = 512  # messages drained per socket per loop pass, so no peer starves the others
COPY_THRESHOLD = 64 * 1024  # frames larger than this are sent without a copy
ZERO_COPY_PRUNE_AT = 64  # held zero-copy frames checked for release when this many
_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_POLLIN = int(zmq.POLLIN)
_EVENTS = int(zmq.EVENTS)
_ZERO_COPY: "weakref.WeakSet[ZeroCopyFrames]" = weakref.WeakSet()
_KEPT: List[Any] = []
log = logging.getLogger("snakezmq.link")


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


def deliver_packets(sink: Sink, parts: Reassembly, conn_id: str, body: bytes, endpoint: str) -> None:
    """Hand each packet of a PACKETS body to ``sink`` as if it had come in a DATA of its own.
    A raising callback does not stop the rest (they arrived): the first exception is
    raised after the last packet."""
    try:
        packets = iter(decode_packets(body))
    except WireError as exc:
        sink._problem("error", "%s: conn=%s: %s" % (endpoint, conn_id, exc), exc, conn_id)
        return
    first_error: Optional[Exception] = None
    while True:
        try:
            for packet in packets:
                if parts.pending:
                    deliver_with_parts(sink, parts, conn_id, [packet])
                else:
                    sink._received(conn_id, packet)
            break
        except Exception as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error


def packets_message(packets: Sequence[bytes]) -> List[bytes]:
    """The header and body frames that carry ``packets``: a DATA for one, else a PACKETS."""
    if len(packets) == 1:
        return [DATA_HEADER, packets[0]]
    return [PACKETS_HEADER, encode_packets(packets)]


def keep_part(sink: Sink, parts: Reassembly, conn_id: str, chunk: bytes, endpoint: str) -> None:
    """Keep one PART piece; a packet growing past the limit is dropped, logged, and on_error."""
    error = parts.part(conn_id, chunk, sink._max_message_size)
    if error is not None:
        sink._problem("error", "%s: conn=%s sent a packet in parts that grew past the limit: %s; "
                      "dropped" % (endpoint, conn_id, error), error, conn_id)


class Unreachable(Exception):
    """The peer's connection is gone (EHOSTUNREACH on a ROUTER_MANDATORY socket)."""


class ZeroCopyFrames:
    """Frames sent without a copy, each held (with its MessageTracker) while libzmq reads it.

    pyzmq holds such a buffer only until its garbage-collector thread stops at interpreter
    exit, while libzmq's I/O thread may still be sending it: it then reads freed memory
    (SIGABRT, "Bad address (src/tcp.cpp:227)"). So we hold a reference of our own, and the
    frames libzmq has not let go of at exit (or when ``cleanup()`` gives up) are never freed.
    """

    def __init__(self) -> None:
        self._held: List[Tuple[zmq.MessageTracker, Any]] = []
        self._prune_at = ZERO_COPY_PRUNE_AT
        _ZERO_COPY.add(self)

    def send(self, sock: zmq.Socket[Any], frame: Any, flags: int) -> None:
        tracker = sock.send(frame, flags, copy=False, track=True)
        self._held.append((tracker, frame))
        if len(self._held) >= self._prune_at:
            self._held = [held for held in self._held if not held[0].done]
            self._prune_at = max(ZERO_COPY_PRUNE_AT, 2 * len(self._held))

    def release(self, deadline: float) -> int:
        """Wait until libzmq let go of every frame, at most until ``deadline`` (monotonic);
        returns how many it still holds, which are then kept for the life of the process."""
        for tracker, _ in self._held:
            try:
                tracker.wait(max(0.0, deadline - time.monotonic()))
            except zmq.NotDone:
                break
        return self.keep_forever()

    def keep_forever(self) -> int:
        held, self._held = [held for held in self._held if not held[0].done], []
        for _, frame in held:
            _never_free(frame)
        return len(held)


def _never_free(obj: Any) -> None:
    """Leak ``obj`` on purpose: at exit even module globals are freed, before libzmq's
    I/O thread stops reading."""
    incref = getattr(getattr(ctypes, "pythonapi", None), "Py_IncRef", None)
    if incref is not None:
        incref(ctypes.py_object(obj))
    else:  # not CPython: the best we have
        _KEPT.append(obj)


@atexit.register
def _keep_zero_copy_frames_at_exit() -> None:
    """Frames of Links never cleaned up: libzmq may read them after pyzmq lets go."""
    for frames in list(_ZERO_COPY):
        if frames.keep_forever():
            log.debug("zero-copy frames still in libzmq at exit: kept, never freed")


def send_now(sock: zmq.Socket[Any], frames: Sequence[Any],
             zero_copy: Optional[ZeroCopyFrames] = None) -> bool:
    """Send without blocking: True if sent, False at the high-water mark.

    Frames larger than COPY_THRESHOLD go without a copy through ``zero_copy``
    (without one, they are copied).

    Raises:
        Unreachable: the routing id has no connection any more.
    """
    last = len(frames) - 1
    try:
        # Frame by frame with int flags: pyzmq's send_multipart costs twice as much (flag
        # enums). Only the first frame can meet the high-water mark (ZeroMQ then takes the
        # rest of a multipart message).
        for index, frame in enumerate(frames):
            flags = _NOBLOCK if index == last else _NOBLOCK_MORE
            if zero_copy is not None and len(frame) > COPY_THRESHOLD:
                zero_copy.send(sock, frame, flags)
            else:
                sock.send(frame, flags)
    except zmq.Again:
        return False
    except zmq.ZMQError as exc:
        if exc.errno == errno.EHOSTUNREACH:
            raise Unreachable() from exc
        raise
    return True


def readable(sock: zmq.Socket[Any]) -> bool:
    """A message waits in ``sock`` (ZMQ_EVENTS, which also makes libzmq process its commands)."""
    events = sock.get(_EVENTS)
    return isinstance(events, int) and bool(events & _POLLIN)


def receive_batch(socket_of: Callable[[], Optional[zmq.Socket[Any]]],
                  handle: Callable[[List[Any], float], None], now: float,
                  frame_object: int = -1, routed: bool = False) -> bool:
    """Hand up to RECV_BATCH messages of a readable socket to ``handle(frames, now)``;
    True if it stopped at RECV_BATCH (more may wait), False once the socket had no more.

    Frames come as bytes, except frame number ``frame_object``: a ``zmq.Frame``, whose
    properties (CURVE User-Id, Peer-Address) the handler reads. ``routed``: a ROUTER's
    messages, whose first frame (the routing id) always has another after it.
    ``socket_of()`` is asked again after each message (a handler may replace or close the
    socket). After the first message, ZMQ_EVENTS tells whether more wait: the usual lone
    message (request/response) costs no raised and caught zmq.Again, a third of the price.
    """
    for count in range(RECV_BATCH):
        sock = socket_of()
        if sock is None or sock.closed:
            return False
        try:
            frames = _receive(sock, frame_object, routed)
        except zmq.Again:
            return False
        handle(frames, now)
        if count == 0:
            sock = socket_of()
            if sock is None or sock.closed or not readable(sock):
                return False
    return True


def _receive(sock: zmq.Socket[Any], frame_object: int, routed: bool) -> List[Any]:
    """One message (zmq.Again if none waits). Each frame is received as a ``zmq.Frame``,
    whose ``more`` costs nothing, where ``sock.get(RCVMORE)`` costs 0.5 us (pyzmq makes
    an enum of the option); a Frame's ``bytes`` is cheap too."""
    frames: List[Any] = []
    if routed:
        frames.append(sock.recv(_NOBLOCK))
    frame = sock.recv(_NOBLOCK, copy=False)
    while True:
        frames.append(frame if len(frames) == frame_object else frame.bytes)
        if not frame.more:
            return frames
        frame = sock.recv(_NOBLOCK, copy=False)


class Outgoing:
    """Per-connection DATA: frames that met the high-water mark (resent in order later),
    zero-copy frames libzmq still reads, and the peer's ``PingLedger`` marked at each send."""

    def __init__(self) -> None:
        #: conn_id: (frames, the sizes ``_sent`` reports for them, None: the last frame's)
        self._waiting: Dict[str, Deque[Tuple[List[Any], Optional[Sequence[int]]]]] = {}
        self.zero_copy = ZeroCopyFrames()

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def send(self, sock: zmq.Socket[Any], conn_id: str, frames: List[Any], sink: Sink,
             ledger: PingLedger, sizes: Optional[Sequence[int]] = None) -> None:
        """Send one message now, or after what waits; ``sizes``: one ``_sent`` per packet
        of a PACKETS message (default: one for the message)."""
        waiting = self._waiting.get(conn_id)
        if waiting is None and send_now(sock, frames, self.zero_copy):
            ledger.data_sent()
            _report_sent(sink, conn_id, frames, sizes)
            return
        self._waiting.setdefault(conn_id, collections.deque()).append((frames, sizes))

    def flush(self, sock: zmq.Socket[Any], conn_id: str, sink: Sink, ledger: PingLedger) -> None:
        waiting = self._waiting.get(conn_id)
        while waiting:
            if not send_now(sock, waiting[0][0], self.zero_copy):
                return
            ledger.data_sent()
            _report_sent(sink, conn_id, *waiting.popleft())
        self._waiting.pop(conn_id, None)

    def waiting(self, conn_id: str) -> bool:
        return conn_id in self._waiting

    def conn_ids(self) -> List[str]:
        return list(self._waiting)

    def forget(self, conn_id: str) -> None:
        self._waiting.pop(conn_id, None)


def _report_sent(sink: Sink, conn_id: str, frames: List[Any], sizes: Optional[Sequence[int]]) -> None:
    if sizes is None:
        sink._sent(conn_id, len(frames[-1]))
        return
    for size in sizes:
        sink._sent(conn_id, size)


def ident_text(rid: bytes) -> str:
    """A routing id (an ident) as text for logs and reports."""
    return rid.decode("utf-8", "replace")


def peer_address(frame: Any) -> str:
    """The remote address ZeroMQ attached to a received frame ("" when unknown)."""
    try:
        return frame.get("Peer-Address") or ""
    except (zmq.ZMQError, AttributeError, TypeError):
        return ""
