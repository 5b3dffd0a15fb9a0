"""Small packets sent from callbacks travel together (one PACKETS message per loop pass and
connection) and arrive exactly as if each had been sent alone (issue 19, point 4).

What a Packeter or Link user sees must not change: every packet arrives once, in order,
through its own ``on_packet_recv``; every ``send_packet`` gets its ``on_packet_sent``, in
order; a packet too large to gather, a ``close()`` or the end of the pass keep the order;
a receiver with a small ``max_packet_size`` never gets a PACKETS message larger than it
takes; a peer that does not announce PACKETS (an older snakezmq) gets plain DATA.
"""
from __future__ import annotations

import os
from typing import Any, List, Tuple

import pytest
import zmq

from snakezmq._core import wire
from snakezmq.packeter import Packeter

LARGE = 20 * 1024  #: larger than a gathered packet may be: it goes alone, in its place


class End:
    """A Link with a Packeter that records what it receives and what it was told was sent."""

    def __init__(self, links: Any) -> None:
        self.link = links.new()
        self.packeter = Packeter(self.link)
        self.conns: List[str] = []
        self.received: List[bytes] = []
        self.sent_ids: List[int] = []
        self.disconnected: List[str] = []
        self.packeter.on_connect.add(self.conns.append)
        self.packeter.on_packet_recv.add(lambda conn_id, packet: self.received.append(packet))
        self.packeter.on_packet_sent.add(lambda conn_id, packet_id: self.sent_ids.append(packet_id))
        self.packeter.on_disconnect.add(self.disconnected.append)


def connected_pair(links: Any, receiver_limit: int = 0) -> Tuple[End, End]:
    sender, receiver = End(links), End(links)
    if receiver_limit:
        receiver.packeter.max_packet_size = receiver_limit  # before its socket exists
    address = receiver.link.add_listener(("127.0.0.1", 0))
    sender.link.add_connector(address)
    links.pump(lambda: sender.conns and receiver.conns, what="connected")
    return sender, receiver


def packets(count: int, large_every: int = 0) -> List[bytes]:
    """Distinct packets of 0-199 bytes, and every ``large_every``-th one LARGE."""
    return [(b"%06d" % i) * (LARGE // 6 if large_every and i % large_every == 1 else i % 33)
            for i in range(count)]


def send_from_callback(links: Any, sender: End, batch: List[bytes]) -> List[int]:
    """Send ``batch`` from one on_loop_pass callback (one loop pass); returns the packet ids."""
    ids: List[int] = []

    def send_all() -> None:
        sender.link.on_loop_pass.remove(send_all)
        ids.extend(sender.packeter.send_packet(sender.conns[0], packet) for packet in batch)

    sender.link.on_loop_pass.add(send_all)
    links.pump(lambda: len(ids) == len(batch), what="the callback to send")
    return ids


@pytest.mark.parametrize("roles", ["connector sends", "listener sends"])
def test_packets_from_one_pass_arrive_alone_in_order_and_each_is_reported_sent(links, roles):
    first, second = connected_pair(links)
    sender, receiver = (first, second) if roles == "connector sends" else (second, first)
    batch = packets(30000, large_every=1000)
    ids = send_from_callback(links, sender, batch)
    links.pump(lambda: len(receiver.received) >= len(batch) and len(sender.sent_ids) >= len(batch),
               timeout=20.0, what="every packet received and reported sent")
    assert receiver.received == batch
    assert sender.sent_ids == ids


def test_close_after_sending_from_a_callback_delivers_first(links):
    sender, receiver = connected_pair(links)
    batch = packets(500)

    def send_and_close() -> None:
        sender.link.on_loop_pass.remove(send_and_close)
        for packet in batch:
            sender.packeter.send_packet(sender.conns[0], packet)
        sender.link.close(sender.conns[0])

    sender.link.on_loop_pass.add(send_and_close)
    links.pump(lambda: receiver.disconnected, what="the receiver's on_disconnect")
    assert receiver.received == batch


def test_a_receiver_with_a_small_packet_limit_gets_only_what_it_takes(links):
    """ZeroMQ would cut off a peer that sends a frame over the receiver's limit."""
    sender, receiver = connected_pair(links, receiver_limit=2000)
    batch = packets(3000)
    send_from_callback(links, sender, batch)
    links.pump(lambda: len(receiver.received) >= len(batch), what="every packet")
    assert receiver.received == batch and not receiver.disconnected and not sender.disconnected


def test_a_raising_receive_callback_loses_nothing_of_its_pass(links):
    sender, receiver = connected_pair(links)
    batch = [b"a", b"boom", b"b", b"boom", b"c"]

    def raise_on_boom(conn_id: str, packet: bytes) -> None:
        if packet == b"boom":
            raise KeyError(packet)

    receiver.packeter.on_packet_recv.add(raise_on_boom)
    links.live.remove(receiver.link)  # it reads them all in one pass, later
    send_from_callback(links, sender, batch)
    links.live.append(receiver.link)
    raised = []
    while len(receiver.received) < len(batch) and len(raised) < 10:
        try:
            links.pump(lambda: len(receiver.received) >= len(batch), what="every packet")
        except KeyError as exc:
            raised.append(exc)
    assert receiver.received == batch
    assert len(raised) == 1  # the first exception left loop(), after the rest was delivered


DATA = wire.encode_link(wire.LinkKind.DATA)
PACKETS = wire.encode_link(wire.LinkKind.PACKETS)


@pytest.mark.parametrize("announced", [None, 1024])
def test_what_a_connector_gets_depends_on_its_packets_limit(links, announced):
    """A bare DEALER says HELLO: without packets_limit (an older snakezmq) it gets one DATA
    per packet; with one, the pass's first packet at once as DATA, then PACKETS bodies no
    larger than its limit, the packets in order."""
    listener = End(links)
    address = listener.link.add_listener(("127.0.0.1", 0))
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    try:
        dealer.connect("tcp://%s:%d" % address)
        hello = [wire.MAGIC, wire.LINK_VERSION, os.urandom(wire.NONCE_BYTES), False]
        hello += ["", announced] if announced else []
        dealer.send(wire.encode_link(wire.LinkKind.HELLO, *hello))
        links.pump(lambda: listener.conns, what="the bare connector's session")
        batch = packets(200)
        send_from_callback(links, listener, batch)
        received: List[List[bytes]] = []
        links.pump(lambda: len(_unpacked(_drain(dealer, received))) >= len(batch), what="the packets")
        messages = [frames for frames in received if frames[0] in (DATA, PACKETS)]
        assert _unpacked(messages) == batch
        if announced is None:
            assert [frames[0] for frames in messages] == [DATA] * len(batch)
        else:
            assert messages[0][0] == DATA and {frames[0] for frames in messages[1:]} == {PACKETS}
            assert max(len(frames[1]) for frames in messages) <= announced
    finally:
        dealer.close(linger=0)


def _drain(sock: Any, received: List[List[bytes]]) -> List[List[bytes]]:
    while sock.poll(0):
        received.append(sock.recv_multipart())
    return received


def _unpacked(messages: List[List[bytes]]) -> List[bytes]:
    """The packets of the DATA and PACKETS messages among ``messages``, in order."""
    out: List[bytes] = []
    for frames in messages:
        if frames[0] == DATA:
            out.append(frames[1])
        elif frames[0] == PACKETS:
            out.extend(wire.decode_packets(frames[1]))
    return out
