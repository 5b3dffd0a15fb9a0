"""JobSlots (a work queue's worker side): capacity, who gets credit, recalls, stale jobs."""
import pytest

from snakezmq._core.dispatcher import Send
from snakezmq._core.jobslots import JobSlots, RunJob
from snakezmq._core.pattern_wire import GRANT, JOB, RECALL, RESULT, SERVE, WANT, QueueFrame

Q = "q"


def frame(kind, session=1, credit=0, flag=False, job_id=b"", payload=b""):
    return QueueFrame(kind, Q, session, credit, flag, job_id, payload)


def grant(ident, credit, session=1):
    return Send(ident, frame(GRANT, session, credit))


def result(ident, job_id, credit=0, session=1, ok=True, payload=b"r"):
    return Send(ident, frame(RESULT, session, credit, ok, job_id, payload))


def slots_with(*producers, capacity=2):
    slots = JobSlots(Q, capacity)
    for n, ident in enumerate(producers, 1):
        assert slots.producer_connected(ident) == [Send(ident, frame(SERVE, n))]
    return slots


def test_a_wanting_producer_gets_every_free_slot():
    slots = slots_with("p", capacity=3)
    assert slots.frame_received("p", frame(WANT, flag=True)) == [grant("p", 3)]
    assert slots.free == 0
    assert slots.frame_received("p", frame(JOB, job_id=b"a", payload=b"x")) == [RunJob("p", b"a", b"x")]
    assert slots.producers["p"].granted == 2 and len(slots.held) == 1 and slots.free == 0


def test_finished_job_returns_its_slot_to_its_producer_inside_the_result():
    slots = slots_with("p", capacity=1)
    slots.frame_received("p", frame(WANT, flag=True))
    slots.frame_received("p", frame(JOB, job_id=b"a"))
    assert slots.job_finished(b"a", True, b"r") == [result("p", b"a", credit=1)]
    slots.frame_received("p", frame(WANT, flag=False))  # the producer's queue is empty
    slots.frame_received("p", frame(JOB, job_id=b"b"))
    assert slots.job_finished(b"b", False, b"e") == [result("p", b"b", credit=1, ok=False, payload=b"e")]


def test_free_slots_go_round_robin_over_wanting_producers():
    slots = slots_with("p1", "p2", capacity=3)
    assert slots.frame_received("p1", frame(WANT, flag=True)) == [grant("p1", 3)]
    slots.frame_received("p1", frame(JOB, job_id=b"a"))
    slots.frame_received("p1", frame(JOB, job_id=b"b"))
    slots.frame_received("p1", frame(JOB, job_id=b"c"))
    assert slots.frame_received("p2", frame(WANT, session=2, flag=True)) == []  # nothing free
    # p1 still wants: the freed slot goes to p2 first (p1 had its turn), then alternately
    assert slots.job_finished(b"a", True, b"r") == [result("p1", b"a"), grant("p2", 1, session=2)]
    assert slots.job_finished(b"b", True, b"r") == [result("p1", b"b", credit=1)]


def test_idle_holders_are_recalled_when_another_producer_wants():
    slots = slots_with("p1", "p2", capacity=2)
    slots.frame_received("p1", frame(WANT, flag=True))
    slots.frame_received("p1", frame(WANT, flag=False))  # done: keeps its 2 credits
    assert slots.frame_received("p2", frame(WANT, session=2, flag=True)) == [
        Send("p1", frame(RECALL))]
    assert slots.frame_received("p2", frame(WANT, session=2, flag=True)) == []  # once
    assert slots.frame_received("p1", frame(WANT, credit=2)) == [grant("p2", 2, session=2)]


def test_ending_a_session_frees_its_credit_for_others():
    slots = slots_with("p1", "p2", capacity=2)
    slots.frame_received("p1", frame(WANT, flag=True))
    slots.frame_received("p2", frame(WANT, session=2, flag=True))
    assert slots.producer_lost("p1") == [grant("p2", 2, session=2)]
    assert slots.producer_lost("p1") == []


def test_jobs_of_an_ended_session_are_ignored_and_held_jobs_still_report():
    slots = slots_with("p", capacity=1)
    slots.frame_received("p", frame(WANT, flag=True))
    slots.frame_received("p", frame(JOB, job_id=b"a"))
    slots.producer_lost("p")
    assert slots.producer_connected("p") == [Send("p", frame(SERVE, 2))]
    assert slots.frame_received("p", frame(JOB, job_id=b"b", session=1)) == []
    # its slot goes back to its producer (new session), which does not want credit now
    assert slots.job_finished(b"a", True, b"r") == [result("p", b"a", credit=1, session=2)]
    slots.producer_lost("p")
    slots.frame_received("p", frame(WANT, session=2, flag=True))  # ended: ignored
    assert slots.held == {}


def test_a_job_given_back_by_a_new_session_runs_once_and_its_credit_is_not_lost():
    slots = slots_with("p", capacity=2)
    slots.frame_received("p", frame(WANT, flag=True))
    assert len(slots.frame_received("p", frame(JOB, job_id=b"a"))) == 1
    slots.producer_lost("p")  # the producer gives "a" to the next session, which is ours again
    slots.producer_connected("p")
    assert slots.frame_received("p", frame(WANT, session=2, flag=True)) == [grant("p", 1, session=2)]
    assert slots.frame_received("p", frame(JOB, job_id=b"a", session=2)) == [
        grant("p", 1, session=2)]  # not run again; the credit it used is free again
    assert list(slots.held) == [b"a"] and slots.producers["p"].granted == 1


def test_result_to_an_absent_producer_carries_no_credit():
    slots = slots_with("p")
    slots.frame_received("p", frame(WANT, flag=True))
    slots.frame_received("p", frame(JOB, job_id=b"a"))
    slots.producer_lost("p")
    assert slots.job_finished(b"a", True, b"r") == [result("p", b"a", session=0)]


def test_misuse_raises():
    with pytest.raises(ValueError):
        JobSlots(Q, 0)
    with pytest.raises(KeyError):
        JobSlots(Q).job_finished(b"nope", True, b"")
