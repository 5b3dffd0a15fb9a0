"""Liveness: one PING after the interval of silence, DEAD after dead_after; TCP data from the
peer is a sign of life too (a message longer in flight than DEAD_AFTER)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snakezmq._core.liveness import DEAD_AFTER, PING_INTERVAL, Liveness, Verdict

A, P, D = Verdict.ALIVE, Verdict.PING, Verdict.DEAD
STEPS = [  # messages heard, and verdicts
    [("check", 1.99, A), ("check", 2, P), ("check", 3, A), ("check", 5.99, A), ("check", 6, D), ("check", 7, D)],
    [("check", 2, P), ("heard", 4), ("check", 5.99, A), ("check", 6, P), ("check", 10, D)],
    [("heard", 1), ("check", 2.5, A), ("check", 3, P)],
]


@pytest.mark.parametrize("steps", STEPS, ids=["silent", "answered", "heard-early"])
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


# -- TCP data as a sign of life ---------------------------------------------------------------

class Stream:
    """The peer's bytes arrive until ``until`` (inf: still arriving); counts the kernel reads."""

    def __init__(self, until=float("inf")):
        self.until, self.now, self.reads = until, 0.0, 0

    def age(self):
        self.reads += 1
        return max(0.0, self.now - self.until)

    def check(self, liveness, now, **rules):
        self.now = now
        return liveness.check(now, self.age, **rules)


def test_data_arriving_keeps_a_silent_peer_alive_and_it_is_pinged_every_interval():
    """A 12 MB message on a slow link: no message for a long time, bytes all along. It is never
    DEAD; it gets a PING every interval, which is what it hears from us meanwhile."""
    liveness, stream = Liveness(0), Stream()
    verdicts = {t / 2: stream.check(liveness, t / 2) for t in range(1, 61)}  # every 0.5 s to 30 s
    assert D not in verdicts.values()
    assert [t for t, v in verdicts.items() if v is P] == [2.0 * n for n in range(1, 16)]
    liveness.heard(30.2)  # the message is complete
    assert stream.check(liveness, 32.1) is A and stream.check(liveness, 32.2) is P


def test_data_stopping_is_silence_from_then_on():
    """A partition in the middle of the message: DEAD_AFTER after its last bytes."""
    liveness, stream = Liveness(0), Stream(until=9.5)
    verdicts = {t / 10: stream.check(liveness, t / 10) for t in range(1, 200)}
    assert [t for t, v in verdicts.items() if v is P] == [2, 4, 6, 8, 10]  # 10: bytes came after 8
    assert min(t for t, v in verdicts.items() if v is D) == 9.5 + DEAD_AFTER


@pytest.mark.parametrize("steps", STEPS, ids=["silent", "answered", "heard-early"])
@pytest.mark.parametrize("stale", [0.0, 0.5, 100.0])
def test_stale_data_changes_no_verdict(steps, stale):
    """No bytes since the last message (``stale`` more: no bytes even before it): pinged and
    declared dead exactly as with messages only."""
    liveness, last_heard = Liveness(0), 0.0
    for step in steps:
        if step[0] == "heard":
            liveness.heard(step[1])
            last_heard = step[1]
        else:
            age = step[1] - last_heard + stale
            assert liveness.check(step[1], lambda: age) is step[2], step


class MessagesOnly:
    """The rule before TCP data counted (the previous ``Liveness``), as a reference."""

    def __init__(self, now):
        self.last_heard, self.ping_sent_at = now, None

    def heard(self, now):
        self.last_heard, self.ping_sent_at = now, None

    def check(self, now):
        silent = now - self.last_heard
        if silent >= DEAD_AFTER:
            return D
        if silent >= PING_INTERVAL and self.ping_sent_at is None:
            self.ping_sent_at = now
            return P
        return A


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 24)), max_size=40),
       st.sampled_from([None, 0.0, 0.25, 50.0]))
def test_without_fresh_data_the_verdicts_are_the_old_ones(events, stale):
    """Any schedule of messages and checks, and TCP data no newer than the last message (or
    none known): the same verdicts as the messages-only rule, at every check."""
    new, old, now = Liveness(0), MessagesOnly(0), 0.0
    for is_message, eighths in events:
        now += eighths / 8  # (exact in binary: both rules see the same sums)
        if is_message:
            new.heard(now)
            old.heard(now)
        else:
            age = None if stale is None else now - old.last_heard + stale
            assert new.check(now, lambda: age) is old.check(now), (now, is_message)


def test_the_kernel_is_asked_only_when_a_verdict_is_due():
    liveness, stream = Liveness(0), Stream()
    for t in range(1, 20):
        stream.check(liveness, t / 10)  # every loop pass
    assert stream.reads == 0  # nothing due before PING_INTERVAL
    stream.check(liveness, 2)
    assert stream.reads == 1 and liveness.next_deadline() == 2 + PING_INTERVAL  # look again then
    stream.check(liveness, 3)
    assert stream.reads == 1


def test_next_deadline_without_a_data_source_is_the_old_one():
    liveness = Liveness(10)
    liveness.check(10 + PING_INTERVAL, lambda: None)
    assert liveness.next_deadline() == 10 + DEAD_AFTER


# -- Messaging's keepalive (snakemq's rule: an answer within ``wait`` of the PING) -----------------

KEEPALIVE = {"interval": 1.0, "dead_after": float("inf"), "wait": 0.5}


def test_keepalive_gives_up_on_a_ping_without_answer():
    liveness, stream = Liveness(0), Stream(until=0)
    assert stream.check(liveness, 1, **KEEPALIVE) is P
    assert stream.check(liveness, 1.5, **KEEPALIVE) is A  # not yet: "longer than wait"
    assert liveness.next_deadline(**{k: KEEPALIVE[k] for k in ("interval", "wait")}) == 1.5
    assert stream.check(liveness, 1.55, **KEEPALIVE) is D


def test_keepalive_counts_data_after_the_ping_as_its_answer():
    liveness, stream = Liveness(0), Stream(until=7.2)
    verdicts = {t / 20: stream.check(liveness, t / 20, **KEEPALIVE) for t in range(1, 400)}
    assert [t for t, v in verdicts.items() if v is P] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert min(t for t, v in verdicts.items() if v is D) == 8.55  # 8's PING saw nothing
