"""RateLimit: a burst per key, then once per interval, with a count of what was left out."""
import pytest

from snakezmq._core.ratelimit import RateLimit, suffix


def test_burst_then_silence_then_the_count():
    limit = RateLimit(interval=60.0, burst=3)
    assert [limit.allow("k", t) for t in (0, 1, 2)] == [0, 0, 0]
    assert [limit.allow("k", t) for t in (3, 4, 59.9)] == [None, None, None]
    assert limit.allow("k", 60.0) == 3  # a new window: let through, with the count
    assert limit.allow("k", 61.0) == 0
    assert limit.allow("k", 62.0) == 0
    assert limit.allow("k", 63.0) is None
    assert limit.allow("k", 200.0) == 1


def test_keys_are_independent():
    limit = RateLimit(interval=10.0, burst=1)
    assert limit.allow(("conn1", "WireError"), 0) == 0
    assert limit.allow(("conn1", "WireError"), 1) is None
    assert limit.allow(("conn2", "WireError"), 1) == 0
    assert limit.allow(("conn1", "PacketTooLarge"), 1) == 0


def test_a_flood_is_a_handful_of_lines():
    limit = RateLimit()
    allowed = [limit.allow("rogue", i * 0.0001) for i in range(10_000)]
    assert len([a for a in allowed if a is not None]) == 3


def test_memory_is_bounded():
    limit = RateLimit(interval=10.0, burst=1, max_keys=100)
    for i in range(1000):
        assert limit.allow(i, float(i)) == 0
    assert len(limit) <= 100
    assert limit.allow(999, 999.5) is None  # recent keys are remembered


def test_zero_interval_lets_everything_through():
    limit = RateLimit(interval=0.0, burst=1)
    assert [limit.allow("k", 5.0) for _ in range(3)] == [0, 0, 0]


@pytest.mark.parametrize("args", [(-1.0, 1, 10), (1.0, 0, 10), (1.0, 1, 0)])
def test_bad_settings(args):
    with pytest.raises(ValueError):
        RateLimit(*args)


def test_suffix():
    assert suffix(0) == ""
    assert "7 more" in suffix(7)


def test_level_demotes_left_out_reports_to_debug_and_counts_them():
    limit = RateLimit(interval=60.0, burst=1)
    assert limit.level("k", 40, 0.0) == (40, "")
    assert limit.level("k", 40, 1.0) == (10, "")  # logging.DEBUG
    assert limit.level("k", 40, 2.0) == (10, "")
    level, tail = limit.level("k", 30, 60.0)
    assert level == 30 and "2 more" in tail
