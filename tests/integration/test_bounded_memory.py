"""Bounded memory: a slow or absent peer never makes ZeroMQ's queues grow.

200,000 messages of 100 B wait in the sender's outbox for a peer that is not
there; none of them is handed to ZeroMQ. When the peer comes but does not run
its loop (its ZeroMQ threads keep receiving), at most one window
(``snakezmq._core.outbox.WINDOW``) is ever in flight, so that is all its
ZeroMQ can hold. The memory per queued message is measured by
benchmarks/memory_per_message.py.
"""
from __future__ import annotations

from snakezmq._core.outbox import WINDOW
from snakezmq.message import Message

from .delivery import Received, assert_exactly_once_in_order, wait_until

N = 200000
SIZE = 100


def test_absent_then_slow_peer_never_gets_more_than_a_window(links, peers):
    link, _, messaging = links.stack("tx")
    host, port = link.add_listener(("127.0.0.1", 0))
    for seq in range(N):
        payload = b"%010d" % seq
        messaging.send_message("rx", Message(payload + b"." * (SIZE - len(payload)), ttl=None))
    queue = messaging.queues_manager.get_queue("rx")
    outbox_queue = messaging._outbox.queues["rx"]
    links.pump_for(0.1)
    assert len(queue) == N
    assert len(outbox_queue.pending) == N and len(outbox_queue.inflight) == 0

    peak = [0]  # the most messages in flight after any loop pass of the sender

    def sample():
        peak[0] = max(peak[0], len(outbox_queue.inflight))

    link.on_loop_pass.add(sample)
    # A slow receiver: its loop stops as soon as it has connected.
    receiver = peers("--ident", "rx", "--connect", "%s:%d" % (host, port), "--recv-summary",
                     "--pause-on-connect", "20")
    received = Received(receiver)
    receiver.wait_event("paused", links)
    at_pause = received.count("tx")

    links.pump(lambda: len(outbox_queue.inflight) == WINDOW, what="a full window in flight")
    links.pump_for(1.0)  # the sender keeps looping: nothing more goes out
    assert peak[0] == WINDOW
    assert len(outbox_queue.inflight) == WINDOW
    assert received.count("tx") == at_pause  # the receiver really did not run
    assert len(queue) == N - at_pause  # only what was delivered before the pause was acknowledged

    receiver.command(cmd="resume")
    wait_until(lambda: received.count("tx") >= N, 30, "all %d messages" % N, watch=[receiver],
               links=links)
    links.pump(lambda: len(queue) == 0, what="every message acknowledged")
    assert peak[0] <= WINDOW
    assert_exactly_once_in_order(received.of("tx"), 0, N)
    assert not receiver.of("error")
