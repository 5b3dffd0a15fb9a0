"""Helpers for the work-queue and pub/sub tests with real processes (pattern_peer.py):
starting roles, and the numbers the README promises, read from their events. Not a test module.
"""
from __future__ import annotations

import collections
import os
from typing import Any, Callable, Dict, Iterable, List, Sequence

from .delivery import Received, runs, wait_until

PATTERN_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pattern_peer.py")


def start_role(peers: Callable[..., Any], ident: str, role: str, *args: str,
               prefix: Sequence[str] = ()) -> Any:
    """A pattern_peer.py process (``peers`` is the fixture); waits until it is ready."""
    peer = peers("--ident", ident, "--role", role, *args, prefix=prefix, script=PATTERN_PEER)
    peer.wait_event("ready", timeout=30)
    return peer


def listener_address(peer: Any) -> str:
    host, port = peer.of("ready")[0]["listeners"][0]
    return "%s:%d" % (host, port)


def job_numbers(peer: Any, kind: str) -> List[int]:
    """Job numbers of a producer's ``done`` or a worker's ``started`` / ``finished`` events."""
    return [event["job"] for event in peer.of(kind)]


def wait_jobs_done(producer: Any, n: int, watch: Iterable[Any] = (), timeout: float = 30.0) -> None:
    wait_until(lambda: len(producer.of("done")) >= n, timeout,
               "%d jobs done (have %d)" % (n, len(producer.of("done"))), watch=list(watch) + [producer])


def assert_each_job_done_once(producer: Any, n: int) -> None:
    done = job_numbers(producer, "done")
    assert sorted(done) == list(range(n)), "done: %s" % runs(sorted(done))
    assert producer.of("failed") == [] and producer.of("dropped") == []


def runs_per_job(workers: Iterable[Any]) -> Dict[int, int]:
    """How many times each job started, over all workers."""
    return dict(collections.Counter(job for worker in workers for job in job_numbers(worker, "started")))


def received(subscriber: Any, publisher_ident: str) -> List[int]:
    return Received(subscriber).of(publisher_ident)


def wait_subscribed(publisher: Any, idents: Iterable[str], timeout: float = 20.0) -> None:
    wanted = set(idents)
    wait_until(lambda: wanted <= {e["ident"] for e in publisher.of("subscribe")}, timeout,
               "subscriptions of %s" % sorted(wanted), watch=[publisher])


def wait_received(subscriber: Any, publisher_ident: str, count: int, timeout: float = 30.0,
                  watch: Iterable[Any] = ()) -> None:
    wait_until(lambda: len(received(subscriber, publisher_ident)) >= count, timeout,
               "%d publications (have %d)" % (count, len(received(subscriber, publisher_ident))),
               watch=list(watch) + [subscriber])


def worker_killed_in_the_middle_of_a_job(producer: Any, start_worker: Callable[..., Any],
                                         n: int = 6) -> None:
    """The scenario (loopback and across namespaces): a worker holding a job (capacity 1,
    30 s jobs) is SIGKILLed while a second worker works. Every job completes exactly once
    at the producer, and exactly one job ran twice: the killed worker's."""
    victim = start_worker("victim", "--job-seconds", "30")
    victim.wait_event("connect", timeout=20)
    producer.command(cmd="submit", n=n)
    first = victim.wait_event("started", timeout=20)["job"]
    survivor = start_worker("survivor", "--job-seconds", "0.05")
    survivor.wait_event("finished", timeout=20)
    victim.kill()  # in the middle of its job
    wait_jobs_done(producer, n, [survivor])
    assert_each_job_done_once(producer, n)
    assert job_numbers(victim, "started") == [first]  # capacity 1: it held one job
    assert sorted(job_numbers(survivor, "started")) == list(range(n))  # that one ran again
