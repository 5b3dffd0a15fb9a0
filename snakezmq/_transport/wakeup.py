"""Thread-safe wake-up of a blocked poll (trio's WakeupSocketpair idea).

A ZeroMQ socket belongs to one thread, so other threads wake the loop through
an OS socket pair whose read end sits in the poller. Writes never block: a
full buffer already means "wake up". While a wake-up is pending, further
calls write nothing (one system call per loop pass, not per message).

Why no wake is ever lost: ``drain()`` reads everything and only then clears
``_pending``. A ``wake()`` that finds ``_pending`` set therefore ran before that
clear, so before the loop pass that follows the drain looks at its work (the
drain runs first in the pass), and that pass sees whatever the waker did before
calling ``wake()``. A ``wake()`` that finds ``_pending`` clear writes a byte; if
the byte lands after the drain read everything, it stays in the socket and ends
the next poll (at worst one spare pass). The flag is only ever set by a waker
that then writes, so it is never left set with nothing to read. (Clearing
first, as this module once did, let a drain swallow the byte of a wake that had
set the flag again: every later ``wake()`` then returned early, forever.)
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
            return  # set before the loop's drain cleared it: that loop pass sees our work
        self._pending = True
        try:
            self._writer.send(b"\x00")
        except (BlockingIOError, OSError):
            pass  # buffer full (already awake) or closed by cleanup()

    def drain(self) -> None:
        try:
            while self._reader.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        self._pending = False  # after reading: see the module docstring

    def close(self) -> None:
        self._reader.close()
        self._writer.close()
