"""DeliveredLog: one record per sender ident, never forgotten while a resend may depend on it."""
from __future__ import annotations

from snakezmq._core.delivered import DeliveredLog, filter_carried, first_new

STREAM = (b"incarn-1", 1)
FLAG = 1


def deliver(record, first_seq, count, persistent_uuids=()):
    start = first_new(record, first_seq, count)
    record.delivered = first_seq + count - 1
    record.unconfirmed.extend((first_seq + i, uuid) for i, uuid in enumerate(persistent_uuids))
    return start


def test_a_stream_delivers_each_number_once():
    record = DeliveredLog().begin("tx", STREAM, 0, False)
    assert deliver(record, 1, 5) == 0
    assert first_new(record, 3, 5) == 3  # 3..5 were delivered: start at 6
    assert first_new(record, 1, 5) == 5  # all of them


def test_dirty_records_are_never_evicted_clean_ones_are():
    log = DeliveredLog(max_clean=1)
    dirty = log.begin("dirty", STREAM, 0, False)
    deliver(dirty, 1, 3)  # the sender has not confirmed the ack
    log.disconnected("dirty")
    for n in range(100):
        clean = log.begin("clean%d" % n, STREAM, 0, False)
        deliver(clean, 1, 2)
        clean.confirm(2, False)
        log.disconnected("clean%d" % n)
    assert log.known("dirty") == (STREAM, 3)
    assert set(log.records) == {"dirty", "clean99"}


def test_connected_senders_are_never_evicted():
    log = DeliveredLog(max_clean=0)
    record = log.begin("tx", STREAM, 0, False)
    deliver(record, 1, 1)
    record.confirm(1, False)
    log.begin("other", STREAM, 0, False)
    log.disconnected("other")
    assert log.known("tx") == (STREAM, 1) and log.known("other") is None


def test_a_new_stream_carries_unconfirmed_persistent_uuids_until_restoring_ends():
    log = DeliveredLog()
    old = log.begin("tx", STREAM, 0, False)
    deliver(old, 1, 2, [b"p1", b"p2"])
    old.confirm(1, False)  # p1's ack was processed (and its storage row deleted)
    log.disconnected("tx")
    new = log.begin("tx", (b"incarn-2", 1), 0, True)  # a restarted sender, restoring
    assert new.carried == {b"p2"} and new.delivered == 0
    assert filter_carried(new, [b"p2", b"n1"], [FLAG, FLAG], FLAG) == [1]
    new.confirm(0, False)
    assert new.carried == set()


def test_a_million_deliveries_hold_a_window_of_uuids_at_most():
    log = DeliveredLog()
    record = log.begin("tx", STREAM, 0, False)
    for first in range(1, 1_000_000, 100):
        deliver(record, first, 100, [b"u%d" % (first + i) for i in range(100)])
        record.confirm(first - 1, False)  # the sender confirms one packet behind
        assert len(record.unconfirmed) <= 200
    assert log.sizes() == (1, 100)
