"""The listening process is restarted on the same port while connectors keep sending.

Nothing is lost: each connector's messages all arrive, in order per sender;
what the old listener process had received but not yet acknowledged (at most
one window per sender) may arrive again at the new one.
"""
from __future__ import annotations

import pytest

from snakezmq._core.outbox import WINDOW

from .delivery import (Received, acked_by_dead_peer, assert_receiver_crash_contract, ready_address,
                       wait_acknowledged, wait_until)

SENDERS = ("tx0", "tx1", "tx2")
PER_SENDER = 6000
RATE = 3000  # per sender, messages per second: each stream lasts 2 s


@pytest.mark.parametrize("stop", ["sigkill", "cleanup"])
def test_listener_restarted_on_same_port_loses_nothing(peers, stop):
    listener = peers("--ident", "hub", "--listen", "127.0.0.1:0", "--recv-summary")
    address = ready_address(listener)
    senders = [peers("--ident", ident, "--connect", address, "--reconnect-interval", "0.1")
               for ident in SENDERS]
    for sender in senders:
        sender.wait_event("connect", ident="hub")
    received = Received(listener)
    for sender, ident in zip(senders, SENDERS):
        sender.command(cmd="send_many", to="hub", n=PER_SENDER, ttl=None, rate=RATE, report_every=10)

    wait_until(lambda: all(received.count(ident) >= PER_SENDER // 3 for ident in SENDERS), 15,
               "a third of every stream", watch=senders + [listener])
    if stop == "sigkill":
        listener.kill()
    else:
        listener.command(cmd="cleanup")
        listener.wait_event("cleaned", timeout=5)
        listener.proc.wait(timeout=5)
    before = Received(listener).update()
    assert all(len(before.of(ident)) < PER_SENDER for ident in SENDERS), "not restarted mid-stream"
    acked = {ident: acked_by_dead_peer(sender, "hub") for ident, sender in zip(SENDERS, senders)}

    restarted = peers("--ident", "hub", "--listen", address, "--recv-summary")
    assert ready_address(restarted) == address
    after = Received(restarted)
    wait_until(lambda: all(after.last(ident) == PER_SENDER - 1 for ident in SENDERS), 15,
               "every stream to complete at the restarted listener", watch=senders + [restarted])
    for sender in senders:
        wait_acknowledged(sender, "hub")
    for ident in SENDERS:
        duplicates = assert_receiver_crash_contract(before.of(ident), after.of(ident), PER_SENDER,
                                                    WINDOW, acked[ident])
        print("%s: %d received before the restart, %d acknowledged, %d delivered twice"
              % (ident, len(before.of(ident)), acked[ident], duplicates))
    for peer in senders + [restarted]:
        assert not peer.of("error"), peer.of("error")
