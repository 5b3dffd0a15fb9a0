"""Large messages travel as a frame of their own (no copy into the packet), and
whatever sits between Messaging and the Link still gets whole, correct packets."""
from __future__ import annotations

import os

import pytest

from snakezmq.message import Message
from snakezmq.messaging import DETACH_BYTES
from snakezmq.packeter import Packeter
from snakezmq.throttle import Throttle

SIZES = [DETACH_BYTES - 1, DETACH_BYTES, 3 * 1024 * 1024 + 7]


def connect(links, listener_stack, connector_stack):
    listener_link, connector_link = listener_stack[0], connector_stack[0]
    host, port = listener_link.add_listener(("127.0.0.1", 0))
    connector_link.add_connector((host, port))
    events = [links.record(listener_stack[2]), links.record(connector_stack[2])]
    links.pump(lambda: all(e.of("connect") for e in events), what="both sides connected")
    return events


@pytest.mark.parametrize("direction", ["to listener", "to connector"])
def test_large_and_small_messages_arrive_whole_and_in_order(links, direction):
    server, client = links.stack("server"), links.stack("client")
    server_events, client_events = connect(links, server, client)
    sender, to, events = (client[2], "server", server_events) if direction == "to listener" \
        else (server[2], "client", client_events)
    payloads = [os.urandom(size) for size in SIZES] + [b"small", os.urandom(DETACH_BYTES * 2)]
    uuids = []
    for payload in payloads:
        message = Message(payload, ttl=None, flags=1)
        uuids.append(message.uuid)
        sender.send_message(to, message)
    links.pump(lambda: len(events.of("recv")) == len(payloads), what="every message")
    got = [event[3] for event in events.of("recv")]
    assert [m.data for m in got] == payloads
    assert [m.uuid for m in got] == uuids and {m.flags for m in got} == {1}
    assert all(type(m.data) is bytes for m in got)
    assert not events.of("error")


def test_packeter_over_throttle_sends_large_messages_joined(links):
    """A Throttle sends a detached payload joined to its packet (one throttled packet)."""
    import snakezmq.messaging

    server = links.stack("server")
    link = links.new()
    packeter = Packeter(Throttle(link, 50 * 1024 * 1024))
    client = (link, packeter, snakezmq.messaging.Messaging("client", "", packeter))
    server_events, _ = connect(links, server, client)
    payload = os.urandom(DETACH_BYTES * 3)
    client[2].send_message("server", Message(payload, ttl=None))
    links.pump(lambda: server_events.of("recv"), what="the message")
    assert server_events.received() == [payload]


def test_a_packeter_without_messaging_gets_the_whole_packet(links):
    """A plain Packeter user on the receiving side sees one ordinary packet."""
    receiver_link = links.new()
    receiver = Packeter(receiver_link)
    packets = []
    receiver.on_packet_recv.add(lambda conn_id, packet: packets.append(packet))
    host, port = receiver_link.add_listener(("127.0.0.1", 0))
    sender_link = links.new()
    sender_packeter = Packeter(sender_link)
    connected = []
    sender_packeter.on_connect.add(connected.append)
    sender_link.add_connector((host, port))
    links.pump(lambda: connected, what="the connection")
    sender_packeter.stack.send_detached(connected[0], b"head:", b"p" * DETACH_BYTES)
    links.pump(lambda: packets, what="the packet")
    assert packets == [b"head:" + b"p" * DETACH_BYTES]
