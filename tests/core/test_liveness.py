"""Liveness: one PING after the interval of silence, DEAD after dead_after."""
import pytest

from snakezmq._core.liveness import DEAD_AFTER, PING_INTERVAL, Liveness, Verdict

A, P, D = Verdict.ALIVE, Verdict.PING, Verdict.DEAD


@pytest.mark.parametrize("steps", [
    [("check", 1.99, A), ("check", 2, P), ("check", 3, A), ("check", 5.99, A), ("check", 6, D), ("check", 7, D)],
    [("check", 2, P), ("heard", 4), ("check", 5.99, A), ("check", 6, P), ("check", 10, D)],
    [("heard", 1), ("check", 2.5, A), ("check", 3, P)],
], ids=["silent", "answered", "heard-early"])
def test_verdicts(steps):
    liveness = Liveness(0)
    for step in steps:
        if step[0] == "heard":
            liveness.heard(step[1])
        else:
            assert liveness.check(step[1]) is step[2], step


def test_next_deadline():
    liveness = Liveness(10)
    assert liveness.next_deadline() == 10 + PING_INTERVAL
    liveness.check(10 + PING_INTERVAL)
    assert liveness.next_deadline() == 10 + DEAD_AFTER
    liveness.heard(13)
    assert liveness.next_deadline() == 13 + PING_INTERVAL


def test_custom_intervals():
    liveness = Liveness(0)
    assert liveness.check(0.5, interval=0.5, dead_after=1) is P
    assert liveness.check(1, interval=0.5, dead_after=1) is D
    assert liveness.next_deadline(interval=0.5, dead_after=1) == 1
