"""When a receiver acknowledges (``_core.protocol``): at once after ACK_AT_ONCE_COUNT messages,
else on the first packet back, else within ACK_DELAY; driven through the simulator's World."""
from __future__ import annotations

from typing import List

from snakezmq._core import protocol, wire
from tests.sim.world import World

AB = frozenset(("a", "b"))


def connected() -> World:
    world = World(["a", "b"])
    for node in world.live_nodes():
        node.protocol.outbox.window = 1000  # (the simulator's window of 3 would hold a's sends)
    world.connect("a", "b")
    world.drain(AB)
    return world


def send_and_deliver(world: World, count: int = 1) -> None:
    """``a`` sends ``count`` messages in a packet each; ``b`` receives them."""
    for _ in range(count):
        world.send("a", "b", b"x", None, False)
        world.deliver(("b", "a"), True, 1)


def travelling_to_a(world: World) -> List[str]:
    return [wire.messaging_kind(packet).name for packet, _ in world.connections[AB].in_flight["a"]]


def test_a_small_packet_is_acknowledged_within_the_ack_delay():
    world = connected()
    send_and_deliver(world)
    world.advance(protocol.ACK_DELAY * 0.9)
    assert travelling_to_a(world) == []
    assert world.nodes["b"].protocol.acks_owed == 1
    world.advance(protocol.ACK_DELAY * 0.2)
    assert travelling_to_a(world) == ["ACK"]
    assert world.nodes["b"].protocol.acks_owed == 0


def test_the_ack_rides_on_the_first_packet_back():
    world = connected()
    send_and_deliver(world)
    world.send("b", "a", b"reply", None, False)
    assert travelling_to_a(world) == ["MESSAGES"]
    packet, payload = world.connections[AB].in_flight["a"][0]
    assert wire.decode_messages(packet, payload).ack == 1
    world.advance(protocol.ACK_DELAY * 2)
    assert travelling_to_a(world) == ["MESSAGES"]  # and no lone ACK after it


def test_enough_small_packets_are_acknowledged_at_once():
    world = connected()
    send_and_deliver(world, protocol.ACK_AT_ONCE_COUNT - 1)
    assert travelling_to_a(world) == []
    send_and_deliver(world)
    assert travelling_to_a(world) == ["ACK"]


def test_a_later_packet_does_not_put_the_ack_off():
    world = connected()
    send_and_deliver(world)
    world.advance(protocol.ACK_DELAY * 0.6)
    send_and_deliver(world)
    world.advance(protocol.ACK_DELAY * 0.6)
    assert travelling_to_a(world) == ["ACK"]
    packet, _ = world.connections[AB].in_flight["a"][0]
    assert wire.decode_ack(packet)[0] == 2
