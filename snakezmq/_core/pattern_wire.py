"""The work-queue and pub/sub messages, carried as Messaging message payloads.

Every such payload starts with a 4-byte magic (``QUEUE_MAGIC`` or ``PUBSUB_MAGIC``), so
a driver tells its own messages from the application's others on the same Messaging:
``decode_*`` returns None for a payload without its magic and raises ``WireError`` for one
with the magic that does not decode (bad bytes from a peer: one error type, as in
``_core.wire``). Fixed-size fields are packed with ``struct`` (network order); strings are
UTF-8 with a length prefix; the user's payload is the rest, never length-prefixed.
Layout in docs/protocol.md, "Work queues and publish/subscribe".
"""
from __future__ import annotations

import struct
from typing import List, NamedTuple, Optional, Sequence, Tuple

from ..exceptions import WireError

QUEUE_MAGIC = b"\x00SZQ"
PUBSUB_MAGIC = b"\x00SZP"

# work queue kinds
SERVE, GRANT, WANT, JOB, RESULT, RECALL = 1, 2, 3, 4, 5, 6
# pub/sub kinds
SUBSCRIBE, PUBLICATION = 1, 2

_QUEUE_HEAD = struct.Struct("!4sBIIB")  #: magic, kind, session, count, flag
_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
MAX_NAME_BYTES = 255  #: a queue name or job id
MAX_TOPIC_BYTES = 65535


class QueueFrame(NamedTuple):
    """One work-queue message. Which fields mean something depends on ``kind``
    (docs/protocol.md): ``credit`` is a credit grant (SERVE, GRANT, RESULT) or the credit
    given back (WANT), ``flag`` is "wanting" (WANT) or "succeeded" (RESULT)."""
    kind: int
    queue: str
    session: int
    credit: int = 0
    flag: bool = False
    job_id: bytes = b""
    payload: bytes = b""


def encode_queue(frame: QueueFrame) -> bytes:
    queue = frame.queue.encode("utf-8")
    if len(queue) > MAX_NAME_BYTES or len(frame.job_id) > MAX_NAME_BYTES:
        raise ValueError("queue names and job ids are at most %d bytes" % MAX_NAME_BYTES)
    return b"".join((_QUEUE_HEAD.pack(QUEUE_MAGIC, frame.kind, frame.session, frame.credit,
                                      frame.flag), _U8.pack(len(queue)), queue,
                     _U8.pack(len(frame.job_id)), frame.job_id, frame.payload))


def decode_queue(data: bytes) -> Optional[QueueFrame]:
    """The frame in ``data``; None if it is not a work-queue message. Raises WireError."""
    if not data.startswith(QUEUE_MAGIC):
        return None
    try:
        _, kind, session, count, flag = _QUEUE_HEAD.unpack_from(data)
        queue, offset = _short(data, _QUEUE_HEAD.size, _U8)
        job_id, offset = _short(data, offset, _U8)
        if not SERVE <= kind <= RECALL or flag > 1:
            raise ValueError("kind %d, flag %d" % (kind, flag))
        return QueueFrame(kind, queue.decode("utf-8"), session, count, bool(flag), job_id,
                          data[offset:])
    except (struct.error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise WireError("malformed work-queue message (%d bytes): %s" % (len(data), exc)) from exc


def encode_subscribe(prefixes: Sequence[str]) -> bytes:
    parts = [PUBSUB_MAGIC, _U8.pack(SUBSCRIBE), _U16.pack(len(prefixes))]
    for prefix in prefixes:
        parts += _string(prefix)
    return b"".join(parts)


def encode_publication(topic: str, data: bytes) -> bytes:
    return b"".join([PUBSUB_MAGIC, _U8.pack(PUBLICATION), *_string(topic), data])


def decode_pubsub(data: bytes) -> Optional[Tuple[int, List[str], bytes]]:
    """``(SUBSCRIBE, prefixes, b"")`` or ``(PUBLICATION, [topic], payload)``; None if ``data``
    is not a pub/sub message. Raises WireError."""
    if not data.startswith(PUBSUB_MAGIC):
        return None
    try:
        (kind,) = _U8.unpack_from(data, len(PUBSUB_MAGIC))
        offset = len(PUBSUB_MAGIC) + 1
        if kind == PUBLICATION:
            topic, offset = _short(data, offset, _U16)
            return PUBLICATION, [topic.decode("utf-8")], data[offset:]
        if kind != SUBSCRIBE:
            raise ValueError("unknown kind %d" % kind)
        (n,) = _U16.unpack_from(data, offset)
        prefixes, offset = [], offset + _U16.size
        for _ in range(n):
            prefix, offset = _short(data, offset, _U16)
            prefixes.append(prefix.decode("utf-8"))
        if offset != len(data):
            raise ValueError("%d bytes after the prefixes" % (len(data) - offset))
        return SUBSCRIBE, prefixes, b""
    except (struct.error, ValueError) as exc:
        raise WireError("malformed pub/sub message (%d bytes): %s" % (len(data), exc)) from exc


def _string(text: str) -> Tuple[bytes, bytes]:
    raw = text.encode("utf-8")
    if len(raw) > MAX_TOPIC_BYTES:
        raise ValueError("topics and prefixes are at most %d bytes in UTF-8" % MAX_TOPIC_BYTES)
    return _U16.pack(len(raw)), raw


def _short(data: bytes, offset: int, length: struct.Struct) -> Tuple[bytes, int]:
    """A length-prefixed byte string at ``offset``; returns it and the offset after it."""
    (size,) = length.unpack_from(data, offset)
    start = offset + length.size
    if start + size > len(data):
        raise ValueError("a field of %d bytes runs past the end" % size)
    return data[start:start + size], start + size
