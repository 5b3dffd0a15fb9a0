"""Link.loop(): count, runtime, on_loop_pass, stop() and wakeup_poll() from a callback or a thread."""
from __future__ import annotations

import threading
import time

import pytest


def timed_loop(link, **kwargs):
    start = time.monotonic()
    link.loop(**kwargs)
    return time.monotonic() - start


def test_loop_count_zero_returns_at_once(links):
    assert timed_loop(links.new(), poll_timeout=5.0, count=0) < 1.0


def test_loop_runtime_bounds_the_loop_and_on_loop_pass_runs_on_timeouts(links):
    link = links.new()
    passes = []
    link.on_loop_pass.add(lambda: passes.append(1))
    elapsed = timed_loop(link, poll_timeout=0.02, runtime=0.3)
    assert 0.3 <= elapsed < 1.5
    assert len(passes) >= 3


def test_stop_from_a_callback_ends_the_loop_after_that_pass(links):
    link = links.new()
    passes = []

    def on_loop_pass():
        passes.append(1)
        if len(passes) == 3:
            link.stop()

    link.on_loop_pass = on_loop_pass
    assert timed_loop(link, poll_timeout=0.01, runtime=5.0) < 2.5
    assert len(passes) == 3


def run_stopper(link, action, done):
    """Repeat ``action`` from another thread until ``done`` (snakemq ignores a stop() before loop())."""
    def repeat():
        while not done.wait(0.05):
            action(link)
    return threading.Thread(target=repeat, daemon=True)


@pytest.mark.parametrize("action, poll_timeout, count", [
    (lambda link: link.stop(), 0.05, None),
    (lambda link: (link.stop(), link.wakeup_poll()), 10.0, None),
    (lambda link: link.wakeup_poll(), 10.0, 1),
    (lambda link: link.wakeup_poll(), None, 1),
], ids=["stop", "stop_and_wakeup", "wakeup_counts_as_event", "poll_timeout_none_until_woken"])
def test_loop_returns_when_another_thread_stops_or_wakes_it(links, action, poll_timeout, count):
    link = links.new()
    done = threading.Event()
    stopper = run_stopper(link, action, done)
    stopper.start()
    try:
        elapsed = timed_loop(link, poll_timeout=poll_timeout, count=count, runtime=5.0)
    finally:
        done.set()
        stopper.join(5.0)
    assert elapsed < 2.5
    assert not stopper.is_alive()


@pytest.mark.parametrize("poll_timeout", [None, 10.0])
def test_a_wakeup_before_the_loop_runs_counts_as_an_event(links, poll_timeout):
    """An application queues, then runs ``loop(count=1)``: that loop does one pass and returns
    (snakezmq then writes nothing to its wakeup descriptor: nobody was polling)."""
    link = links.new()
    link.wakeup_poll()
    assert timed_loop(link, poll_timeout=poll_timeout, count=1, runtime=5.0) < 2.5


def test_loop_runs_again_after_stop_and_connections_survive(links):
    listener, connector = links.pair()
    conns = (dict(listener.connected), dict(connector.connected))
    for round_number in range(3):
        connector.link.on_loop_pass.add(connector.link.stop)
        connector.link.loop(poll_timeout=0.01, runtime=5.0)
        connector.link.on_loop_pass.remove(connector.link.stop)
        connector.send("server", b"round %d" % round_number)
        links.pump(lambda: len(listener.received()) > round_number, what="round %d" % round_number)
    assert listener.data() == [b"round 0", b"round 1", b"round 2"]
    assert (listener.connected, connector.connected) == conns
    assert listener.events["on_disconnect"] == connector.events["on_disconnect"] == []
