"""tcpinfo.data_age on real loopback TCP connections: the field read is ``tcpi_last_data_recv``
(offset 52 of struct tcp_info). It grows while nothing arrives, drops when data arrives, and
ACKs of data we send do not move it (so it is not ``tcpi_last_ack_recv`` at offset 56), while
data we send does not either (not ``tcpi_last_data_sent`` at 44)."""
from __future__ import annotations

import socket
import time
from typing import Iterator, Tuple

import pytest

import zmq

from snakezmq._transport import tcpinfo
from snakezmq._transport.monitor import ConnectionMonitor, format_address

pytestmark = pytest.mark.skipif(not tcpinfo.supported(), reason="TCP_INFO is Linux's")
JIFFY = 0.011  #: the kernel keeps these times in jiffies (HZ >= 100)
QUIET = 0.3


@pytest.fixture
def pair() -> Iterator[Tuple[socket.socket, socket.socket]]:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname(), timeout=5)
    accepted, _ = server.accept()
    accepted.settimeout(5)
    yield client, accepted
    for sock in (server, client, accepted):
        sock.close()


def _recv_exactly(sock: socket.socket, size: int) -> None:
    while size:
        size -= len(sock.recv(size))


def test_data_age_is_the_time_since_data_arrived(pair):
    client, accepted = pair
    opened = time.monotonic()  # (after the handshake: it sets the time too)
    time.sleep(QUIET)
    at_most = time.monotonic() - opened
    quiet = tcpinfo.data_age(client)
    assert quiet is not None and QUIET - JIFFY <= quiet <= at_most + 0.5  # (+ the fixture's setup)

    sent = time.monotonic()  # the client sends (the data is ACKed) and nothing arrives at it
    for _ in range(20):
        client.sendall(b"x" * 65536)
        _recv_exactly(accepted, 65536)
    time.sleep(0.05)  # (delayed ACKs are in)
    at_least = time.monotonic() - opened - JIFFY
    assert tcpinfo.data_age(client) >= at_least
    assert tcpinfo.data_age(accepted) <= time.monotonic() - sent + JIFFY

    arrived = time.monotonic()  # now data arrives at the client
    accepted.sendall(b"y")
    assert client.recv(1) == b"y"
    assert tcpinfo.data_age(client) <= time.monotonic() - arrived + JIFFY
    time.sleep(QUIET)
    assert tcpinfo.data_age(client) >= QUIET - JIFFY  # and grows again


def test_data_age_is_none_on_other_sockets():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unix, other = socket.socketpair()
    try:
        assert tcpinfo.data_age(udp) is None and tcpinfo.data_age(unix) is None
    finally:
        for sock in (udp, unix, other):
            sock.close()


def test_monitor_reads_the_held_connection_of_a_zeromq_peer():
    """A ROUTER's monitor holds the DEALER's connection (by the DEALER's "ip:port"): its
    data age drops when a message arrives; unknown addresses give None."""
    context = zmq.Context.instance()
    router, dealer = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    monitor = ConnectionMonitor(router, zmq.EVENT_ACCEPTED)
    try:
        router.bind("tcp://127.0.0.1:0")
        dealer.connect(router.last_endpoint.decode())
        dealer.send(b"hello")
        assert router.poll(5000) and router.recv_multipart()[1] == b"hello"
        event = None
        while event is None or event[0] != zmq.EVENT_ACCEPTED:
            assert monitor.socket.poll(5000)
            event = monitor.next_event()
        ends = monitor.opened(event[1])
        address = format_address(ends.remote)
        time.sleep(QUIET)
        assert monitor.data_age(address) >= QUIET - JIFFY
        arrived = time.monotonic()
        dealer.send(b"again")
        assert router.poll(5000) and router.recv_multipart()[1] == b"again"
        assert monitor.data_age(address) <= time.monotonic() - arrived + JIFFY
        assert monitor.data_age("127.0.0.1:1") is None and monitor.data_age("") is None
    finally:
        monitor.close(router)
        dealer.close(linger=0)
        router.close(linger=0)
