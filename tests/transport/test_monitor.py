"""ConnectionMonitor: monitor events in order; duplicates only of libzmq's own connections."""
from __future__ import annotations

import os
import socket
import time
from typing import Any, Callable, Iterator, List, Tuple

import pytest
import zmq

from snakezmq._core.drops import Hangup
from snakezmq._transport.monitor import ConnectionMonitor

EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED
DEADLINE = 5.0


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.001)


@pytest.fixture
def router() -> Iterator[Tuple[zmq.Socket, ConnectionMonitor, Tuple[str, int]]]:
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    monitor = ConnectionMonitor(sock, EVENTS)
    yield sock, monitor, ("127.0.0.1", port)
    monitor.close(sock)
    sock.close(linger=0)


def next_event(monitor: ConnectionMonitor, kind: int) -> int:
    event, value = wait_until(monitor.next_event, "a monitor event")
    assert event == kind
    return value


def test_a_live_connection_is_held_and_its_hangup_told(router):
    _, monitor, address = router
    client = socket.create_connection(address, timeout=DEADLINE)
    fd = next_event(monitor, zmq.EVENT_ACCEPTED)
    here = client.getsockname()
    assert monitor.opened(fd) == (address, here)
    assert len(monitor) == 1
    client.close()
    assert next_event(monitor, zmq.EVENT_DISCONNECTED) == fd
    assert monitor.dropped(fd) == (Hangup.PEER, "%s:%d" % here)
    assert len(monitor) == 0


def test_a_number_reused_before_its_event_is_handled_is_never_held(router):
    """ACCEPTED(fd) handled after libzmq closed fd and the number went to another socket:
    that socket is not duplicated, so closing it really closes it."""
    _, monitor, address = router
    client = socket.create_connection(address, timeout=DEADLINE)
    fd = next_event(monitor, zmq.EVENT_ACCEPTED)
    mine, peer = tcp_pair()  # (made now, so that it does not get the number itself)
    client.close()
    wait_until(lambda: not _is_open(fd), "libzmq to close the connection")
    foreign = socket.socket(fileno=os.dup2(mine.fileno(), fd))  # the number is another socket's now
    mine.close()
    assert monitor.opened(fd) is None
    assert len(monitor) == 0
    foreign.close()
    peer.settimeout(DEADLINE)
    assert peer.recv(1) == b""  # no duplicate keeps the socket open
    peer.close()
    assert next_event(monitor, zmq.EVENT_DISCONNECTED) == fd
    assert monitor.dropped(fd) == (None, "")


def test_unread_events_never_stall_libzmq(router):
    """libzmq blocks its I/O thread while a monitor's queue is full; ours has no limit."""
    _, monitor, address = router
    count = 1200  # 2 events each: more than the default limits (1000 + 1000) together
    for _ in range(count):
        socket.create_connection(address, timeout=DEADLINE).close()
    events: List[Tuple[int, int]] = []
    wait_until(lambda: _read_all(monitor, events) >= 2 * count, "every event")


def tcp_pair() -> Tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        one = socket.create_connection(server.getsockname(), timeout=DEADLINE)
        other, _ = server.accept()
    return one, other


def _read_all(monitor: ConnectionMonitor, into: List[Tuple[int, int]]) -> int:
    while True:
        event = monitor.next_event()
        if event is None:
            return len(into)
        into.append(event)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
