"""send_message never blocks: not before loop() ever ran, not from several threads at once.

snakemq 1.6 blocks forever after ~65,000 calls made while its loop is not
running (its wake-up pipe fills up). snakezmq must not.
"""
from __future__ import annotations

import threading

from snakezmq.message import Message

MANY = 100_000
THREADS = 4
PER_THREAD = 2_000


def test_100k_sends_before_loop_ever_ran_are_all_delivered_in_order(links):
    sender_link, _, sender = links.stack("sender")
    sent = []
    sender.on_message_sent.add(lambda conn_id, ident, uuid: sent.append(uuid))

    failures = []

    def send_all() -> None:
        try:
            for i in range(MANY):
                sender.send_message("receiver", Message(b"%d" % i, ttl=None))
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)

    # The loop has never run. A blocked send would hang, so send from a helper thread
    # and give up on it (a daemon) after a deadline, with a clear failure.
    thread = threading.Thread(target=send_all, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "send_message blocked before loop() ever ran"
    assert failures == []

    receiver_link, _, receiver = links.stack("receiver")
    received = []
    receiver.on_message_recv.add(lambda conn_id, ident, message: received.append(message.data))
    address = receiver_link.add_listener(("127.0.0.1", 0))
    sender_link.add_connector(address)
    links.pump(lambda: len(received) >= MANY, timeout=30.0, what="%d messages" % MANY)
    assert received == [b"%d" % i for i in range(MANY)]
    links.pump(lambda: len(sent) == MANY, timeout=10.0, what="every on_message_sent")
    assert len(set(sent)) == MANY


def test_send_from_four_threads_while_loop_runs(links):
    receiver_link, _, receiver = links.stack("receiver")
    received = []
    receiver.on_message_recv.add(lambda conn_id, ident, message: received.append(message.data))
    address = receiver_link.add_listener(("127.0.0.1", 0))
    sender_link, _, sender = links.stack("sender")
    sender_events = links.record(sender)
    sender_link.add_connector(address)
    links.pump(lambda: sender_events.connected("receiver"), what="connect")

    start = threading.Barrier(THREADS + 1, timeout=10)
    failures = []

    def send_all(thread_no: int) -> None:
        try:
            start.wait()
            for i in range(PER_THREAD):
                sender.send_message("receiver", Message(b"%d:%d" % (thread_no, i), ttl=None))
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=send_all, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()  # the loop runs in this (the main) thread while the others send
    links.pump(lambda: len(received) >= THREADS * PER_THREAD or failures, timeout=20.0,
               what="%d messages from %d threads" % (THREADS * PER_THREAD, THREADS))
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive(), "a sending thread did not finish"
    assert failures == []
    links.pump_for(0.1)
    assert len(received) == THREADS * PER_THREAD  # no duplicates
    for n in range(THREADS):  # each thread's messages in its own order
        mine = [data for data in received if data.startswith(b"%d:" % n)]
        assert mine == [b"%d:%d" % (n, i) for i in range(PER_THREAD)]
