"""Thread-safe wake-up of a blocked poll (trio's WakeupSocketpair idea).

A ZeroMQ socket belongs to one thread, so other threads wake the loop through
an OS socket pair whose read end sits in the poller. Writes never block: a
full buffer already means "wake up". While a wake-up is pending, further
calls write nothing (one system call per loop pass, not per message).
"""
from __future__ import annotations

import socket


class Wakeup:
    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._pending = False

    def fileno(self) -> int:
        return self._reader.fileno()

    def wake(self) -> None:
        if self._pending:
            return  # the loop has not drained the last one yet, so it will wake
        self._pending = True
        try:
            self._writer.send(b"\x00")
        except (BlockingIOError, OSError):
            pass  # buffer full (already awake) or closed by cleanup()

    def drain(self) -> None:
        self._pending = False  # before reading: a wake() racing with us writes again
        try:
            while self._reader.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        self._reader.close()
        self._writer.close()
