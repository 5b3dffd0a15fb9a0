"""A receiver killed with SIGKILL in the middle of 20,000 messages, then restarted.

The delivery contract (README): every message arrives, in order; the only
duplicates are messages the killed process had received but not yet
acknowledged, at most one in-flight window (at-least-once across a receiver
crash). Real processes on loopback; the test process only coordinates.
"""
from __future__ import annotations

import pytest

from snakezmq._core.outbox import WINDOW

from .delivery import (N_MESSAGES, Received, acked_by_dead_peer, assert_receiver_crash_contract,
                       ready_address, wait_acknowledged, wait_until)

RATE = 10000  # messages per second: the stream lasts about 2 s, so the kill lands in the middle
KILL_AT = 6000  # the external kill happens once the receiver reported this many
DIE_AFTER = 7777  # the self-kill happens inside on_message_recv, in the middle of a packet


def _start_receiver(peers, role, address, die_after=None):
    args = ["--ident", "rx", "--recv-summary", "--reconnect-interval", "0.2"]
    args += ["--connect", address] if role == "connector" else ["--listen", address]
    if die_after is not None:
        args += ["--die-after", str(die_after)]
    return peers(*args)


@pytest.mark.parametrize("role, ttl, kill", [
    ("connector", None, "external"),  # the sender listens; the receiver connects
    ("listener", 3600, "self"),  # the receiver listens (restarted on the same port)
])
def test_receiver_killed_mid_stream_gets_everything_in_order(peers, role, ttl, kill):
    if role == "connector":
        sender = peers("--ident", "tx", "--listen", "127.0.0.1:0")
        address = ready_address(sender)
        receiver = _start_receiver(peers, role, address, DIE_AFTER if kill == "self" else None)
    else:
        receiver = _start_receiver(peers, role, "127.0.0.1:0", DIE_AFTER if kill == "self" else None)
        address = ready_address(receiver)
        sender = peers("--ident", "tx", "--connect", address, "--reconnect-interval", "0.2")
    sender.wait_event("connect", ident="rx")
    received = Received(receiver)

    sender.command(cmd="send_many", to="rx", n=N_MESSAGES, ttl=ttl, rate=RATE, report_every=20)
    if kill == "external":
        wait_until(lambda: received.count("tx") >= KILL_AT, 15, "the receiver to get %d" % KILL_AT,
                   watch=[sender, receiver])
        receiver.kill()
    else:
        wait_until(lambda: not receiver.alive(), 15, "the receiver to kill itself",
                   watch=[sender])
        assert receiver.proc.returncode == -9, receiver.stderr()
    before = list(Received(receiver).update().of("tx"))
    assert 0 < len(before) < N_MESSAGES, "not killed in the middle of the stream"
    if kill == "self":
        assert len(before) == DIE_AFTER
    acked = acked_by_dead_peer(sender, "rx")

    restarted = _start_receiver(peers, role, address)
    after = Received(restarted)
    wait_until(lambda: after.last("tx") == N_MESSAGES - 1, 15,
               "the restarted receiver to get the rest", watch=[sender, restarted])
    wait_acknowledged(sender, "rx")  # nothing left to arrive later
    duplicates = assert_receiver_crash_contract(before, after.of("tx"), N_MESSAGES, WINDOW, acked)
    print("killed after %d messages (%d acknowledged); %d delivered twice"
          % (len(before), acked, duplicates))
    assert not sender.of("error") and not restarted.of("error"), (sender.of("error"),
                                                                  restarted.of("error"))
