"""The packet limit (issue 19, point 3): 256 MiB unless raised, refused on send with a
PacketTooLarge that says what to do; raised on both sides, snakemq's own
``packeter_single_large.py`` packet of 300 MiB arrives whole (the README's
differences table says why the limit exists)."""
from __future__ import annotations

from typing import Any, List, Tuple

import pytest

from snakezmq.exceptions import PacketTooLarge
from snakezmq.packeter import MAX_PACKET_SIZE, Packeter

MiB = 1024 * 1024
SNAKEMQ_LARGE = 300 * MiB  #: DATA_SIZE of snakemq's tests/performance/packeter_single_large.py
LARGE_DEADLINE = 60.0


def pair(links: Any, limit: int = 0) -> Tuple[Packeter, Packeter, str, List[bytes]]:
    """Sender and receiver Packeters (``limit``: both sides' max_packet_size, set before
    connecting), the sender's conn_id, and the list the receiver appends packets to."""
    sender, receiver = Packeter(links.new()), Packeter(links.new())
    if limit:
        sender.max_packet_size = receiver.max_packet_size = limit
    received: List[bytes] = []
    conns: List[str] = []
    receiver.on_packet_recv.add(lambda conn_id, packet: received.append(packet))
    sender.on_connect.add(conns.append)
    sender.link.add_connector(receiver.link.add_listener(("127.0.0.1", 0)))
    links.pump(lambda: conns, what="connected")
    return sender, receiver, conns[0], received


def test_the_default_limit_is_256_mib_and_a_larger_packet_is_refused_on_send(links):
    sender, receiver, conn_id, received = pair(links)
    assert sender.max_packet_size == receiver.max_packet_size == MAX_PACKET_SIZE == 256 * MiB
    with pytest.raises(PacketTooLarge) as raised:
        sender.send_packet(conn_id, bytes(256 * MiB + 1))
    assert "raise Packeter.max_packet_size on both sides" in str(raised.value)
    sender.send_packet(conn_id, b"after")  # nothing of the refused packet went out
    links.pump(lambda: received, what="the next packet")
    assert received == [b"after"]


def test_raised_on_both_sides_snakemqs_300_mib_packet_arrives_whole(links):
    sender, _, conn_id, received = pair(links, limit=SNAKEMQ_LARGE)
    packet = bytes(range(256)) * (SNAKEMQ_LARGE // 256)
    sender.send_packet(conn_id, packet)
    links.pump(lambda: received, timeout=LARGE_DEADLINE, what="the 300 MiB packet")
    assert len(received) == 1 and received[0] == packet
