"""Outbox: TTL arithmetic on explicit ``now``, window, acks, retransmit, bounded memory."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from snakezmq._core.outbox import Outbox
from snakezmq._core.peer_queue import MessageDropped, Taken
from snakezmq.message import Message

PEER = "bob"


def msg(ttl=None, size=1):
    return Message(b"x" * size, ttl=ttl)


def connected_box(*messages, now=0.0, **limits):
    box = Outbox(**limits)
    box.peer_connected(PEER, now)
    for message in messages:
        assert box.push(PEER, message, now) == []
    return box


def seqs(entries):
    return [entry.seq for entry in entries]


def test_ttl_counts_only_while_away_across_cycles():
    box, message = Outbox(), msg(ttl=10)
    assert box.push(PEER, message, 0) == []  # a new queue starts away
    entry = box.queues[PEER].pending[0]
    assert box.ttl_now(entry, PEER, 2) == 8
    assert box.peer_connected(PEER, 3) == [] and entry.ttl == 7
    assert box.ttl_now(entry, PEER, 90) == 7  # frozen while connected
    assert box.peer_disconnected(PEER, 100) == []
    assert box.ttl_now(entry, PEER, 104) == 3
    assert box.peer_connected(PEER, 104) == [] and entry.ttl == 3
    box.peer_disconnected(PEER, 200)
    assert box.next_deadline() == 203
    assert box.expire(203) == []
    assert box.expire(203.001) == [MessageDropped(PEER, message)]
    assert len(box.queues[PEER]) == 0


@pytest.mark.parametrize("push_at, away_at, ttl, deadline", [
    (5, 0, 3, 8),  # pushed during the absence: charged from the push
    (0, 10, 3, 13),  # pushed while connected: charged from the absence start
    (10, 10, 0.5, 10.5),
])
def test_ttl_charged_from_later_of_push_and_absence(push_at, away_at, ttl, deadline):
    box, message = connected_box(), msg(ttl=ttl)
    for at, act in sorted([(push_at, 1), (away_at, 0)]):
        assert (box.peer_disconnected(PEER, at) if act == 0 else box.push(PEER, message, at)) == []
    assert box.next_deadline() == deadline
    assert box.expire(deadline) == []
    assert box.expire(deadline + 1e-6) == [MessageDropped(PEER, message)]
    assert box.next_deadline() == math.inf


def test_expired_while_away_is_reported_on_connect_too():
    box, message = Outbox(), msg(ttl=1)
    box.push(PEER, message, 0)
    assert box.peer_connected(PEER, 5) == [MessageDropped(PEER, message)]
    assert not box.take_sendable(PEER)


def test_ttl_zero_is_kept_while_connected():
    box = connected_box(msg(ttl=0))
    assert box.expire(1e9) == []
    assert box.take_sendable(PEER).seqs == [1]


def test_ttl_reaching_exactly_zero_at_connect_is_kept():
    box = Outbox()
    box.push(PEER, msg(ttl=5), 0)
    assert box.peer_connected(PEER, 5) == []
    assert box.queues[PEER].pending[0].ttl == 0


@pytest.mark.parametrize("ttl", [0, -1, -0.5])
def test_nonpositive_ttl_pushed_while_away_is_dropped(ttl):
    box, message = Outbox(), msg(ttl=ttl)
    assert box.push(PEER, message, 0) == [MessageDropped(PEER, message)]
    assert len(box.queues[PEER]) == 0 and box.next_deadline() == math.inf


def test_ttl_zero_expires_as_soon_as_the_peer_is_away():
    box = connected_box(msg(ttl=0), now=0)
    box.peer_disconnected(PEER, 10)
    assert len(box.expire(10.001)) == 1


def test_none_never_expires():
    box = Outbox()
    box.push(PEER, msg(ttl=None), 0)
    assert box.next_deadline() == math.inf
    assert box.expire(1e12) == [] and box.peer_connected(PEER, 1e12) == []
    box.peer_disconnected(PEER, 1e12)
    assert box.expire(1e15) == [] and len(box.queues[PEER]) == 1


def test_expire_while_peer_never_returns_and_next_deadline():
    box = Outbox()
    assert box.next_deadline() == math.inf
    first, second = msg(ttl=1), msg(ttl=2)
    box.push(PEER, second, 0)
    box.push(PEER, first, 0)
    box.push("carol", msg(ttl=7), 0.5)
    connected_peer = "dave"
    box.peer_connected(connected_peer, 0)
    box.push(connected_peer, msg(ttl=0.1), 0)  # connected: no deadline
    assert box.next_deadline() == 1
    assert box.expire(1.5) == [MessageDropped(PEER, first)]
    assert box.next_deadline() == 2
    assert box.expire(2.5) == [MessageDropped(PEER, second)]
    assert box.next_deadline() == 7.5


def test_window_count():
    box = connected_box(*[msg() for _ in range(5)], window=3)
    assert box.take_sendable(PEER).seqs == [1, 2, 3]
    assert not box.take_sendable(PEER)
    assert len(box.acknowledge(PEER, 2)) == 2
    assert box.take_sendable(PEER).seqs == [4, 5]


@pytest.mark.parametrize("sizes, takes", [
    ([5, 5, 5], [2, 1]),  # stops once the in-flight bytes reach the window
    ([25, 1], [1, 1]),  # one large message may exceed window_bytes alone
    ([10, 3], [1, 1]),
])
def test_window_bytes(sizes, takes):
    box, got = connected_box(*[msg(size=size) for size in sizes], window_bytes=10), []
    while True:
        taken = box.take_sendable(PEER)
        if not taken:
            break
        got.append(len(taken))
        assert not box.take_sendable(PEER)
        box.acknowledge(PEER, taken.seqs[-1])
    assert got == takes


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.integers(0, 30), max_size=40), st.integers(1, 8), st.integers(1, 60),
       st.lists(st.integers(0, 12), min_size=1, max_size=6), st.integers(0, 40))
def test_take_sendable_fast_paths_match_one_by_one(sizes, window, window_bytes, acks, pushed_away):
    """The batch paths of take_sendable (queued entries, then fresh messages) take exactly
    what the one-by-one path takes. The first ``pushed_away`` messages are queued while
    the peer is away (entries), the rest once it is connected (bare, fresh)."""
    messages = [msg(size=size) for size in sizes]
    boxes = []
    for _ in range(2):
        box = Outbox(window=window, window_bytes=window_bytes)
        for message in messages[:pushed_away]:
            box.push(PEER, message, 0)
        box.peer_connected(PEER, 0)
        for message in messages[pushed_away:]:
            box.push(PEER, message, 0)
        boxes.append(box)
    fast, slow = boxes
    for ack in acks:
        taken_fast = fast.take_sendable(PEER)
        taken_slow = Taken()
        slow._take_one_by_one(slow.queues[PEER], taken_slow, fresh_too=True)
        assert taken_fast.seqs == taken_slow.seqs and taken_fast.messages == taken_slow.messages
        assert taken_fast.ttls == taken_slow.ttls
        assert fast.queues[PEER].inflight_bytes == slow.queues[PEER].inflight_bytes
        assert fast.queues[PEER].queued() == slow.queues[PEER].queued()
        upto = fast.queues[PEER].next_seq - 1 - ack
        assert fast.acknowledge(PEER, upto) == slow.acknowledge(PEER, upto)


def test_take_sendable_order_and_seqs():
    messages = [msg() for _ in range(4)]
    box = Outbox()
    box.push(PEER, messages[0], 0)
    assert not box.take_sendable(PEER) and not box.take_sendable("nobody")  # away, unknown
    box.peer_connected(PEER, 1)
    for message in messages[1:]:
        box.push(PEER, message, 1)
    taken = box.take_sendable(PEER)
    assert taken.messages == messages and taken.seqs == [1, 2, 3, 4]
    box.push(PEER, msg(), 2)
    assert box.take_sendable(PEER).seqs == [5]


def test_acknowledge_is_cumulative():
    messages = [msg() for _ in range(4)]
    box = connected_box(*messages)
    box.take_sendable(PEER)
    assert box.acknowledge(PEER, 0) == []
    assert box.acknowledge(PEER, 2) == messages[:2]
    assert box.acknowledge(PEER, 2) == [] and box.acknowledge(PEER, 1) == []  # repeated, older
    assert box.acknowledge(PEER, 99) == messages[2:]
    assert box.acknowledge("nobody", 5) == []
    assert len(box.queues[PEER]) == 0 and box.queues[PEER].inflight_bytes == 0


def test_disconnect_requeues_inflight_in_front_keeping_seqs():
    messages = [msg(ttl=5) for _ in range(5)]
    box = connected_box(*messages, window=3)
    box.take_sendable(PEER)
    box.acknowledge(PEER, 1)
    assert box.peer_disconnected(PEER, 10) == []
    queue = box.queues[PEER]
    assert [e.message for e in queue.pending] == messages[1:] and seqs(queue.pending) == [2, 3, 0, 0]
    assert not queue.inflight and queue.inflight_bytes == 0 and len(queue) == 4
    assert box.next_deadline() == 15  # in-flight ttl clocks restart at the disconnect
    box.peer_connected(PEER, 11)
    assert box.take_sendable(PEER).seqs == [2, 3, 4]  # retransmit first, in order
    box.acknowledge(PEER, 4)
    assert box.take_sendable(PEER).seqs == [5]


def test_acknowledge_with_gaps_in_flight():
    """Messages that expired while away leave gaps in the resent seqs; acks still count right."""
    keep, expiring = [msg(ttl=None) for _ in range(3)], [msg(ttl=1) for _ in range(2)]
    box = connected_box(keep[0], expiring[0], keep[1], expiring[1], keep[2])
    assert box.take_sendable(PEER).seqs == [1, 2, 3, 4, 5]
    box.peer_disconnected(PEER, 0)
    assert len(box.expire(2)) == 2
    box.peer_connected(PEER, 3)
    assert box.take_sendable(PEER).seqs == [1, 3, 5]
    assert box.acknowledge(PEER, 4) == keep[:2]
    assert box.queues[PEER].inflight_bytes == 1
    assert box.acknowledge(PEER, 5) == keep[2:]


def test_dropped_entries_are_compacted():
    box = Outbox()
    box.push(PEER, msg(ttl=None), 0)  # a survivor keeps the deque from simply emptying
    queue, dropped, expiring = box.queues[PEER], 0, msg(ttl=1)
    for round_ in range(100):
        for _ in range(1000):
            box.push(PEER, expiring, round_ * 10)
        dropped += len(box.expire(round_ * 10 + 2))
        assert len(queue.pending) <= 3 and not queue.expiry
    assert dropped == 100000 and len(queue) == 1
    box.peer_connected(PEER, 2000)
    assert len(queue.pending) == 1 and queue.dropped_in_pending == 0


def test_len_and_messages_exclude_dropped():
    survivors = [msg(ttl=None), msg(ttl=None)]
    box = Outbox()
    box.push(PEER, msg(ttl=1), 0)
    for message in survivors:
        box.push(PEER, message, 0)
    assert len(box.expire(1.5)) == 1
    queue = box.queues[PEER]
    assert queue.dropped_in_pending == 1 and len(queue) == 2 and list(queue.messages()) == survivors
    box.peer_connected(PEER, 2)
    assert box.take_sendable(PEER).messages == survivors


def test_forget_empty_only_forgets_empty_absent_queues():
    box = connected_box()
    box.forget_empty(PEER)
    assert PEER in box.queues  # connected
    box.peer_disconnected(PEER, 1)
    box.push(PEER, msg(), 1)
    box.forget_empty(PEER)
    assert PEER in box.queues  # not empty
    box.queue("carol", 0)
    box.forget_empty("carol")
    box.forget_empty("nobody")
    assert "carol" not in box.queues


def test_sendable_holds_exactly_the_connected_idents_with_waiting_messages():
    box = Outbox(window=2)
    box.push(PEER, msg(), 0)
    assert box.sendable == set()  # away
    box.peer_connected(PEER, 1)
    assert box.sendable == {PEER}
    assert len(box.take_sendable(PEER)) == 1
    assert box.sendable == set()  # nothing waits
    box.push(PEER, msg(), 2)
    box.push(PEER, msg(), 2)
    assert box.sendable == {PEER}
    assert len(box.take_sendable(PEER)) == 1  # the window (2) is full: one still waits
    assert box.sendable == {PEER}
    box.peer_disconnected(PEER, 3)
    assert box.sendable == set()
    box.peer_connected(PEER, 4)  # the two in flight came back to the queue
    assert box.sendable == {PEER}
    box.take_sendable(PEER)
    box.acknowledge(PEER, 99)
    box.take_sendable(PEER)
    assert box.sendable == set() and len(box.queues[PEER]) == 1


def test_drop_in_flight_leaves_a_gap_that_acks_count_across():
    messages = [msg(size=2) for _ in range(3)]
    box = connected_box(*messages)
    taken = box.take_sendable(PEER)
    assert box.drop_in_flight(PEER, taken.seqs[1]) == [MessageDropped(PEER, messages[1])]
    assert box.drop_in_flight(PEER, taken.seqs[1]) == []  # once
    queue = box.queues[PEER]
    assert list(queue.inflight_seqs) == [1, 3] and queue.inflight_bytes == 4 and len(queue) == 2
    assert box.acknowledge(PEER, 3) == [messages[0], messages[2]]
    assert queue.inflight_bytes == 0


def test_resent_and_fresh_messages_in_flight_together():
    """Resent messages fly as their entries, fresh ones bare: acks, a second disconnect and
    len() treat both alike."""
    old, new = [msg(ttl=9) for _ in range(3)], [msg(ttl=None) for _ in range(2)]
    box = connected_box(*old)
    assert box.take_sendable(PEER).seqs == [1, 2, 3]
    box.peer_disconnected(PEER, 1)
    box.peer_connected(PEER, 2)
    for message in new:
        box.push(PEER, message, 2)
    taken = box.take_sendable(PEER)
    assert taken.seqs == [1, 2, 3, 4, 5] and taken.messages == old + new
    assert taken.ttls == [8, 8, 8, None, None]  # the absence is charged to the resent ones
    queue = box.queues[PEER]
    assert queue.inflight_entries == 3 and len(queue) == 5 and list(queue.messages()) == old + new
    assert box.acknowledge(PEER, 2) == old[:2] and queue.inflight_entries == 1
    box.peer_disconnected(PEER, 3)
    assert seqs(queue.pending) == [3, 4, 5] and [e.ttl for e in queue.pending] == [8, None, None]
    assert queue.inflight_entries == 0 and not queue.fresh and len(queue) == 3
    box.peer_connected(PEER, 3)
    assert box.take_sendable(PEER).seqs == [3, 4, 5]
    assert box.acknowledge(PEER, 5) == old[2:] + new and queue.inflight_entries == 0
