"""DeliveredLog: each message handed up once, in bounded memory."""
from snakezmq._core.dedup import MAX_PERSISTENT_UUIDS, MAX_SENDERS, DeliveredLog

OLD, NEW = b"incarn-1", b"incarn-2"


def test_delivers_once_per_seq():
    log = DeliveredLog()
    assert log.last_seq("a", OLD) == 0
    assert [log.is_new("a", OLD, seq, b"u%d" % seq, False) for seq in (1, 1, 2, 1, 5, 3, 5)] == [
        True, False, True, False, True, False, False]  # gaps are fine, nothing goes back
    assert log.last_seq("a", OLD) == 5
    assert log.is_new("b", OLD, 1, b"u1", False)  # senders are independent


def test_new_incarnation_resets_the_seq_record():
    log = DeliveredLog()
    log.is_new("a", OLD, 7, b"u", False)
    assert log.last_seq("a", NEW) == 0
    assert log.is_new("a", NEW, 1, b"v", False)
    assert log.last_seq("a", NEW) == 1


def test_persistent_uuid_deduplicated_across_incarnations():
    log = DeliveredLog()
    assert log.is_new("a", OLD, 3, b"persisted", True)
    assert not log.is_new("a", NEW, 1, b"persisted", True)  # a restarted sender resends it
    assert log.last_seq("a", NEW) == 1  # still recorded, so it gets acknowledged
    assert log.is_new("a", b"incarn-3", 1, b"persisted", False)  # uuids matter for persistent only


def test_least_recently_active_sender_is_evicted():
    log = DeliveredLog(max_senders=2)
    for ident, seq in [("a", 1), ("b", 1), ("a", 2), ("c", 1)]:
        log.is_new(ident, OLD, seq, b"", False)
    assert (log.last_seq("a", OLD), log.last_seq("b", OLD), log.last_seq("c", OLD)) == (2, 0, 1)


def test_bounded_with_many_senders_and_uuids():
    log, idents, is_new = DeliveredLog(max_senders=50, max_uuids=500), ["p%d" % k for k in range(997)], []
    for i in range(100000):
        is_new.append(log.is_new(idents[i % 997], OLD, i // 997 + 1, i.to_bytes(16, "big"), i % 2 == 1))
    assert all(is_new) and log.sizes() == (50, 500)


def test_default_limits():
    log = DeliveredLog()
    for i in range(max(MAX_SENDERS, MAX_PERSISTENT_UUIDS) + 10):
        log.is_new("peer%d" % (i % (MAX_SENDERS + 5)), OLD, i + 1, i.to_bytes(16, "big"), True)
    assert log.sizes() == (MAX_SENDERS, MAX_PERSISTENT_UUIDS)
