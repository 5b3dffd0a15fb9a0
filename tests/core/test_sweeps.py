"""Sweeps: a listener pings every session again SWEEP_AGAIN after the last transport drop."""
from snakezmq._core.liveness import SWEEP_AGAIN, Sweeps


def test_no_drop_no_sweep():
    sweeps = Sweeps()
    assert not sweeps.due(100.0)
    assert sweeps.next_deadline() == float("inf")


def test_one_follow_up_sweep_after_a_drop():
    sweeps = Sweeps()
    sweeps.dropped(10.0)
    assert sweeps.next_deadline() == 10.0 + SWEEP_AGAIN
    assert not sweeps.due(10.0 + SWEEP_AGAIN / 2)
    assert sweeps.due(10.0 + SWEEP_AGAIN)
    assert not sweeps.due(11.0)  # once
    assert sweeps.next_deadline() == float("inf")


def test_later_drops_push_the_follow_up_back():
    sweeps = Sweeps()
    sweeps.dropped(10.0)
    sweeps.dropped(10.05)
    assert not sweeps.due(10.0 + SWEEP_AGAIN)
    assert sweeps.due(10.05 + SWEEP_AGAIN)
