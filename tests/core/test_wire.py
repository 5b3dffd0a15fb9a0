"""The codec: round trips, one test per malformed-input class, and fuzzing.

Every malformed input must raise ``WireError`` and nothing else
(``pytest.raises(WireError)`` lets any other exception fail the test).
"""
import struct

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from snakezmq._core import wire
from snakezmq._core.wire import MAGIC, LinkFrame, LinkKind, MessagingKind, WireMessage
from snakezmq.exceptions import WireError
from snakezmq.message import FLAG_PERSISTENT, Message

NONCE = b"n0nce-08"
FUZZ = settings(max_examples=150, deadline=None, database=None)

LINK_FIELDS = {
    LinkKind.HELLO: (MAGIC, wire.LINK_VERSION, NONCE, True),
    LinkKind.WELCOME: (wire.LINK_VERSION, NONCE),
    LinkKind.REFUSE: ("version", "we speak 1"),
    LinkKind.PROBE: (MAGIC, wire.LINK_VERSION, b"alice", NONCE),
    LinkKind.PROBED: ("duplicate", "in use"),
}
LINK_BODY = {LinkKind.DATA: [b"packet"], LinkKind.PART: [b"chunk"],
             LinkKind.PACKETS: [wire.encode_packets([b"a", b"bc"])]}


def valid_link(kind):
    return [wire.encode_link(kind, *LINK_FIELDS.get(kind, ()))] + LINK_BODY.get(kind, [])


def raw(kind, fields):
    """A header with arbitrary (possibly invalid) msgpack fields."""
    return bytes([kind]) + msgpack.packb(fields, use_bin_type=True)


def framed(packed, payload=b""):
    """A MESSAGES packet around an already packed header."""
    return bytes([MessagingKind.MESSAGES]) + struct.pack("!I", len(packed)) + packed + payload


def messages_packet(header, payload=b""):
    return framed(msgpack.packb(header, use_bin_type=True), payload)


def deep(levels):
    return b"\x91" * levels + b"\xc0"  # [[[...[nil]...]]]


WIRE_MESSAGES = [(Message(b"hello", uuid=b"u" * 16), 5),
                 (Message(b"", uuid=b"e"), None),
                 (Message(b"x" * 3000, flags=FLAG_PERSISTENT | 0xFFFF0000), 0),
                 (Message(b"\x00last"), wire.UINT32_MAX)]


def encode(first_seq, items, ack=0):
    """A MESSAGES packet from ``(message, wire_ttl)`` pairs."""
    return wire.encode_messages(first_seq, [m for m, _ in items], [ttl for _, ttl in items], ack)


RESUME = wire.Resume((NONCE, 3), 41, 7, 40, True)
VALID_PACKETS = [wire.encode_ident("alice", NONCE), encode(3, WIRE_MESSAGES, ack=9),
                 wire.encode_ack(7, 5, True), wire.PING_PACKET, wire.PONG_PACKET,
                 wire.encode_resume(RESUME)]  # in MessagingKind order


# -- round trips ----------------------------------------------------------------------------------

OPTIONAL_ABSENT = {LinkKind.HELLO: (None, None), LinkKind.WELCOME: (None,), LinkKind.PROBE: (None,)}


@pytest.mark.parametrize("kind", list(LinkKind))
def test_link_round_trip(kind):
    assert wire.decode_link(valid_link(kind)) == LinkFrame(
        kind, LINK_FIELDS.get(kind, ()) + OPTIONAL_ABSENT.get(kind, ()), LINK_BODY.get(kind, []))


@pytest.mark.parametrize("extra, decoded", [
    (["10.0.0.1:5000"], "10.0.0.1:5000"),
    (["10.0.0.1:5000", "later"], "10.0.0.1:5000"),
    ([42], None),  # invalid optional field: as if absent
    (["x" * 65], None),
])
def test_hello_optional_local_address(extra, decoded):
    frame = wire.decode_link([wire.encode_link(LinkKind.HELLO, *LINK_FIELDS[LinkKind.HELLO], *extra)])
    assert frame.fields[:5] == LINK_FIELDS[LinkKind.HELLO] + (decoded,)


@pytest.mark.parametrize("kind, known", [(LinkKind.HELLO, ("",)), (LinkKind.WELCOME, ())])
@pytest.mark.parametrize("limit, decoded", [(65536, 65536), (0, 0), (-1, None), ("64k", None)])
def test_optional_packets_limit(kind, known, limit, decoded):
    """HELLO's and WELCOME's packets_limit: absent, or invalid, reads as None (send no PACKETS)."""
    frame = wire.decode_link([wire.encode_link(kind, *LINK_FIELDS[kind], *known, limit, "later")])
    assert frame.fields[-1] == decoded


@pytest.mark.parametrize("status", ["duplicate", "retry", "wait"])
def test_probed_statuses(status):
    assert wire.decode_link([wire.encode_link(LinkKind.PROBED, status, "")]).fields == (status, "")


def test_later_versions_may_append_fields():
    frame = wire.decode_link([wire.encode_link(LinkKind.WELCOME, 2, NONCE, 7, "new", [1])])
    assert frame.fields == (2, NONCE, 7)


@pytest.mark.parametrize("packets", [[b"one", b"two"], [b"", b"x" * 70000, b""], [b"only"]])
def test_packets_round_trip(packets):
    assert wire.decode_packets(wire.encode_packets(packets)) == packets


BAD_PACKETS = {
    "empty": b"",
    "count cut short": b"\x00\x00\x01",
    "no packets": struct.pack("!I", 0),
    "lengths cut short": struct.pack("!II", 2, 1) + b"a",
    "huge count": struct.pack("!I", 0xFFFFFFFF) + b"abc",
    "data shorter than the lengths": struct.pack("!III", 2, 1, 5) + b"abc",
    "data longer than the lengths": struct.pack("!III", 2, 1, 1) + b"abc",
}


@pytest.mark.parametrize("body", BAD_PACKETS.values(), ids=BAD_PACKETS.keys())
def test_malformed_packets(body):
    with pytest.raises(WireError):
        wire.decode_packets(body)


def test_data_may_carry_a_detached_payload():
    assert wire.decode_link([wire.encode_link(LinkKind.DATA), b"p", b"payload"]).body == [b"p", b"payload"]


def test_data_body_may_be_empty():
    assert wire.decode_link([wire.encode_link(LinkKind.DATA), b""]).body == [b""]


@pytest.mark.parametrize("ident", ["alice", "", "žluťoučký kůň", "x" * 300])
def test_ident_round_trip(ident):
    assert wire.decode_ident(wire.encode_ident(ident, NONCE)) == (wire.MESSAGING_VERSION, ident, NONCE)


@pytest.mark.parametrize("seq", [0, 1, 2 ** 32, 2 ** 63 - 1])
def test_ack_round_trip(seq):
    assert wire.decode_ack(wire.encode_ack(seq, seq // 2, True)) == (seq, seq // 2, True)


@pytest.mark.parametrize("resume", [RESUME, wire.Resume(None, 0, 1, 0, False)], ids=["known", "unknown"])
def test_resume_round_trip(resume):
    assert wire.decode_resume(wire.encode_resume(resume)) == resume


def test_messages_carry_the_confirmation():
    packet = wire.encode_messages(3, [WIRE_MESSAGES[0][0]], [5], ack=2, confirmed=9, restoring=True)
    decoded = wire.decode_messages(packet)
    assert (decoded.confirmed, decoded.restoring) == (9, True)


@pytest.mark.parametrize("items", [WIRE_MESSAGES, WIRE_MESSAGES[1:2], []], ids=["several", "one", "none"])
def test_messages_round_trip(items):
    decoded = wire.decode_messages(encode(3, items, ack=7))
    assert (decoded.first_seq, decoded.ack) == (3, 7)
    assert decoded.messages() == [
        WireMessage(3 + i, m.uuid, ttl, m.flags, m.data) for i, (m, ttl) in enumerate(items)]
    assert all(type(data) is bytes for data in decoded.datas)


def test_messages_with_a_detached_payload():
    message = Message(b"x" * 100000, flags=3)
    head = wire.encode_messages(4, [message], [None], ack=2, detached=True)
    assert len(head) < 100
    decoded = wire.decode_messages(head, message.data)
    assert decoded.messages() == [WireMessage(4, message.uuid, None, 3, message.data)]
    assert decoded.datas[0] is message.data and decoded.ack == 2  # no copy
    with pytest.raises(ValueError):
        wire.encode_messages(1, [message, message], [None, None], detached=True)


DETACHED = wire.encode_messages(1, [Message(b"abc")], [None], detached=True)
BAD_DETACHED = {
    "payload shorter than announced": (DETACHED, b"ab"),
    "payload longer than announced": (DETACHED, b"abcd"),
    "payload in the packet too": (wire.encode_messages(1, [Message(b"abc")], [None]), b"abc"),
    "two messages": (wire.encode_messages(1, [Message(b"a"), Message(b"b")], [None, None])[:-2], b"ab"),
}


@pytest.mark.parametrize("packet, payload", BAD_DETACHED.values(), ids=BAD_DETACHED.keys())
def test_malformed_detached(packet, payload):
    with pytest.raises(WireError):
        wire.decode_messages(packet, payload)


@pytest.mark.parametrize("packet, kind", list(zip(VALID_PACKETS, MessagingKind)))
def test_messaging_kind(packet, kind):
    assert wire.messaging_kind(packet) is kind


@settings(FUZZ, max_examples=50)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=16), st.none() | st.integers(0, wire.UINT32_MAX),
                          st.integers(0, wire.UINT32_MAX), st.binary(max_size=40)), max_size=8),
       st.integers(0, 2 ** 62), st.integers(0, 2 ** 62))
def test_messages_round_trip_property(items, first_seq, ack):
    pairs = [(Message(data, flags=flags, uuid=uuid), ttl) for uuid, ttl, flags, data in items]
    decoded = wire.decode_messages(encode(first_seq, pairs, ack))
    assert decoded.ack == ack
    assert decoded.messages() == [WireMessage(first_seq + i, *item) for i, item in enumerate(items)]


# -- malformed input: one case per class ----------------------------------------------------------

BAD_LINK = {
    "empty message": [],
    "empty header": [b""],
    "unknown kind 0x00": [b"\x00"],
    "unknown kind 0xff": [b"\xff"],
    "DATA without body": [wire.encode_link(LinkKind.DATA)],
    "DATA with three bodies": [wire.encode_link(LinkKind.DATA), b"a", b"b", b"c"],
    "PART without body": [wire.encode_link(LinkKind.PART)],
    "PART with two bodies": [wire.encode_link(LinkKind.PART), b"a", b"b"],
    "PACKETS without body": [wire.encode_link(LinkKind.PACKETS)],
    "PACKETS with two bodies": [wire.encode_link(LinkKind.PACKETS), b"a", b"b"],
    "PING with a body": [wire.encode_link(LinkKind.PING), b"a"],
    "fields on a fieldless kind": [raw(LinkKind.PING, [])],
    "fields missing": [bytes([LinkKind.HELLO])],
    "truncated msgpack": [valid_link(LinkKind.HELLO)[0][:-3]],
    "trailing bytes after msgpack": [valid_link(LinkKind.WELCOME)[0] + b"\xc0"],
    "fields not an array (map)": [raw(LinkKind.WELCOME, {"version": 1})],
    "fields not an array (int)": [raw(LinkKind.WELCOME, 1)],
    "too few fields": [raw(LinkKind.WELCOME, [1])],
    "version not an int": [raw(LinkKind.WELCOME, ["1", NONCE])],
    "version is a bool": [raw(LinkKind.WELCOME, [True, NONCE])],
    "negative version": [raw(LinkKind.HELLO, [MAGIC, -1, NONCE, True])],
    "rid_is_ident not a bool": [raw(LinkKind.HELLO, [MAGIC, 1, NONCE, 1])],
    "bad magic": [raw(LinkKind.HELLO, ["SZMX", 1, NONCE, True])],
    "magic as bytes": [raw(LinkKind.PROBE, [b"SZMQ", 1, b"a", NONCE])],
    "nonce too short": [raw(LinkKind.HELLO, [MAGIC, 1, NONCE[:7], True])],
    "nonce too long": [raw(LinkKind.WELCOME, [1, NONCE + b"!"])],
    "nonce as str": [raw(LinkKind.WELCOME, [1, NONCE.decode()])],
    "REFUSE code not str": [raw(LinkKind.REFUSE, [1, "text"])],
    "PROBE empty ident": [raw(LinkKind.PROBE, [MAGIC, 1, b"", NONCE])],
    "PROBE ident too long": [raw(LinkKind.PROBE, [MAGIC, 1, b"x" * 256, NONCE])],
    "PROBED unknown status": [raw(LinkKind.PROBED, ["maybe", ""])],
    "invalid UTF-8 str": [bytes([LinkKind.REFUSE]) + b"\x92\xa1\xff\xa1a"],
    "non-str map key": [raw(LinkKind.REFUSE, [{1: 2}, ""])],
    "deep nesting": [bytes([LinkKind.WELCOME]) + deep(100000)],
    "huge declared length": [bytes([LinkKind.REFUSE]) + b"\x91\xdb\xff\xff\xff\xff"],
}


@pytest.mark.parametrize("frames", BAD_LINK.values(), ids=BAD_LINK.keys())
def test_malformed_link(frames):
    with pytest.raises(WireError):
        wire.decode_link(frames)


UUID = b"u" * 16


def column_packet(uuid=UUID, ttl=None, flags=0, length=0, payload=b""):
    """A one-message MESSAGES packet with the given (possibly invalid) column values."""
    return messages_packet([1, 0, [uuid], [ttl], [flags], [length], 0, False], payload)


BAD_PACKETS = {
    "kind: empty packet": (wire.messaging_kind, b""),
    "kind: unknown 0x00": (wire.messaging_kind, b"\x00"),
    "kind: unknown 0x07": (wire.messaging_kind, b"\x07"),
    "ident: no fields": (wire.decode_ident, b"\x01"),
    "ident: not an array": (wire.decode_ident, raw(1, "alice")),
    "ident: too few fields": (wire.decode_ident, raw(1, [1, "alice"])),
    "ident: version not an int": (wire.decode_ident, raw(1, ["1", "alice", NONCE])),
    "ident: negative version": (wire.decode_ident, raw(1, [-1, "alice", NONCE])),
    "ident: ident as bytes": (wire.decode_ident, raw(1, [1, b"alice", NONCE])),
    "ident: incarnation wrong length": (wire.decode_ident, raw(1, [1, "alice", NONCE[:4]])),
    "ident: deep nesting": (wire.decode_ident, b"\x01" + deep(100000)),
    "ack: no fields": (wire.decode_ack, b"\x03"),
    "ack: empty array": (wire.decode_ack, raw(3, [])),
    "ack: not an array": (wire.decode_ack, raw(3, 5)),
    "ack: seq not an int": (wire.decode_ack, raw(3, ["5"])),
    "ack: negative seq": (wire.decode_ack, raw(3, [-5])),
    "ack: seq is a bool": (wire.decode_ack, raw(3, [True])),
    "ack: truncated": (wire.decode_ack, raw(3, [2 ** 40])[:-2]),
    "ack: no confirmation": (wire.decode_ack, raw(3, [5])),
    "ack: negative confirmation": (wire.decode_ack, raw(3, [5, -1, False])),
    "ack: restoring not a bool": (wire.decode_ack, raw(3, [5, 1, 0])),
    "resume: too few fields": (wire.decode_resume, raw(6, [None, 0, 0, 1, 0])),
    "resume: incarnation wrong length": (wire.decode_resume, raw(6, [NONCE[:3], 1, 0, 1, 0, False])),
    "resume: negative delivered": (wire.decode_resume, raw(6, [NONCE, 1, -1, 1, 0, False])),
    "resume: epoch not an int": (wire.decode_resume, raw(6, [None, 0, 0, "1", 0, False])),
    "resume: restoring not a bool": (wire.decode_resume, raw(6, [None, 0, 0, 1, 0, None])),
    "messages: empty packet": (wire.decode_messages, b""),
    "messages: truncated header length": (wire.decode_messages, b"\x02\x00\x00"),
    "messages: header length beyond packet": (wire.decode_messages, b"\x02\x00\x00\x00\x09\x92\x01\x00"),
    "messages: header length over the maximum": (
        wire.decode_messages, b"\x02" + struct.pack("!I", wire.MAX_HEADER_BYTES + 1)
        + b"\xc0" * (wire.MAX_HEADER_BYTES + 1)),
    "messages: empty header": (wire.decode_messages, b"\x02\x00\x00\x00\x00"),
    "messages: truncated header msgpack": (wire.decode_messages, b"\x02\x00\x00\x00\x02\x92\x01"),
    "messages: header not an array": (wire.decode_messages, messages_packet({"n": 0})),
    "messages: header too short": (wire.decode_messages, messages_packet([1, 0, [], [], []])),
    "messages: seq not an int": (wire.decode_messages, messages_packet(["1", 0, [], [], [], [], 0, False])),
    "messages: negative ack": (wire.decode_messages, messages_packet([1, -1, [], [], [], [], 0, False])),
    "messages: no confirmation": (wire.decode_messages, messages_packet([1, 0, [], [], [], []])),
    "messages: negative confirmation": (wire.decode_messages, messages_packet([1, 0, [], [], [], [], -1, False])),
    "messages: restoring not a bool": (wire.decode_messages, messages_packet([1, 0, [], [], [], [], 0, 1])),
    "messages: column not an array": (
        wire.decode_messages, messages_packet([1, 0, UUID, [None], [0], [0], 0, False])),
    "messages: columns of different lengths": (
        wire.decode_messages, messages_packet([1, 0, [UUID, UUID], [None], [0], [0], 0, False])),
    "messages: uuid too long": (wire.decode_messages, column_packet(uuid=b"u" * 17)),
    "messages: uuid empty": (wire.decode_messages, column_packet(uuid=b"")),
    "messages: uuid as str": (wire.decode_messages, column_packet(uuid="u")),
    "messages: ttl beyond uint32": (wire.decode_messages, column_packet(ttl=2 ** 32)),
    "messages: negative ttl": (wire.decode_messages, column_packet(ttl=-1)),
    "messages: float ttl": (wire.decode_messages, column_packet(ttl=1.5)),
    "messages: bool ttl": (wire.decode_messages, column_packet(ttl=True)),
    "messages: flags beyond uint32": (wire.decode_messages, column_packet(flags=2 ** 32)),
    "messages: negative flags": (wire.decode_messages, column_packet(flags=-1)),
    "messages: negative length": (wire.decode_messages, column_packet(length=-1, payload=b"x")),
    "messages: length beyond payload": (wire.decode_messages, column_packet(length=5, payload=b"abc")),
    "messages: trailing bytes": (wire.decode_messages, column_packet(length=1, payload=b"abc")),
    "messages: trailing bytes, no messages": (
        wire.decode_messages, messages_packet([1, 0, [], [], [], [], 0, False], b"x")),
    "messages: deep nesting": (wire.decode_messages, framed(deep(100000))),
}


@pytest.mark.parametrize("decode, packet", BAD_PACKETS.values(), ids=BAD_PACKETS.keys())
def test_malformed_messaging(decode, packet):
    with pytest.raises(WireError):
        decode(packet)


def test_error_text_is_bounded():
    with pytest.raises(WireError) as info:
        wire.decode_link([raw(LinkKind.REFUSE, [b"x" * 100000, ""])])
    assert len(str(info.value)) <= 300


# -- fuzzing: only WireError may come out ---------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 64 - 1) | st.text(max_size=6)
           | st.binary(max_size=17))
field_arrays = st.lists(scalars | st.lists(scalars, max_size=2), max_size=8)  # msgpack-shaped headers
mutations = st.binary(min_size=3, max_size=12)  # (operation, position, byte) triples
DECODERS = [wire.messaging_kind, wire.decode_ident, wire.decode_ack, wire.decode_messages,
            wire.decode_resume, wire.decode_packets]


def decodes_or_wire_error(frames=None, packet=None):
    """Feed the link decoder ``frames`` and every messaging decoder ``packet``."""
    calls = ([(wire.decode_link, frames)] if frames is not None else []) + (
        [(decode, packet) for decode in DECODERS] if packet is not None else [])
    for decode, arg in calls:
        try:
            result = decode(arg)
        except WireError:
            continue
        assert decode is not wire.decode_link or isinstance(result, LinkFrame)



def mutate(blob, operations):
    """Replace, insert, delete or cut at each (operation, position, byte) triple."""
    for op, position, byte in zip(*[iter(operations)] * 3):
        i = position % (len(blob) + 1)
        blob = [blob[:i] + bytes([byte]) + blob[i + 1:], blob[:i] + bytes([byte]) + blob[i:],
                blob[:i] + blob[i + 1:], blob[:i]][op % 4]
    return blob


@FUZZ
@given(st.lists(st.binary(max_size=40), max_size=4))
def test_fuzz_any_frames(frames):
    decodes_or_wire_error(frames=frames)


@FUZZ
@given(st.sampled_from(list(MessagingKind)), st.binary(max_size=80))
def test_fuzz_any_bytes_after_kind(kind, tail):
    decodes_or_wire_error(packet=bytes([kind]) + tail)


@FUZZ
@given(st.sampled_from(list(LinkKind)), field_arrays | scalars, st.binary(max_size=8))
def test_fuzz_msgpack_fields(kind, fields, payload):
    packed = msgpack.packb(fields, use_bin_type=True)
    decodes_or_wire_error(frames=[bytes([kind]) + packed] + [payload] * (kind is LinkKind.DATA),
                          packet=bytes([kind]) + packed)
    decodes_or_wire_error(packet=framed(packed, payload))


@FUZZ
@given(st.sampled_from(list(LinkKind)), st.integers(0, 2), st.sampled_from(VALID_PACKETS), mutations)
def test_fuzz_mutated_valid_frames(kind, body_frames, packet, operations):
    decodes_or_wire_error(frames=[mutate(valid_link(kind)[0], operations)] + [b"p"] * body_frames,
                          packet=mutate(packet, operations))
