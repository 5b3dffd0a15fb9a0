"""Faults on a real network: two processes in Linux network namespaces joined by a veth pair.

The listener runs in namespace a, the connector in b; numbered streams go through the
public Messaging API. For every fault, the delivery contract (README): nothing lost, no
duplicate while the receiver lives, ``on_message_sent`` only for what arrived, a silent peer
noticed within ``DETECT_BOUND`` of the fault, sessions back within ``RECONNECT_BOUND`` of the
heal. Skipped, with the reason, where namespaces cannot be made (not root).
"""
from __future__ import annotations

import pytest

from snakezmq._core.liveness import DEAD_AFTER, PING_INTERVAL
from snakezmq._core.outbox import WINDOW

from ..integration.delivery import Received, assert_receiver_crash_contract, stats, wait_until
from .scenario import CONNECTOR, LISTENER, Scenario

RATE = 200  #: messages per second each way
SHORT_PARTITION = 2.0  #: seconds; TCP's retransmission backoff then still recovers before 6 s
LOSS_SECONDS = 4.0
SLOW_LINK_KBIT = 8000
BIG = 10 * 1024 * 1024  #: one message this large is over 10 s in flight at 8 Mbit/s
BIG_ARRIVES = 30.0  #: it arrives this long after it was sent, at the latest


def _streams(scenario: Scenario, seconds: float, idents=(CONNECTOR, LISTENER)) -> None:
    """Streams lasting about ``seconds`` from each of ``idents``; returns once they flow."""
    streams = [scenario.stream(ident, int(RATE * seconds), RATE) for ident in idents]
    for stream in streams:
        scenario.wait_received(stream, RATE // 2)


def test_partition_longer_than_detection_then_heal(scenario):
    scenario.start()
    _streams(scenario, 10)
    scenario.fault(scenario.net.partition)
    scenario.wait_noticed()
    scenario.check_acked_arrived()
    healed_at = scenario.heal()
    scenario.wait_reconnected(healed_at)
    print(scenario.assert_contract())


def test_partition_shorter_than_detection_goes_unnoticed(scenario):
    scenario.start()
    _streams(scenario, 5)
    started = scenario.fault(scenario.net.partition)
    scenario.hold(SHORT_PARTITION)
    scenario.heal()
    print(scenario.assert_contract())
    assert scenario.disconnects(since=started) == []


def test_random_loss_each_way(scenario):
    scenario.start()
    _streams(scenario, 8)
    scenario.fault(lambda: scenario.net.loss(0.25))
    scenario.hold(LOSS_SECONDS)
    scenario.check_acked_arrived()
    scenario.heal()
    print(scenario.assert_contract(), len(scenario.disconnects()), "disconnects")


def test_one_way_loss(scenario):
    scenario.start()
    _streams(scenario, 8)
    scenario.fault(lambda: scenario.net.loss(0.4, into=["a"]))  # what the connector sends
    scenario.hold(LOSS_SECONDS)
    scenario.check_acked_arrived()
    scenario.heal()
    print(scenario.assert_contract(), len(scenario.disconnects()), "disconnects")


def test_listener_link_down_then_up(scenario):
    scenario.start()
    _streams(scenario, 10)
    scenario.fault(lambda: scenario.net.link_down("a"))
    scenario.wait_noticed()
    scenario.check_acked_arrived()
    healed_at = scenario.heal(lambda: scenario.net.link_up("a"))
    scenario.wait_reconnected(healed_at)
    print(scenario.assert_contract())


def test_bandwidth_limit_large_messages(scenario):
    """8 Mbit/s: 16 messages of 256 KiB take about 4.5 s, small ones flow the other way;
    nobody is taken for dead."""
    scenario.start()
    scenario.fault(lambda: scenario.net.limit_rate(8000))
    scenario.stream(CONNECTOR, 16, rate=8, size=256 * 1024)
    scenario.stream(LISTENER, 4 * RATE, RATE)
    print(scenario.assert_contract())
    assert scenario.disconnects() == []


@pytest.mark.parametrize("sender, keepalive", [(CONNECTOR, None), (LISTENER, (1.0, 0.5))],
                         ids=["connector-sends", "listener-sends-with-keepalive"])
def test_one_message_in_flight_longer_than_dead_after(scenario, sender, keepalive):
    """8 Mbit/s, one 10 MiB message: for over 10 s no complete ZeroMQ message arrives either
    way (the receiver's answers queue behind the message, in the same TCP stream). Its bytes
    arriving are a sign of life (docs/protocol.md, "Liveness"): it arrives exactly once,
    ``on_message_sent`` fires once, nobody is taken for dead, not even by Messaging's keepalive."""
    assert BIG * 8 / (SLOW_LINK_KBIT * 1000) > DEAD_AFTER + 2  # (the point of the test)
    scenario.keepalive = keepalive
    scenario.start()
    scenario.fault(lambda: scenario.net.limit_rate(SLOW_LINK_KBIT))
    sent_at = scenario.fault_at
    stream = scenario.stream(sender, 1, rate=1, size=BIG)
    wait_until(lambda: scenario.disconnects() or scenario.received(stream), BIG_ARRIVES,
               "the big message, or a disconnect", watch=scenario.alive())
    assert scenario.disconnects() == [], "taken for dead while the message was in flight: %s" % [
        (ident, e["text"]) for ident, peer in scenario.peer.items() for e in peer.of("log")]
    arrived_at = scenario.peer[stream.receiver].of("got")[0]["t"]
    print(scenario.assert_contract(), "in flight for %.1f s" % (arrived_at - sent_at))
    assert scenario.disconnects() == []


def test_partition_while_one_message_is_in_flight(scenario):
    """Its bytes stop: the bound of a full partition holds (the receiver counted bytes as
    signs of life, the sender the receiver's PINGs); after the heal it arrives exactly once."""
    scenario.start()
    scenario.net.limit_rate(SLOW_LINK_KBIT)
    stream = scenario.stream(CONNECTOR, 1, rate=1, size=BIG // 2)
    scenario.hold(PING_INTERVAL + 1)  # the listener has heard no message for that long
    scenario.fault(scenario.net.partition)
    scenario.wait_noticed()
    assert scenario.received(stream) == []
    healed_at = scenario.heal()
    scenario.wait_reconnected(healed_at)
    print(scenario.assert_contract())


def test_receiver_killed_during_partition_restarted_after_heal(scenario):
    scenario.start()
    stream = scenario.stream(CONNECTOR, int(RATE * 10), RATE)
    scenario.wait_received(stream, RATE // 2)
    scenario.fault(scenario.net.partition)
    receiver = scenario.peer[LISTENER]
    receiver.kill()
    before = list(Received(receiver).update().of(CONNECTOR))
    scenario.wait_noticed([CONNECTOR])
    acked = int(stats(scenario.peer[CONNECTOR]).get("acked", {}).get(LISTENER, 0))
    healed_at = scenario.heal()
    scenario.start_listener()
    scenario.wait_reconnected(healed_at)
    scenario.drain()
    after = scenario.received(stream)
    duplicates = assert_receiver_crash_contract(before, after, stream.n, WINDOW, acked)
    print("killed after %d (%d acknowledged); %d delivered twice" % (len(before), acked, duplicates))
