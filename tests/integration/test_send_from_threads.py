"""``send_message`` from other threads never sends or runs a callback in the caller's
thread (issue 12, defect 4): it queues under the lock and wakes the loop; the loop
thread does the rest. So ``on_error``, ``on_message_drop`` and ``on_disconnect`` always
run in the loop thread, and nothing a sender thread does can interleave with socket use.
"""
from __future__ import annotations

import threading
from typing import Any, List, Set

from snakezmq.message import Message

SMALL_LIMIT = 1100  #: a 1000-byte message (plus 128 bytes of overhead) no longer fits


def callback_threads(messaging: Any) -> Set[int]:
    """The threads that ran any of ``messaging``'s callbacks, as they happen."""
    threads: Set[int] = set()
    for name in ("on_error", "on_message_drop", "on_message_sent", "on_disconnect", "on_connect"):
        getattr(messaging, name).add(lambda *args: threads.add(threading.get_ident()))
    return threads


def connected_pair(links: Any) -> Any:
    rx_link, _, rx = links.stack("rx")
    tx_link, tx_packeter, tx = links.stack("tx")
    up: List[str] = []
    tx.on_connect.add(lambda conn_id, ident: up.append(ident))
    tx_link.add_connector(rx_link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.2)
    links.pump(lambda: up, what="tx to connect")
    return rx, tx, tx_packeter


def test_a_full_batch_from_another_thread_reports_in_the_loop_thread(links):
    """A backlog of a batch, queued while no loop runs, then too large for a lowered limit:
    the drops are reported by the loop, not by the thread whose send completed the batch."""
    rx, tx, tx_packeter = connected_pair(links)
    threads = callback_threads(tx)
    dropped: List[bytes] = []
    tx.on_message_drop.add(lambda ident, uuid: dropped.append(uuid))
    for _ in range(1023):
        tx.send_message("rx", Message(b"x" * 1000, ttl=60))
    tx_packeter.max_packet_size = SMALL_LIMIT
    sender = threading.Thread(target=tx.send_message, args=("rx", Message(b"small", ttl=60)))
    sender.start()
    sender.join(10)
    assert not sender.is_alive()
    assert threads == set() and dropped == []  # nothing ran in the sender's thread
    links.pump(lambda: len(dropped) == 1023, what="the drops")
    assert threads == {threading.get_ident()}


def test_threads_hammering_send_message_while_the_loop_runs(links):
    """4 threads x 2,000 messages while the loop runs: each arrives once, and every
    callback runs in the loop thread."""
    rx, tx, _ = connected_pair(links)
    threads = callback_threads(tx)
    received: List[bytes] = []
    rx.on_message_recv.add(lambda conn_id, ident, message: received.append(message.data))

    def send_many(worker: int) -> None:
        for n in range(2000):
            tx.send_message("rx", Message(b"%d:%d" % (worker, n), ttl=60))

    workers = [threading.Thread(target=send_many, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    links.pump(lambda: len(received) == 8000 and not any(w.is_alive() for w in workers),
               timeout=30, what="8,000 messages")
    for worker in workers:
        worker.join(5)
    assert sorted(received) == sorted(b"%d:%d" % (w, n) for w in range(4) for n in range(2000))
    for w in range(4):  # in order per sending thread
        assert [d for d in received if d.startswith(b"%d:" % w)] == [b"%d:%d" % (w, n) for n in range(2000)]
    assert threads == {threading.get_ident()}
