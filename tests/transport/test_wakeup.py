"""Wake-ups from other threads are never lost, whatever the interleaving with the loop's drain.

A lost wake leaves the loop asleep until its poll timeout (forever with
``poll_timeout=None``), so each test ends with one more wake that must end a
blocked poll. Nothing here sleeps: threads meet at barriers and events.
"""
from __future__ import annotations

import select
import socket
import statistics
import threading
import time
from typing import List

import zmq

from snakezmq._transport.wakeup import Wakeup

ROUNDS = 30
THREADS = 4
WAKES = 300
WAKE_BOUND = 0.050  #: seconds from wake() to the end of a blocked poll (median over ROUNDS)
RESCUE_AFTER = 5.0  #: a poll still blocked this long after the wake lost it


def storm(wakeup: Wakeup, poller: zmq.Poller) -> None:
    """THREADS threads wake WAKES times each while another thread polls and drains."""
    start = threading.Barrier(THREADS + 1)
    stop = threading.Event()

    def drain() -> None:
        start.wait(RESCUE_AFTER)
        while not stop.is_set():
            if poller.poll(1):
                wakeup.drain()

    def wake() -> None:
        start.wait(RESCUE_AFTER)
        for _ in range(WAKES):
            wakeup.wake()

    threads = [threading.Thread(target=wake) for _ in range(THREADS)]
    drainer = threading.Thread(target=drain)
    for thread in threads + [drainer]:
        thread.start()
    for thread in threads:
        thread.join(RESCUE_AFTER * 4)
    stop.set()
    drainer.join(RESCUE_AFTER)
    assert not any(thread.is_alive() for thread in threads + [drainer])


def one_more_wake(wakeup: Wakeup, poller: zmq.Poller, rescue: socket.socket) -> float:
    """Seconds from one wake() to the end of a poll(None) blocked on the wake-up fd.

    The poll also watches ``rescue``, written only when the wake was lost, so a
    failing test ends instead of hanging.
    """
    while poller.poll(0):  # what the storm left behind, as the loop would after it
        wakeup.drain()
    polling = threading.Event()
    woken: List[float] = []
    ready: List[object] = []

    def block() -> None:
        polling.set()
        ready.extend(fd for fd, _ in poller.poll(None))
        woken.append(time.monotonic())

    thread = threading.Thread(target=block)
    thread.start()
    assert polling.wait(RESCUE_AFTER)
    started = time.monotonic()
    wakeup.wake()
    thread.join(RESCUE_AFTER)
    if thread.is_alive():
        rescue.send(b"!")
        thread.join(RESCUE_AFTER)
    assert wakeup.fileno() in ready, "a wake() after the storm did not end the blocked poll"
    return woken[0] - started


def test_no_wake_is_lost_when_threads_wake_while_the_loop_drains() -> None:
    latencies = []
    rescue_reader, rescue_writer = socket.socketpair()
    try:
        for _ in range(ROUNDS):
            wakeup = Wakeup()
            poller = zmq.Poller()
            poller.register(wakeup.fileno(), zmq.POLLIN)
            poller.register(rescue_reader.fileno(), zmq.POLLIN)
            try:
                storm(wakeup, poller)
                latencies.append(one_more_wake(wakeup, poller, rescue_writer))
            finally:
                wakeup.close()
    finally:
        rescue_reader.close()
        rescue_writer.close()
    # A median: the machine running the tests may be busy, a lost wake never ends.
    assert statistics.median(latencies) < WAKE_BOUND, latencies


def test_wakeup_poll_and_stop_still_work_after_threads_wake_the_loop_at_once(links) -> None:
    """The public API: after THREADS threads call wakeup_poll() at once (WAKES times), each later
    wakeup_poll() from another thread makes a loop pass, and stop() ends the loop."""
    link = links.new()
    host, port = link.add_listener(("127.0.0.1", 0))  # only to rescue a loop stop() missed
    passes = []
    pass_made = threading.Condition()

    def on_loop_pass() -> None:
        with pass_made:
            passes.append(1)
            pass_made.notify_all()

    link.on_loop_pass.add(on_loop_pass)
    loop = threading.Thread(target=link.loop, kwargs={"poll_timeout": None})
    loop.start()
    try:
        for _ in range(ROUNDS):
            wake_at_once(link)
            for _ in range(3):
                with pass_made:
                    before = len(passes)
                    link.wakeup_poll()
                    assert pass_made.wait_for(lambda: len(passes) > before, RESCUE_AFTER), \
                        "wakeup_poll() from another thread did not wake loop(poll_timeout=None)"
    finally:
        link.stop()
        loop.join(RESCUE_AFTER)
        missed = loop.is_alive()
        if missed:
            rescue(host, port)
            loop.join(RESCUE_AFTER)
    assert not missed, "stop() from another thread did not end loop(poll_timeout=None)"


def rescue(host: str, port: int) -> None:
    """Connect to the link's listener: the socket activity ends a poll that missed its wake."""
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    try:
        dealer.connect("tcp://%s:%d" % (host, port))
        dealer.send(b"!")
    finally:
        dealer.close(linger=1000)


def wake_at_once(link) -> None:
    """THREADS threads call ``link.wakeup_poll()`` WAKES times each, all starting together."""
    start = threading.Barrier(THREADS)

    def wake() -> None:
        start.wait(RESCUE_AFTER)
        for _ in range(WAKES):
            link.wakeup_poll()

    threads = [threading.Thread(target=wake) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RESCUE_AFTER)


def test_a_wake_racing_with_a_loop_entering_run_is_never_lost(links) -> None:
    """While no thread is in ``loop()``, ``wakeup_poll()`` writes nothing (the next pass just
    does not block and counts as an event); a wake racing with a thread entering
    ``loop(poll_timeout=None, count=1)`` must still end that loop."""
    link = links.new()
    host, port = link.add_listener(("127.0.0.1", 0))
    lost = threading.Event()
    for _ in range(ROUNDS * 10):
        start = threading.Barrier(2)
        waker = threading.Thread(target=lambda: (start.wait(RESCUE_AFTER), link.wakeup_poll()))
        waker.start()
        rescuer = threading.Timer(RESCUE_AFTER, lambda: (lost.set(), rescue(host, port)))
        rescuer.start()
        start.wait(RESCUE_AFTER)
        link.loop(poll_timeout=None, count=1)
        rescuer.cancel()
        waker.join(RESCUE_AFTER)
        assert not lost.is_set(), "a wakeup_poll() racing with loop() did not end it"


def test_a_wake_from_another_thread_reaches_an_outside_event_loop(links) -> None:
    """A driver in another event loop (snakezmq.asyncio) watches ``poll_fds()`` and runs
    passes with ``run_once``, so no thread is in ``loop()`` between passes: a wake from
    another thread must still make the wakeup descriptor readable."""
    link = links.new()
    plain = [fd for fd, owner in link.poll_fds().items() if isinstance(owner, int)]
    assert len(plain) == 1  # the wakeup socket pair's reading end
    while link.run_once(0.0):
        pass
    waker = threading.Thread(target=link.wakeup_poll)
    waker.start()
    waker.join(RESCUE_AFTER)
    readable, _, _ = select.select(plain, [], [], 0)
    assert readable == plain, "the outside event loop would not learn of the wake"
