"""Work queues with real processes on loopback, and their in-process edge cases.

The numbers are the README's ("Work queues"): every job has exactly one outcome at its
producer; a job runs again only when the worker holding it lost its session before its
result arrived (killed in the middle of the job, or killed after reporting but before the
report got out), so the runs add up to the jobs plus the jobs those workers held.
"""
from __future__ import annotations

import threading

import pytest

from snakezmq.exceptions import WireError
from snakezmq.message import Message
from snakezmq.workqueue import Producer, Worker

from .patterns import (assert_each_job_done_once, job_numbers, listener_address, runs_per_job,
                       start_role, wait_jobs_done, worker_killed_in_the_middle_of_a_job)


def _producer(peers):
    """A producer listening on loopback, and how to start workers connecting to it."""
    producer = start_role(peers, "producer", "producer", "--listen", "127.0.0.1:0")
    address = listener_address(producer)
    return producer, lambda ident, *args: start_role(peers, ident, "worker", "--connect", address, *args)


def test_jobs_spread_over_workers_by_readiness_and_each_completes_once(peers):
    producer, start_worker = _producer(peers)
    workers = [start_worker("w%d" % n, "--job-seconds", "0.05") for n in range(3)]
    for worker in workers:
        worker.wait_event("connect", timeout=20)
    producer.command(cmd="submit", n=30)
    wait_jobs_done(producer, 30, workers)
    assert_each_job_done_once(producer, 30)
    assert runs_per_job(workers) == {n: 1 for n in range(30)}
    assert all(job_numbers(worker, "started") for worker in workers)  # every worker got some


def test_worker_killed_in_the_middle_of_a_job_its_job_runs_again_elsewhere(peers):
    worker_killed_in_the_middle_of_a_job(*_producer(peers))


def test_worker_dead_after_reporting_but_before_the_report_left_runs_the_job_twice(peers):
    producer, start_worker = _producer(peers)
    dying = start_worker("dying", "--die-after-done", "1")
    dying.wait_event("connect", timeout=20)
    producer.command(cmd="submit", n=1)
    dying.wait_event("finished", timeout=20)
    other = start_worker("other")
    wait_jobs_done(producer, 1, [other])
    assert_each_job_done_once(producer, 1)  # reported once...
    assert job_numbers(dying, "finished") == job_numbers(other, "finished") == [0]  # ...run twice


# -- in-process: TTL, errors, misuse ---------------------------------------------------------------

def _pair(links):
    link_p, _, messaging_p = links.stack("producer")
    link_w, _, messaging_w = links.stack("worker")
    return link_p, messaging_p, link_w, messaging_w


def test_a_job_nobody_serves_is_dropped_when_its_ttl_runs_out_even_in_a_blocked_loop(links):
    link, _, messaging = links.stack("producer")
    producer = Producer(messaging, "q")
    dropped = []
    producer.on_job_drop.add(lambda job_id: (dropped.append(job_id), link.stop()))
    job_id = producer.submit(b"x", ttl=0.2)
    watchdog = threading.Timer(10, link.stop)
    watchdog.start()
    try:
        link.loop(poll_timeout=None)  # only the job's deadline can end it (or the watchdog)
    finally:
        watchdog.cancel()
    assert dropped == [job_id] and producer.pending == 0


def test_a_raising_job_handler_reports_the_job_failed_and_leaves_loop(links):
    link_p, messaging_p, link_w, messaging_w = _pair(links)
    producer, worker = Producer(messaging_p, "q"), Worker(messaging_w, "q")
    errors = []
    producer.on_job_error.add(lambda job_id, error: errors.append((job_id, error)))

    def handler(ident, job_id, data):
        raise RuntimeError("no such photo")
    worker.on_job_recv.add(handler)
    link_w.add_connector(link_p.add_listener(("127.0.0.1", 0)))
    job_id = producer.submit(b"photo.jpg")
    with pytest.raises(RuntimeError):
        links.pump(lambda: False, timeout=10, what="the handler to raise")
    links.pump(lambda: bool(errors), what="on_job_error")
    assert errors == [(job_id, "RuntimeError: no such photo")] and worker.running == []


def test_garbage_with_the_work_queue_magic_is_on_error_not_a_crash(links, caplog):
    link_p, messaging_p, link_w, messaging_w = _pair(links)
    Producer(messaging_p, "q")
    errors = []
    messaging_p.on_error.add(lambda conn_id, error: errors.append(error))
    link_w.add_connector(link_p.add_listener(("127.0.0.1", 0)))
    messaging_w.send_message("producer", Message(b"\x00SZQ\x01", ttl=None))
    links.pump(lambda: bool(errors), what="on_error")
    assert isinstance(errors[0], WireError)
    assert "malformed" in caplog.text


def test_misuse_raises_at_once(links):
    _, _, messaging = links.stack("producer")
    producer = Producer(messaging, "q")
    worker = Worker(messaging, "q2")
    with pytest.raises(TypeError):
        producer.submit("text")
    with pytest.raises(ValueError):
        producer.submit(b"x", ttl=-1)
    with pytest.raises(ValueError):
        worker.job_done(b"no such job")
    with pytest.raises(ValueError):
        Worker(messaging, "q3", capacity=0)
    with pytest.raises(ValueError):
        Worker(messaging, "q2")  # one Worker per queue and Messaging
    messaging.on_connect = print  # snakemq code may replace a Callback with a function
    with pytest.raises(TypeError):
        Producer(messaging, "q4")
