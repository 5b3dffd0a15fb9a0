"""Dispatcher (a work queue's producer side): credit, demand, reassignment, outcome, TTL."""
import pytest

from snakezmq._core.dispatcher import Dispatcher, JobDropped, JobFinished, Send, job_ids
from snakezmq._core.pattern_wire import GRANT, JOB, RECALL, RESULT, SERVE, WANT, QueueFrame

Q = "q"


def frame(kind, session=1, credit=0, flag=False, job_id=b"", payload=b"", queue=Q):
    return QueueFrame(kind, queue, session, credit, flag, job_id, payload)


def want(ident, wanting, returned=0, session=1):
    return Send(ident, frame(WANT, session, returned, wanting))


def job(ident, job_id, session=1):
    return Send(ident, frame(JOB, session, job_id=job_id, payload=b"data-" + job_id))


def result(job_id, ok=True, credit=0, session=1, payload=b"r"):
    return frame(RESULT, session, credit, ok, job_id, payload)


def dispatcher_with(*workers, credit=1):
    d = Dispatcher(Q)
    for ident in workers:
        assert d.frame_received(ident, frame(SERVE), 0) == []
        if credit:
            assert d.frame_received(ident, frame(GRANT, credit=credit), 0) == []
    return d


def submit(d, job_id, ttl=None, now=0.0):
    return d.submit(job_id, b"data-" + job_id, ttl, now)


def test_waiting_jobs_ask_every_worker_for_credit_then_go_out_on_grant():
    d = dispatcher_with("w1", "w2", credit=0)
    assert submit(d, b"a") == [want("w1", True), want("w2", True)]
    assert submit(d, b"b") == []  # told already
    assert d.frame_received("w2", frame(GRANT, credit=1), 1) == [job("w2", b"a")]
    assert d.frame_received("w1", frame(GRANT, credit=3), 1) == [
        job("w1", b"b"), want("w1", False), want("w2", False)]
    assert d.waiting == 0 and d.workers["w1"].credit == 2  # kept: the next job goes at once
    assert submit(d, b"c") == [job("w1", b"c")]


def test_least_recently_used_worker_with_credit_gets_the_next_job():
    d = dispatcher_with("w1", "w2", "w3", credit=2)
    sent = [action.ident for n in range(6) for action in submit(d, b"%d" % n)]
    assert sent == ["w1", "w2", "w3", "w1", "w2", "w3"]
    assert submit(d, b"x") == [want("w1", True), want("w2", True), want("w3", True)]


def test_first_result_settles_the_job_once():
    d = dispatcher_with("w1")
    submit(d, b"a")
    assert d.frame_received("w1", result(b"a", credit=1), 1) == [JobFinished(b"a", True, b"r", "w1")]
    assert d.frame_received("w1", result(b"a"), 2) == []
    assert d.jobs == {} and d.workers["w1"].credit == 1


def test_failed_result_is_an_outcome_too():
    d = dispatcher_with("w1")
    submit(d, b"a")
    assert d.frame_received("w1", result(b"a", ok=False, payload=b"boom"), 1) == [
        JobFinished(b"a", False, b"boom", "w1")]


def test_lost_worker_jobs_go_back_to_the_front_in_order_and_to_another_worker():
    d = dispatcher_with("w1", credit=3)
    for job_id in (b"a", b"b", b"c"):
        submit(d, job_id)
    submit(d, b"d")  # waits: no credit left
    d.frame_received("w2", frame(SERVE), 1)
    assert d.worker_lost("w1", 2) == []  # (w2 has no credit yet; both told wanting already)
    assert d.waiting == 4
    assert d.frame_received("w2", frame(GRANT, credit=4), 3) == [
        job("w2", b"a"), job("w2", b"b"), job("w2", b"c"), job("w2", b"d"), want("w2", False)]


def test_late_result_of_a_lost_worker_still_settles_the_job_and_the_new_holder_is_ignored():
    d = dispatcher_with("w1", "w2", credit=1)
    submit(d, b"a")
    d.worker_lost("w1", 1)  # b"a" goes to w2 (it has credit)
    assert d.workers["w2"].jobs == {b"a": None}
    assert d.frame_received("w1", result(b"a", session=1), 2) == [JobFinished(b"a", True, b"r", "w1")]
    assert d.workers["w2"].jobs == {}
    assert d.frame_received("w2", result(b"a", credit=1), 3) == []
    assert d.workers["w2"].credit == 1


def test_result_of_a_job_waiting_again_settles_it():
    d = dispatcher_with("w1")
    submit(d, b"a")
    d.worker_lost("w1", 1)
    assert d.waiting == 1
    assert d.frame_received("w1", result(b"a", session=1), 2) == [JobFinished(b"a", True, b"r", "w1")]
    assert d.waiting == 0 and d.next_deadline() is None
    d.frame_received("w3", frame(SERVE), 3)
    assert d.frame_received("w3", frame(GRANT, credit=1), 3) == []  # nothing left to send


def test_a_new_session_ends_the_old_one_and_its_credit():
    d = dispatcher_with("w1", credit=2)
    submit(d, b"a")
    assert d.frame_received("w1", frame(SERVE, session=2), 1) == [want("w1", True, session=2)]
    assert d.workers["w1"].credit == 0 and d.waiting == 1
    assert d.frame_received("w1", frame(GRANT, credit=5, session=1), 2) == []  # old session
    assert d.frame_received("w1", frame(GRANT, credit=1, session=2), 2) == [
        job("w1", b"a", session=2), want("w1", False, session=2)]


def test_recall_gives_back_every_unused_credit():
    d = dispatcher_with("w1", credit=4)
    submit(d, b"a")
    assert d.frame_received("w1", frame(RECALL), 1) == [want("w1", False, returned=3)]
    assert d.workers["w1"].credit == 0
    assert d.frame_received("w1", frame(RECALL, session=9), 1) == []


def test_ttl_counts_only_while_the_job_waits():
    d = dispatcher_with("w1", credit=0)
    submit(d, b"a", ttl=10, now=0)
    assert d.next_deadline() == 10
    d.frame_received("w1", frame(GRANT, credit=1), 4)  # assigned at 4: 6 s left
    assert d.next_deadline() is None
    d.worker_lost("w1", 100)  # waits again from 100
    assert d.next_deadline() == 106
    assert d.expire(105.9) == []
    assert d.expire(106) == [JobDropped(b"a")]
    assert d.jobs == {} and d.waiting == 0
    assert d.frame_received("w1", result(b"a"), 107) == []  # settled: dropped


def test_ttl_zero_runs_only_if_credit_is_there_now():
    d = dispatcher_with("w1", credit=1)
    assert submit(d, b"a", ttl=0, now=5) == [job("w1", b"a")]
    submit(d, b"b", ttl=0, now=5)
    assert d.expire(5) == [JobDropped(b"b"), want("w1", False)]


def test_frames_of_other_queues_and_unknown_workers_are_ignored():
    d = dispatcher_with("w1")
    assert d.frame_received("w1", frame(GRANT, credit=3, queue="other"), 0) == []
    assert d.frame_received("stranger", frame(GRANT, credit=3), 0) == []
    assert d.frame_received("w1", frame(JOB, job_id=b"x"), 0) == []
    assert d.worker_lost("stranger", 0) == []
    assert d.workers["w1"].credit == 1


def test_duplicate_job_id_is_refused():
    d = Dispatcher(Q)
    submit(d, b"a")
    with pytest.raises(ValueError):
        submit(d, b"a")


def test_job_ids_are_unique_and_16_bytes():
    ids = job_ids(b"12345678")
    first, second = next(ids), next(ids)
    assert first != second and len(first) == len(second) == 16 and first.startswith(b"12345678")
