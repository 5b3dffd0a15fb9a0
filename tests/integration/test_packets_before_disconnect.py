"""Packets sent right before the sender closes all arrive, and before ``on_disconnect``.

As over TCP, where the kernel still delivers what was written before a close. Found
while looking into issue 19, point 4 (packets lost by snakemq's packeter_multiple_small.py):
when the sender's connection was gone while the receiver's ZeroMQ socket still held
packets from it, the receiver ended the session and dropped them. A listener's ROUTER
refuses sends to a closing connection (EHOSTUNREACH) while its last messages are still
readable, and a PING then ended the session; a connector's DEALER had ZMQ_IMMEDIATE,
with which libzmq throws away unread messages when the connection drops.

Here the receiver does not run its loop until the sender has sent everything and closed,
so the drop is already known when the receiver starts reading. The count stays below
ZeroMQ's default receive high-water mark (1,000), so all of it is in the receiver's
socket by then, and above one read batch of the loop.
"""
from __future__ import annotations

import time

import pytest

from snakezmq.packeter import Packeter

COUNT = 900
RECEIVE_DEADLINE = 10.0
SETTLE = 0.5  #: not a wait for a condition: gives the close time to reach the receiver first


class End:
    """A Link with a Packeter that records its callbacks."""

    def __init__(self, links) -> None:
        self.link = links.new()
        self.packeter = Packeter(self.link)
        self.connected = []
        self.received = []
        self.sent = []
        self.received_at_disconnect = None
        self.packeter.on_connect.add(self.connected.append)
        self.packeter.on_packet_recv.add(lambda conn_id, packet: self.received.append(packet))
        self.packeter.on_packet_sent.add(lambda conn_id, packet_id: self.sent.append(packet_id))
        self.packeter.on_disconnect.add(self._disconnected)

    def _disconnected(self, conn_id: str) -> None:
        if self.received_at_disconnect is None:
            self.received_at_disconnect = len(self.received)


@pytest.mark.parametrize("sender_role", ["connector", "listener"])
def test_packets_sent_before_cleanup_arrive_before_disconnect(links, sender_role):
    listener, connector = End(links), End(links)
    address = listener.link.add_listener(("127.0.0.1", 0))
    connector.link.add_connector(address)
    links.pump(lambda: listener.connected and connector.connected, what="both ends connected")
    sender, receiver = (connector, listener) if sender_role == "connector" else (listener, connector)

    packets = [b"%05d" % index for index in range(COUNT)]
    for packet in packets:
        sender.packeter.send_packet(sender.connected[0], packet)
    links.live.remove(receiver.link)  # not pumped while the sender sends and closes
    links.pump(lambda: len(sender.sent) == COUNT, what="every packet handed to ZeroMQ")
    links.retire(sender.link)
    time.sleep(SETTLE)  # the receiver's ZeroMQ I/O thread reads the packets and the close

    links.live.append(receiver.link)
    links.pump(lambda: receiver.received_at_disconnect is not None, timeout=RECEIVE_DEADLINE,
               what="on_disconnect on the receiver")
    assert receiver.received_at_disconnect == COUNT
    assert receiver.received == packets
