"""libzmq 4.3.5's ``Assertion failed: !_io_error (stream_engine_base.cpp:310)``, on demand.

    python zmtp_abort.py snakezmq|heartbeats|peer-ping

A ROUTER made by snakezmq (``_transport.sockets.make_router``) gets a burst from a raw
ZMTP client, more than its receive HWM, so its engine stops reading (``_input_stopped``).
The client then resets the connection: the engine sets ``_io_error`` and waits for the
application to read. Anything that now calls ``out_event`` aborts the process:

- ``heartbeats``: the ROUTER also has ZMTP heartbeats on (as snakezmq had until issue 17);
  the heartbeat timer calls ``out_event`` (libzmq issues 4364, 4841).
- ``peer-ping``: the client's burst ends with a ZMTP PING; when the application reads,
  ``restart_input`` decodes it and answers with ``out_event``. Local options cannot stop
  this: only peers that send no ZMTP PINGs (snakezmq's own no longer do).
- ``snakezmq``: the configuration as it is; prints ``survived`` and exits 0.
"""
from __future__ import annotations

import fcntl
import socket
import struct
import sys
import termios
import time

import zmq

from zmq.utils.monitor import parse_monitor_message

from snakezmq._transport import sockets
from snakezmq._transport.monitor import open_monitor

BURST = 1500  #: messages; the default receive HWM is 1000, and all fit in one 8 KiB read
QUIET_WINDOW = 1.0  #: seconds the reset connection sits unread (10 heartbeat intervals)


def command(name: bytes, body: bytes = b"") -> bytes:
    data = bytes([len(name)]) + name + body
    return bytes([0x04, len(data)]) + data


def handshake(port: int) -> socket.socket:
    """A ZMTP 3.1 NULL-mechanism DEALER, greeting and READY exchanged."""
    client = socket.create_connection(("127.0.0.1", port))
    greeting = b"\xff" + b"\0" * 8 + b"\x7f" + bytes([3, 1]) + b"NULL".ljust(20, b"\0") + b"\0" * 32
    socket_type = bytes([11]) + b"Socket-Type" + struct.pack(">I", 6) + b"DEALER"
    client.sendall(greeting + command(b"READY", socket_type))
    received = b""
    while len(received) < 64:
        received += client.recv(4096)
    return client


def wait_read_by_engine(fd: int, timeout: float = 10.0) -> None:
    """Until libzmq's engine took the whole burst from the kernel (nothing left to read)."""
    deadline = time.monotonic() + timeout
    while True:
        unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        if unread == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit("the engine did not read the burst (%d bytes unread)" % unread)
        time.sleep(0.01)


def accepted_fd(monitor: zmq.Socket, timeout_ms: int = 10000) -> int:
    while monitor.poll(timeout_ms):
        event = parse_monitor_message(monitor.recv_multipart())
        if event["event"] == zmq.EVENT_ACCEPTED:
            return int(event["value"])
    raise SystemExit("no connection accepted")


def main(mode: str) -> int:
    router = sockets.make_router()
    if mode == "heartbeats":
        router.heartbeat_ivl = 100
        router.heartbeat_timeout = 5000
    monitor = open_monitor(router, zmq.EVENT_ACCEPTED)
    port = int(sockets.bind(router, "tcp://127.0.0.1:0").rsplit(":", 1)[1])
    client = handshake(port)
    fd = accepted_fd(monitor)
    burst = b"".join(bytes([0x00, 3]) + b"abc" for _ in range(BURST))
    client.sendall(burst + (command(b"PING", struct.pack(">H", 0)) if mode == "peer-ping" else b""))
    wait_read_by_engine(fd)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST: the engine sets _io_error
    time.sleep(QUIET_WINDOW)  # proving an absence: nothing may fire meanwhile
    read = 0
    while router.poll(200):
        router.recv_multipart()
        read += 1
    print("survived, read %d" % read)
    router.disable_monitor()
    monitor.close(linger=0)
    router.close(linger=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
