"""Work queues and publish/subscribe across hosts: roles in two Linux network namespaces
joined by a veth pair (``netns.NetPair``), with a worker killed in the middle of a job and
peers cut off by the clsact/BPF drop filter for longer than it takes to notice.

The numbers are the README's: every job completes exactly once at its producer, and a job
runs twice only when its worker's session ended before the result arrived (the killed
worker's job; the job of a worker cut off long enough to be noticed). Every subscriber
gets every publication, once and in order, the cut-off one too, and nothing is dropped.
Skipped, with the reason, where namespaces cannot be made (not root).
"""
from __future__ import annotations

import time

from ..integration.delivery import assert_exactly_once_in_order, wait_until
from ..integration.patterns import (assert_each_job_done_once, job_numbers, received, start_role,
                                    wait_jobs_done, wait_received, wait_subscribed,
                                    worker_killed_in_the_middle_of_a_job)
from .netns import ADDRESSES, NetPair
from .scenario import DETECT_BOUND, RECONNECT_BOUND

ADDRESS = "%s:%d" % (ADDRESSES["a"], 7460)  #: the producer's or publisher's, in namespace a
RATE = 100  #: publications per second
CUT_AND_BACK = DETECT_BOUND + RECONNECT_BOUND + 2  #: seconds the publications must last


def _roles(net: NetPair, peers, role: str):
    """The listening role in namespace a, and how to start the other role on either side."""
    listening = "producer" if role == "worker" else "publisher"
    first = start_role(peers, listening[:3], listening, "--listen", ADDRESS, prefix=net.prefix("a"))
    return first, lambda ident, side, *args: start_role(peers, ident, role, "--connect", ADDRESS,
                                                        *args, prefix=net.prefix(side))


def test_worker_killed_in_the_middle_of_a_job_across_hosts(net, peers):
    producer, start = _roles(net, peers, "worker")
    worker_killed_in_the_middle_of_a_job(producer, lambda ident, *args: start(ident, "b", *args))


def test_worker_cut_off_while_running_a_job(net, peers):
    """Its job runs again on a worker the producer still reaches; the cut-off worker's late
    result is ignored: done once, run twice."""
    producer, start = _roles(net, peers, "worker")
    far = start("far", "b", "--job-seconds", str(DETECT_BOUND + 2))
    far.wait_event("connect", timeout=20)
    producer.command(cmd="submit", n=1)
    far.wait_event("started", timeout=20)
    near = start("near", "a", "--job-seconds", "0.05")
    near.wait_event("connect", timeout=20)
    net.partition()
    producer.wait_event("disconnect", ident="far", timeout=DETECT_BOUND + 10)
    wait_jobs_done(producer, 1, [near])
    net.heal()
    finished = far.wait_event("finished", timeout=30)
    wait_until(lambda: any(e["t"] > finished["t"] for e in far.of("acked")), RECONNECT_BOUND + 20,
               "the late result to be acknowledged", watch=[far, producer])
    assert_each_job_done_once(producer, 1)
    assert job_numbers(far, "finished") == job_numbers(near, "finished") == [0]


def test_subscriber_cut_off_gets_every_publication_when_back(net, peers):
    publisher, start = _roles(net, peers, "subscriber")
    near = start("near", "a", "--prefix", "")
    far = start("far", "b", "--prefix", "news.")
    wait_subscribed(publisher, ["near", "far"])
    n = int(RATE * CUT_AND_BACK)
    publisher.command(cmd="publish", n=n, rate=RATE, topic="news.x")
    wait_received(far, "pub", RATE // 2, watch=[publisher])
    cut_at = time.monotonic()
    net.partition()
    publisher.wait_event("disconnect", ident="far", timeout=DETECT_BOUND + 10)
    noticed = publisher.of("disconnect")[-1]["t"] - cut_at
    net.heal()
    for subscriber in (near, far):
        wait_received(subscriber, "pub", n, timeout=60, watch=[publisher])
        assert_exactly_once_in_order(received(subscriber, "pub"), 0, n)
    assert publisher.of("drop") == [] and publisher.of("unsubscribe") == []
    print("cut off %.1f s until noticed; %d publications to each of 2 subscribers" % (noticed, n))
