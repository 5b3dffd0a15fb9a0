"""FLAG_PERSISTENT ``send_message`` from threads other than the loop's.

snakemq 1.6's ``send_message`` is documented thread-safe, but its
``SqliteQueuesStorage`` connection only works in the thread that created it,
so a persistent send from another thread raises ``sqlite3.ProgrammingError``.
snakezmq's storage is thread-safe: the message is stored, delivered once and
removed from the file when acknowledged.
"""
from __future__ import annotations

import sqlite3
import threading
import warnings

import pytest

from snakezmq.message import FLAG_PERSISTENT, Message
from snakezmq.storage.sqlite import SqliteQueuesStorage

from .delivery import Received, assert_exactly_once_in_order, wait_until

THREADS = 4
PER_THREAD = 500


def test_persistent_send_from_other_threads(links, peers, tmp_path):
    storage = SqliteQueuesStorage(str(tmp_path / "queues.sqlite"))
    link, _, messaging = links.stack("tx", storage)
    host, port = link.add_listener(("127.0.0.1", 0))
    receiver = peers("--ident", "rx", "--connect", "%s:%d" % (host, port), "--recv-summary")
    receiver.wait_event("connect", links, ident="tx")
    received = Received(receiver)
    errors = []

    def send(first):
        try:
            for seq in range(first, first + PER_THREAD):
                messaging.send_message("rx", Message(b"%010d" % seq, ttl=None, flags=FLAG_PERSISTENT))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i * 100000,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: received.count("tx") >= THREADS * PER_THREAD or errors, 20,
                   "every message", watch=[receiver], links=links)
    finally:
        for thread in threads:
            thread.join(10)
    assert not errors, errors
    assert len(received.of("tx")) == THREADS * PER_THREAD
    for i in range(THREADS):  # each thread's messages arrive once, in the thread's order
        mine = [seq for seq in received.of("tx") if i * 100000 <= seq < (i + 1) * 100000]
        assert_exactly_once_in_order(mine, i * 100000, PER_THREAD)
    links.pump(lambda: not storage.get_queues(), what="the storage to empty after the acks")


def test_snakemq_persistent_send_from_another_thread_fails(tmp_path):
    """The snakemq 1.6 behaviour the test above contrasts with (not a snakezmq requirement)."""
    pytest.importorskip("snakemq")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import snakemq.link
        import snakemq.messaging
        import snakemq.packeter
        from snakemq.message import FLAG_PERSISTENT as SNAKEMQ_PERSISTENT
        from snakemq.message import Message as SnakemqMessage
        from snakemq.storage.sqlite import SqliteQueuesStorage as SnakemqStorage

    storage = SnakemqStorage(str(tmp_path / "snakemq.sqlite"))
    link = snakemq.link.Link()
    messaging = snakemq.messaging.Messaging("tx", "", snakemq.packeter.Packeter(link), storage)
    errors = []

    def send():
        try:
            messaging.send_message("rx", SnakemqMessage(b"x", ttl=None, flags=SNAKEMQ_PERSISTENT))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    thread.join(10)
    link.cleanup()
    storage.close()
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError), errors
