"""Encode and decode snakezmq frames (see docs/protocol.md).

Pure functions. ``decode_*`` raise ``WireError`` for anything malformed, and
nothing else: this is the one place that turns foreign errors into ours.
"""
from __future__ import annotations

import enum
import itertools
import struct
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import msgpack

from ..exceptions import WireError

MAGIC = "SZMQ"
LINK_VERSION = 1
MESSAGING_VERSION = 2
NONCE_BYTES = 8
MAX_HEADER_BYTES = 1 << 20
UINT32_MAX = 0xFFFFFFFF
_HEADER_LENGTH = struct.Struct("!I")


class LinkKind(enum.IntEnum):
    HELLO = 0x01
    WELCOME = 0x02
    REFUSE = 0x03
    PING = 0x04
    PONG = 0x05
    BYE = 0x06
    PROBE = 0x07
    PROBED = 0x08
    RESET = 0x09
    DATA = 0x10
    PART = 0x11  #: a leading part of the next DATA's packet (a Throttle's chunks)
    PACKETS = 0x12  #: several packets, as that many DATA would carry them (``encode_packets``)


class MessagingKind(enum.IntEnum):
    IDENT = 0x01
    MESSAGES = 0x02
    ACK = 0x03
    PING = 0x04
    PONG = 0x05
    RESUME = 0x06


class LinkFrame(NamedTuple):
    """A decoded link-layer message: its kind, header fields and body frames."""
    kind: LinkKind
    fields: Tuple[Any, ...]
    body: Sequence[Any]


class WireMessage(NamedTuple):
    """One message inside a MESSAGES packet."""
    seq: int
    uuid: bytes
    ttl: Optional[int]
    flags: int
    data: bytes


def _is_uint(value: Any, limit: int = (1 << 63) - 1) -> bool:
    return type(value) is int and 0 <= value <= limit


def _is_nonce(value: Any) -> bool:
    return type(value) is bytes and len(value) == NONCE_BYTES


# Field validators per link kind: one predicate per field.
_LINK_FIELDS: Dict[LinkKind, Tuple[Callable[[Any], bool], ...]] = {
    LinkKind.HELLO: (lambda v: v == MAGIC, _is_uint, _is_nonce, lambda v: type(v) is bool),
    LinkKind.WELCOME: (_is_uint, _is_nonce),
    LinkKind.REFUSE: (lambda v: type(v) is str, lambda v: type(v) is str),
    LinkKind.PROBE: (lambda v: v == MAGIC, _is_uint,
                     lambda v: type(v) is bytes and 0 < len(v) <= 255, _is_nonce),
    LinkKind.PROBED: (lambda v: v in ("duplicate", "retry", "wait"), lambda v: type(v) is str),
}
def _is_address(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 64


#: Optional trailing fields a newer peer may send: decoded if present and valid, else None.
_LINK_OPTIONAL_FIELDS: Dict[LinkKind, Tuple[Callable[[Any], bool], ...]] = {
    # local_address: the connector's "ip:port"; packets_limit: the largest PACKETS body
    # frame this side accepts (absent or 0: send it none)
    LinkKind.HELLO: (_is_address, _is_uint),
    LinkKind.WELCOME: (_is_uint,),  # packets_limit
    LinkKind.PROBE: (_is_address,),
}
#: body frames allowed per kind: DATA carries a packet, or a packet and its detached payload;
#: PART one leading piece of the packet that the next DATA completes; PACKETS the packets
_LINK_BODY_FRAMES = {LinkKind.DATA: (1, 2), LinkKind.PART: (1,), LinkKind.PACKETS: (1,)}
_KIND_BYTES = {kind: bytes([kind]) for kind in LinkKind}
_LINK_KINDS = {int(kind): kind for kind in LinkKind}  # a dict lookup is cheaper than LinkKind(byte)
_MESSAGING_KINDS = {int(kind): kind for kind in MessagingKind}


def _unpack_fields(raw: Union[bytes, memoryview], what: str) -> List[Any]:
    try:
        fields = msgpack.unpackb(raw, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack may raise anything on garbage: convert here only
        raise WireError("%s: undecodable fields (%s)" % (what, exc)) from exc
    if type(fields) is not list:
        raise WireError("%s: fields must be an array" % what)
    return fields


def encode_link(kind: LinkKind, *fields: Any) -> bytes:
    """The header frame for ``kind`` with ``fields``."""
    if not fields:
        return _KIND_BYTES[kind]
    packed: bytes = msgpack.packb(list(fields), use_bin_type=True)
    return _KIND_BYTES[kind] + packed


def decode_link(frames: Sequence[Any]) -> LinkFrame:
    """Decode one link-layer message (the frames after the routing id)."""
    if not frames:
        raise WireError("empty message")
    header = bytes(frames[0])
    if not header:
        raise WireError("empty header frame")
    kind = _LINK_KINDS.get(header[0])
    if kind is None:
        raise WireError("unknown link frame kind 0x%02x" % header[0])
    body = frames[1:]
    if len(body) not in _LINK_BODY_FRAMES.get(kind, (0,)):
        raise WireError("%s: expected %s body frame(s), got %d" % (
            kind.name, " or ".join(map(str, _LINK_BODY_FRAMES.get(kind, (0,)))), len(body)))
    validators = _LINK_FIELDS.get(kind, ())
    if not validators:
        if len(header) != 1:
            raise WireError("%s: unexpected header fields" % kind.name)
        return LinkFrame(kind, (), body)
    fields = _unpack_fields(header[1:], kind.name)
    if len(fields) < len(validators):
        raise WireError("%s: expected %d fields, got %d" % (kind.name, len(validators), len(fields)))
    for index, (valid, value) in enumerate(zip(validators, fields)):
        if not valid(value):
            raise WireError(("%s: field %d is invalid: %r" % (kind.name, index, value))[:200])
    optional = [value if valid(value) else None for valid, value in itertools.zip_longest(
        _LINK_OPTIONAL_FIELDS.get(kind, ()), fields[len(validators):]) if valid is not None]
    return LinkFrame(kind, tuple(fields[:len(validators)] + optional), body)  # the rest: later versions


_COUNT = struct.Struct("!I")
PACKETS_OVERHEAD = 4  #: bytes of a PACKETS body besides its packets and their lengths
PACKET_OVERHEAD = 4  #: bytes of a PACKETS body per packet, besides the packet


def encode_packets(packets: Sequence[bytes]) -> bytes:
    """A PACKETS body: the count, each packet's length (uint32, network order), the packets."""
    count = len(packets)
    return b"".join([_COUNT.pack(count), struct.pack("!%dI" % count, *map(len, packets)), *packets])


def decode_packets(body: bytes) -> List[bytes]:
    """The packets of a PACKETS body, in order."""
    if len(body) < PACKETS_OVERHEAD:
        raise WireError("PACKETS: body of %d bytes" % len(body))
    count = _COUNT.unpack_from(body)[0]
    start = PACKETS_OVERHEAD + PACKET_OVERHEAD * count
    if count == 0 or start > len(body):
        raise WireError("PACKETS: %d packets in a body of %d bytes" % (count, len(body)))
    lengths = struct.unpack_from("!%dI" % count, body, PACKETS_OVERHEAD)
    if start + sum(lengths) != len(body):
        raise WireError("PACKETS: the packets' lengths do not add up to the body")
    packets = []
    for length in lengths:
        end = start + length
        packets.append(body[start:end])
        start = end
    return packets


def encode_ident(ident: str, incarnation: bytes) -> bytes:
    packed: bytes = msgpack.packb([MESSAGING_VERSION, ident, incarnation], use_bin_type=True)
    return bytes([MessagingKind.IDENT]) + packed


def encode_ack(upto_seq: int, confirmed: int = 0, restoring: bool = False) -> bytes:
    """ACK of the peer's messages up to ``upto_seq``, with this side's confirmation
    (acks processed up to ``confirmed``; ``restoring``: messages restored from storage left)."""
    packed: bytes = msgpack.packb([upto_seq, confirmed, restoring])
    return bytes([MessagingKind.ACK]) + packed


class Resume(NamedTuple):
    """A RESUME packet: what the sender knows of the receiver's stream to it, and its own."""
    known: Optional[Tuple[bytes, int]]  #: the peer's stream (incarnation, epoch) we have a record of
    delivered: int  #: ... and how far we delivered it
    epoch: int  #: our stream to the peer
    confirmed: int
    restoring: bool


def encode_resume(resume: Resume) -> bytes:
    incarnation, epoch = resume.known if resume.known is not None else (None, 0)
    packed: bytes = msgpack.packb([incarnation, epoch, resume.delivered, resume.epoch,
                                   resume.confirmed, resume.restoring], use_bin_type=True)
    return bytes([MessagingKind.RESUME]) + packed


def decode_resume(packet: bytes) -> Resume:
    fields = _unpack_fields(packet[1:], "RESUME")
    if len(fields) < 6:
        raise WireError("RESUME: expected 6 fields, got %d" % len(fields))
    incarnation, known_epoch, delivered, epoch, confirmed, restoring = fields[:6]
    if not (incarnation is None or _is_nonce(incarnation)) or not all(
            _is_uint(value) for value in (known_epoch, delivered, epoch, confirmed)) \
            or type(restoring) is not bool:
        raise WireError("RESUME: invalid fields")
    known = None if incarnation is None else (incarnation, known_epoch)
    return Resume(known, delivered, epoch, confirmed, restoring)


PING_PACKET = bytes([MessagingKind.PING])
PONG_PACKET = bytes([MessagingKind.PONG])


def encode_messages(first_seq: int, messages: Sequence[Any], wire_ttls: Sequence[Optional[int]],
                    ack: int = 0, detached: bool = False, confirmed: int = 0,
                    restoring: bool = False) -> bytes:
    """A MESSAGES packet: ``messages`` (with ``uuid``, ``flags``, ``data``) numbered from
    ``first_seq``, their wire ttls (int or None), a piggybacked ACK (0: none) and the
    sender's confirmation (see ``encode_ack``).

    ``detached``: the packet leaves out the payload of its one message, which travels
    as a frame of its own (a large message is then never copied into the packet).
    """
    if len(messages) == 1:  # request/response: no list comprehensions
        message = messages[0]
        datas = [message.data]
        columns = [[message.uuid], wire_ttls, [message.flags], [len(message.data)]]
    else:
        datas = [message.data for message in messages]
        columns = [[message.uuid for message in messages], wire_ttls,
                   [message.flags for message in messages], [len(data) for data in datas]]
    packed = msgpack.packb([first_seq, ack, *columns, confirmed, restoring], use_bin_type=True)
    if detached:
        if len(messages) != 1:
            raise ValueError("only a packet of one message can have its payload detached")
        datas = []
    return b"".join([_MESSAGES_KIND, _HEADER_LENGTH.pack(len(packed)), packed, *datas])


_MESSAGES_KIND = bytes([MessagingKind.MESSAGES])


def messaging_kind(packet: bytes) -> MessagingKind:
    if not packet:
        raise WireError("empty messaging packet")
    kind = _MESSAGING_KINDS.get(packet[0])
    if kind is None:
        raise WireError("unknown messaging frame kind 0x%02x" % packet[0])
    return kind


def decode_ident(packet: bytes) -> Tuple[int, str, bytes]:
    """``(version, ident, incarnation)`` of an IDENT packet."""
    fields = _unpack_fields(packet[1:], "IDENT")
    if len(fields) < 3:
        raise WireError("IDENT: expected 3 fields, got %d" % len(fields))
    version, ident, incarnation = fields[:3]
    if not _is_uint(version) or type(ident) is not str or not _is_nonce(incarnation):
        raise WireError("IDENT: invalid fields")
    return version, ident, incarnation


def decode_ack(packet: bytes) -> Tuple[int, int, bool]:
    """``(upto_seq, confirmed, restoring)`` of an ACK packet."""
    fields = _unpack_fields(packet[1:], "ACK")
    if len(fields) < 3 or not _is_uint(fields[0]) or not _is_uint(fields[1]) \
            or type(fields[2]) is not bool:
        raise WireError("ACK: invalid fields")
    return fields[0], fields[1], fields[2]


class MessagesPacket(NamedTuple):
    """A decoded MESSAGES packet, by column: message *i* has sequence number ``first_seq + i``."""
    first_seq: int
    ack: int
    uuids: List[bytes]
    ttls: List[Optional[int]]
    flags: List[int]
    datas: List[bytes]
    confirmed: int = 0
    restoring: bool = False

    def messages(self) -> List[WireMessage]:
        return [WireMessage(self.first_seq + index, *fields)
                for index, fields in enumerate(zip(self.uuids, self.ttls, self.flags, self.datas))]


_INT = {int}
_BYTES = {bytes}
_TTL_TYPES = {int, type(None)}


def _uints(values: List[Any], limit: int) -> bool:
    """All ``values`` are ints in 0..limit (checked in C: types, then min and max)."""
    return not values or (set(map(type, values)) <= _INT and min(values) >= 0 and max(values) <= limit)


def decode_messages(packet: bytes, detached: Optional[bytes] = None) -> MessagesPacket:
    """A MESSAGES packet, validated column by column (cheap per message: no Python loop).

    ``detached``: the payload of the packet's one message, received as a frame of its own.
    """
    if len(packet) < 1 + _HEADER_LENGTH.size:
        raise WireError("MESSAGES: truncated header length")
    (header_length,) = _HEADER_LENGTH.unpack_from(packet, 1)
    start = 1 + _HEADER_LENGTH.size
    if header_length > len(packet) - start or header_length > MAX_HEADER_BYTES:
        raise WireError("MESSAGES: header length %d exceeds the packet" % header_length)
    header = _unpack_fields(memoryview(packet)[start:start + header_length], "MESSAGES")
    if len(header) < 8 or not _is_uint(header[0]) or not _is_uint(header[1]) \
            or not _is_uint(header[6]) or type(header[7]) is not bool:
        raise WireError("MESSAGES: invalid sequence header")
    first_seq, ack, uuids, ttls, flags, lengths, confirmed, restoring = header[:8]
    if not (type(uuids) is list and type(ttls) is list and type(flags) is list and type(lengths) is list):
        raise WireError("MESSAGES: columns must be arrays")
    count = len(uuids)
    if not len(ttls) == len(flags) == len(lengths) == count:
        raise WireError("MESSAGES: columns of different lengths")
    offset = start + header_length
    if detached is not None:
        if count != 1 or offset != len(packet):
            raise WireError("MESSAGES: a detached payload needs a packet of one message and no payload")
        packet, offset = detached, 0
    if count == 1:  # request/response: the same checks, without the column passes' overhead
        _check_one(uuids[0], ttls[0], flags[0], lengths[0], len(packet) - offset)
        return MessagesPacket(first_seq, ack, uuids, ttls, flags, [packet[offset:] if offset else packet],
                              confirmed, restoring)
    if count and not (set(map(type, uuids)) <= _BYTES and min(map(len, uuids)) > 0
                      and max(map(len, uuids)) <= 16):
        raise WireError("MESSAGES: invalid uuid")
    if not set(map(type, ttls)) <= _TTL_TYPES or not _uints([t for t in ttls if t is not None], UINT32_MAX):
        raise WireError("MESSAGES: invalid ttl")
    if not _uints(flags, UINT32_MAX) or not _uints(lengths, len(packet) - offset):
        raise WireError("MESSAGES: invalid flags or length")
    if offset + sum(lengths) != len(packet):
        raise WireError("MESSAGES: lengths add up to %d bytes, the payload has %d"
                        % (sum(lengths), len(packet) - offset))
    ends = list(itertools.accumulate(lengths, initial=offset))
    datas = [packet[begin:end] for begin, end in zip(ends, ends[1:])]
    return MessagesPacket(first_seq, ack, uuids, ttls, flags, datas, confirmed, restoring)


def _check_one(uuid: Any, ttl: Any, flags: Any, length: Any, payload_size: int) -> None:
    """decode_messages' column checks for a packet of one message."""
    if type(uuid) is not bytes or not 0 < len(uuid) <= 16:
        raise WireError("MESSAGES: invalid uuid")
    if ttl is not None and not _is_uint(ttl, UINT32_MAX):
        raise WireError("MESSAGES: invalid ttl")
    if not _is_uint(flags, UINT32_MAX) or not _is_uint(length):
        raise WireError("MESSAGES: invalid flags or length")
    if length != payload_size:
        raise WireError("MESSAGES: lengths add up to %d bytes, the payload has %d" % (length, payload_size))
