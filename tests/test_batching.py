"""MESSAGES packets never exceed the Packeter's limit, however many messages wait.

Pure: Messaging's batching (``_batch``) and the wire codec, no sockets; plus one
end-to-end check with a small ``max_packet_size``.
"""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from snakezmq._core import wire
from snakezmq.exceptions import PacketTooLarge
from snakezmq.message import Message
from snakezmq._core.batching import BATCH_COUNT, MESSAGE_OVERHEAD, batch_ranges as _batch


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.booleans()), min_size=1, max_size=300),
       st.integers(MESSAGE_OVERHEAD + 3000, 20000), st.booleans())
def test_every_packet_fits_the_limit_and_order_is_kept(sizes_and_gaps, max_bytes, finite_ttl):
    """Packets cover the taken messages in order, each within the limit, each of
    consecutive seqs (a gap, left by messages dropped while away, starts a new packet)."""
    ttl = 2 ** 32 - 2 if finite_ttl else None  # the widest ttl on the wire
    messages = [Message(b"x" * size, ttl=ttl) for size, _ in sizes_and_gaps]
    seqs, seq = [], 2 ** 40  # wide seqs too
    for _, gap in sizes_and_gaps:
        seq += 2 if gap else 1
        seqs.append(seq)
    packets = _batch(seqs, messages, max_bytes)
    assert [index for start, end in packets for index in range(start, end)] == list(range(len(seqs)))
    for start, end in packets:
        assert 0 < end - start <= BATCH_COUNT and seqs[end - 1] - seqs[start] == end - start - 1
        packet = wire.encode_messages(seqs[start], messages[start:end], [ttl] * (end - start), 2 ** 63 - 1)
        assert len(packet) <= max_bytes, (len(packet), max_bytes, end - start)


def test_a_small_packet_limit_splits_a_backlog_into_many_packets(links):
    """1,000 x 100 B with max_packet_size 4,000 on both sides: all arrive, no error (the
    batches used to be 24 KiB and raised PacketTooLarge out of loop())."""
    sender_link, sender_packeter, sender = links.stack("sender")
    receiver_link, receiver_packeter, receiver = links.stack("receiver")
    for packeter in (sender_packeter, receiver_packeter):
        packeter.max_packet_size = 4000
    events = links.record(receiver)
    errors = []
    sender.on_error.add(lambda conn_id, exc: errors.append(exc))
    sender_link.add_connector(receiver_link.add_listener(("127.0.0.1", 0)))
    payloads = [b"%04d" % n + b"." * 96 for n in range(1000)]
    for payload in payloads:
        sender.send_message("receiver", Message(payload, ttl=None))
    links.pump(lambda: len(events.of("recv")) == len(payloads), timeout=10.0, what="every message")
    assert events.received() == payloads
    assert not errors and not events.of("error")


def test_a_message_queued_before_the_limit_was_lowered_is_dropped_with_an_error(links):
    sender_link, sender_packeter, sender = links.stack("sender")
    receiver_link, _, receiver = links.stack("receiver")
    events = links.record(receiver)
    errors, drops = [], []
    sender.on_error.add(lambda conn_id, exc: errors.append(exc))
    sender.on_message_drop.add(lambda ident, uuid: drops.append((ident, uuid)))
    big = Message(b"b" * 5000, ttl=None)
    sender.send_message("receiver", Message(b"before", ttl=None))
    sender.send_message("receiver", big)
    sender.send_message("receiver", Message(b"after", ttl=None))
    sender_packeter.max_packet_size = 4000  # lowered while they wait
    sender_link.add_connector(receiver_link.add_listener(("127.0.0.1", 0)))
    links.pump(lambda: len(events.of("recv")) == 2 and drops, what="the two that fit, and the drop")
    assert events.received() == [b"before", b"after"]
    assert drops == [("receiver", big.uuid)]
    assert len(errors) == 1 and isinstance(errors[0], PacketTooLarge)
    queue = sender.queues_manager.get_queue("receiver")
    links.pump(lambda: len(queue) == 0, what="the two acknowledged")
