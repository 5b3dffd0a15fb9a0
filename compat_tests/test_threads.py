"""Threads: send_message is thread-safe and wakes the loop; callbacks run in the loop's thread."""
from __future__ import annotations

import threading
import time

from compat_helpers import LoopThread, wait_for
from conftest import join_thread, run_thread

THREADS, PER_THREAD = 4, 50


def test_send_message_from_several_threads_delivers_everything_in_per_thread_order(links):
    listener, connector = links.pair()
    start = threading.Barrier(THREADS)

    def sender(number):
        def send_all():
            start.wait(5.0)
            for n in range(PER_THREAD):
                connector.send("server", b"%d:%d" % (number, n))
        return send_all

    threads = [run_thread(sender(number)) for number in range(THREADS)]
    links.pump(lambda: len(listener.received()) >= THREADS * PER_THREAD, timeout=10,
               what="%d messages" % (THREADS * PER_THREAD))
    for thread in threads:
        join_thread(thread)
    received = listener.data("client")
    assert len(received) == THREADS * PER_THREAD
    for number in range(THREADS):
        assert [d for d in received if d.startswith(b"%d:" % number)] == \
            [b"%d:%d" % (number, n) for n in range(PER_THREAD)]


def stop_all(loops):
    for loop in loops:
        loop.stop()


def test_callbacks_run_in_the_thread_that_runs_the_loop(links):
    seen = []
    listener, connector = links.peer("server"), links.peer("client")
    for name in ("on_connect", "on_message_recv"):
        getattr(listener.messaging, name).add(lambda *args: seen.append(threading.current_thread()))
    connector.connect(listener.listen())
    loops = [LoopThread(peer.link) for peer in (listener, connector)]
    try:
        wait_for(lambda: listener.connected, what="connection")
        connector.send("server", b"which thread?")
        wait_for(lambda: listener.received(), what="message")
    finally:
        stop_all(loops)
    assert seen == [loops[0].thread, loops[0].thread]


def test_send_message_wakes_a_loop_blocked_in_a_long_poll(links):
    last_pass = [time.monotonic()]
    listener, connector = links.peer("server"), links.peer("client")
    listener.link.on_loop_pass.add(lambda: last_pass.__setitem__(0, time.monotonic()))
    connector.connect(listener.listen())
    loops = [LoopThread(peer.link, poll_timeout=5.0) for peer in (listener, connector)]
    try:
        wait_for(lambda: listener.connected and connector.connected, what="connection")
        wait_for(lambda: time.monotonic() - last_pass[0] > 0.1, what="listener idle in its poll")
        connector.send("server", b"wake up")
        wait_for(lambda: listener.received(), timeout=2.5, what="message despite the 5 s poll")
    finally:
        stop_all(loops)
    assert listener.data() == [b"wake up"]


def test_stop_from_a_message_callback(links):
    listener, connector = links.peer("server"), links.peer("client")
    connector.connect(listener.listen())
    listener.messaging.on_message_recv.add(lambda conn, ident, message: listener.link.stop())
    connector_loop = LoopThread(connector.link)
    try:
        connector.send("server", b"stop please")
        start = time.monotonic()
        listener.link.loop(poll_timeout=0.05, runtime=5.0)
        elapsed = time.monotonic() - start
    finally:
        connector_loop.stop()
    assert listener.data() == [b"stop please"]
    assert elapsed < 4.0
