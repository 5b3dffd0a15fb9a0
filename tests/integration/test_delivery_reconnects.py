"""Reconnects while both processes live: every message exactly once, in order.

Unacknowledged messages are resent after a reconnect with their sequence
numbers, and the receiver skips what it already delivered, so a live receiver
never sees a duplicate (README, "Delivery contract").
"""
from __future__ import annotations

import errno
import time

import pytest
import zmq

from snakezmq.message import Message

from .delivery import (N_MESSAGES, Received, assert_exactly_once_in_order, ready_address, stats,
                       wait_acknowledged, wait_until)

RATE = 8000  # messages per second: the stream lasts 2.5 s
EVERY = 2500  # force a reconnect each time the receiver got this many more


def restart_listener(link, address, timeout=2.0):
    """``del_listener`` + ``add_listener`` on the same address.

    Retries while the port is still in use: ZeroMQ closes the old socket in its
    I/O thread, a few milliseconds later (see test_listener_readded_at_once).
    """
    link.del_listener(address)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return link.add_listener(address)
        except zmq.ZMQError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
        time.sleep(0.005)


def test_connections_closed_repeatedly_while_sending(peers):
    """``link.close(conn_id)`` on either side, again and again, in the middle of the stream."""
    sender = peers("--ident", "tx", "--listen", "127.0.0.1:0")
    receiver = peers("--ident", "rx", "--connect", ready_address(sender), "--recv-summary",
                     "--reconnect-interval", "0.1")
    sender.wait_event("connect", ident="rx")
    received = Received(receiver)
    sender.command(cmd="send_many", to="rx", n=N_MESSAGES, ttl=None, rate=RATE, report_every=200)

    closes = 0
    next_close = EVERY
    while received.count("tx") < N_MESSAGES and next_close < N_MESSAGES:
        wait_until(lambda: received.count("tx") >= next_close, 15,
                   "the receiver to get %d" % next_close, watch=[sender, receiver])
        closer = (sender, receiver)[closes % 2]
        closer.command(cmd="close")
        closes += 1
        closer.wait_event("closed", timeout=5)  # the first of them is enough to go on
        next_close = received.count("tx") + EVERY

    wait_until(lambda: received.count("tx") >= N_MESSAGES, 15, "all messages",
               watch=[sender, receiver])
    wait_acknowledged(sender, "rx")
    assert closes >= 4, "the stream ended before the connections were closed (%d closes)" % closes
    assert len(sender.of("disconnect")) >= closes  # every close was a real reconnect
    assert_exactly_once_in_order(received.of("tx"), 0, N_MESSAGES)
    assert stats(receiver)["uuids"]["tx"] == N_MESSAGES
    assert not sender.of("error") and not receiver.of("error")


def test_listener_socket_restarted_under_a_live_receiver(links, peers):
    """The receiving process lives; its listener is deleted and re-added on the same port."""
    link, _, messaging = links.stack("rx")
    got = []
    messaging.on_message_recv.add(lambda conn_id, ident, message: got.append(int(message.data[:10])))
    address = link.add_listener(("127.0.0.1", 0))
    sender = peers("--ident", "tx", "--connect", "%s:%d" % address, "--reconnect-interval", "0.1")
    sender.wait_event("connect", links, ident="rx")
    sender.command(cmd="send_many", to="rx", n=N_MESSAGES, ttl=None, rate=RATE, report_every=200)

    restarts = 0
    while len(got) + EVERY < N_MESSAGES:
        target = len(got) + EVERY
        wait_until(lambda: len(got) >= target, 15, "%d messages" % target, watch=[sender],
                   links=links)
        assert restart_listener(link, address) == address
        restarts += 1
    wait_until(lambda: len(got) >= N_MESSAGES, 15, "all messages", watch=[sender], links=links)
    wait_acknowledged(sender, "rx", links=links)
    assert restarts >= 4
    assert len(sender.of("disconnect")) >= restarts
    assert_exactly_once_in_order(got, 0, N_MESSAGES)


def test_listener_socket_restarted_under_a_live_sender(links, peers):
    """The sending process lives and listens; its listener is deleted and re-added on the same port."""
    link, _, messaging = links.stack("tx")
    address = link.add_listener(("127.0.0.1", 0))
    receiver = peers("--ident", "rx", "--connect", "%s:%d" % address, "--recv-summary",
                     "--reconnect-interval", "0.1")
    receiver.wait_event("connect", links, ident="tx")
    received = Received(receiver)
    queue = messaging.queues_manager.get_queue("rx")

    sent = restarts = 0
    next_restart = EVERY
    while received.count("tx") < N_MESSAGES:
        if sent < N_MESSAGES:  # send in slices between loop passes, like an application would
            for seq in range(sent, min(sent + 200, N_MESSAGES)):
                messaging.send_message("rx", Message(b"%010d" % seq + b"." * 90, ttl=None))
            sent = min(sent + 200, N_MESSAGES)
        wait_until(lambda: received.count("tx") >= min(sent, next_restart) or sent < N_MESSAGES,
                   15, "the receiver to keep up", watch=[receiver], links=links)
        link.loop(poll_timeout=0.01, runtime=0.02)
        if received.count("tx") >= next_restart:
            assert restart_listener(link, address) == address
            restarts += 1
            next_restart = received.count("tx") + EVERY
    wait_until(lambda: len(queue) == 0, 10, "every message acknowledged", watch=[receiver],
               links=links)
    assert restarts >= 3
    assert len(receiver.of("disconnect")) >= restarts
    assert_exactly_once_in_order(received.of("tx"), 0, N_MESSAGES)
    assert stats(receiver, links=links)["uuids"]["tx"] == N_MESSAGES


@pytest.mark.parametrize("how", ["del_listener", "cleanup"])
def test_listener_readded_at_once(links, peers, how):
    """snakemq code that re-creates a listener on the same port (same Link, or a new one)."""
    link, _, _ = links.stack("hub")
    address = link.add_listener(("127.0.0.1", 0))
    peer = peers("--ident", "spoke", "--connect", "%s:%d" % address, "--reconnect-interval", "0.05")
    peer.wait_event("connect", links, ident="hub")
    for _ in range(40):
        if how == "del_listener":
            link.del_listener(address)
        else:
            links.retire(link)
            link, _, _ = links.stack("hub")
        link.add_listener(address)  # raises EADDRINUSE in one try out of 4 to 8
        links.pump_for(0.02)
