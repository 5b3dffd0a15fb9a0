"""ConnectionMonitor.shut: the listener ends a silent peer's TCP connection (no ZMTP heartbeats
do it any more), found by "ip:port", or by host when only one connection comes from it."""
from __future__ import annotations

import socket
from typing import Iterator, List, Tuple

import pytest

import zmq

from snakezmq._transport.monitor import ConnectionMonitor, format_address


@pytest.fixture
def held() -> Iterator[ConnectionMonitor]:
    """A ConnectionMonitor (of an unused ROUTER) fed raw TCP connections by the tests."""
    router = zmq.Context.instance().socket(zmq.ROUTER)
    monitor = ConnectionMonitor(router, zmq.EVENT_ACCEPTED)
    yield monitor
    monitor.close(router)
    router.close(linger=0)


@pytest.fixture
def connect() -> Iterator:
    """``connect()`` -> (client, accepted) TCP sockets on loopback; all closed at the end."""
    server = socket.create_server(("127.0.0.1", 0))
    made: List[socket.socket] = [server]

    def pair() -> Tuple[socket.socket, socket.socket]:
        client = socket.create_connection(server.getsockname(), timeout=5)
        accepted, _ = server.accept()
        accepted.settimeout(5)
        made.extend([client, accepted])
        return client, accepted

    yield pair
    for sock in made:
        sock.close()


def test_shut_ends_the_connection_at_that_address(held, connect):
    client, accepted = connect()
    ends = held.opened(accepted.fileno())
    remote = format_address(ends.remote) if ends else ""
    assert remote == "127.0.0.1:%d" % client.getsockname()[1]
    assert held.shut(remote)
    assert accepted.recv(1) == b""  # the owner of the descriptor (libzmq) reads its end
    assert client.recv(1) == b""  # and the peer is told


def test_shut_by_host_needs_a_single_connection_from_it(held, connect):
    first = connect()
    held.opened(first[1].fileno())
    second = connect()
    held.opened(second[1].fileno())
    assert not held.shut("127.0.0.1")  # which one? neither
    assert not held.shut("127.0.0.1:1") and not held.shut("")
    held.dropped(second[1].fileno())
    assert held.shut("127.0.0.1")
    assert first[0].recv(1) == b""
