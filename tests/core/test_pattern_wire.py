"""The work-queue and pub/sub message codec: round trips, foreign payloads, malformed ones."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snakezmq._core.pattern_wire import (JOB, PUBLICATION, PUBSUB_MAGIC, QUEUE_MAGIC, RECALL, RESULT,
                                         SUBSCRIBE, QueueFrame, decode_pubsub, decode_queue,
                                         encode_publication, encode_queue, encode_subscribe)
from snakezmq.exceptions import SnakeMQBrokenMessage, WireError

frames = st.builds(QueueFrame, kind=st.integers(1, RECALL), queue=st.text(max_size=20),
                   session=st.integers(0, 2 ** 32 - 1), credit=st.integers(0, 2 ** 32 - 1),
                   flag=st.booleans(), job_id=st.binary(max_size=16), payload=st.binary(max_size=50))


@settings(max_examples=200, deadline=None)
@given(frames)
def test_queue_frames_round_trip(frame):
    assert decode_queue(encode_queue(frame)) == frame


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=10), max_size=5), st.text(max_size=10), st.binary(max_size=50))
def test_pubsub_messages_round_trip(prefixes, topic, data):
    assert decode_pubsub(encode_subscribe(prefixes)) == (SUBSCRIBE, prefixes, b"")
    assert decode_pubsub(encode_publication(topic, data)) == (PUBLICATION, [topic], data)


def test_other_payloads_are_not_ours():
    assert decode_queue(b"hello") is None and decode_pubsub(b"") is None
    assert decode_queue(encode_publication("t", b"")) is None
    assert decode_pubsub(encode_queue(QueueFrame(JOB, "q", 1))) is None


@pytest.mark.parametrize("data", [
    QUEUE_MAGIC + b"\x01",  # truncated header
    QUEUE_MAGIC + b"\x09" + bytes(11),  # unknown kind
    QUEUE_MAGIC + b"\x01" + bytes(8) + b"\x02" + b"\x00\x00",  # flag 2
    QUEUE_MAGIC + b"\x01" + bytes(9) + b"\x05ab",  # queue name past the end
    QUEUE_MAGIC + b"\x01" + bytes(9) + b"\x01\xff\x00",  # not UTF-8
    PUBSUB_MAGIC,  # no kind
    PUBSUB_MAGIC + b"\x07",  # unknown kind
    PUBSUB_MAGIC + b"\x02\x00\x05ab",  # topic past the end
    PUBSUB_MAGIC + b"\x01\x00\x02\x00\x01a",  # one prefix of two
    PUBSUB_MAGIC + b"\x01\x00\x00extra",  # bytes after the prefixes
])
def test_malformed_messages_raise_wire_error(data):
    decode = decode_queue if data.startswith(QUEUE_MAGIC) else decode_pubsub
    with pytest.raises(WireError) as caught:
        decode(data)
    assert isinstance(caught.value, SnakeMQBrokenMessage)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([QUEUE_MAGIC, PUBSUB_MAGIC]), st.binary(max_size=40))
def test_any_bytes_after_a_magic_decode_or_raise_wire_error(magic, rest):
    try:
        (decode_queue if magic == QUEUE_MAGIC else decode_pubsub)(magic + rest)
    except WireError:
        pass


def test_local_misuse_raises_value_error():
    with pytest.raises(ValueError):
        encode_queue(QueueFrame(RESULT, "q" * 256, 1))
    with pytest.raises(ValueError):
        encode_publication("t" * 70000, b"")
