"""One Link's poll loop: its sockets and the wakeup descriptor in one ``zmq.Poller``.

A pass polls (never past the earliest deadline a source reports), runs the
handler of every ready socket, then lets the connections run their timers and
report what went out (``Pass``). Only the thread inside ``run()`` touches the
sockets; other threads may call ``wake()`` and ``stop()``.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Protocol

import zmq

from .wakeup import Wakeup

MIN_POLL_TIMEOUT = 0.002  #: pending work (full queues) is retried at least this often
_POLLIN = int(zmq.POLLIN)


class Pass(Protocol):
    """What a loop pass asks of the connections (``connections.Connections``)."""

    def busy(self) -> bool:
        """Work is waiting (sends to report): the next poll must not block."""

    def tick(self, now: float) -> None:
        """Run the timers of every connector and listener."""

    def passed(self) -> None:
        """The pass is over: report what went out, then ``on_loop_pass``."""


class Loop:
    """Poller, socket handlers, wakeup, deadlines and the pass of one Link."""

    def __init__(self, work: Pass) -> None:
        self._work = work
        self._poller = zmq.Poller()
        self._handlers: Dict[Any, Callable[[float], None]] = {}
        self._wakeup = Wakeup()
        self.register(self._wakeup.fileno(), lambda now: self._wakeup.drain())
        #: ``func() -> monotonic time`` each: the poll never sleeps past the earliest
        self.deadline_sources: List[Callable[[], float]] = []
        self._running = False
        #: held by the thread inside run(): one thread at a time uses the sockets
        self._lock = threading.RLock()
        self._thread: Optional[int] = None
        self._wake_soon = False  #: the loop thread asked for another pass without blocking
        self._woken = False  #: woken while no thread was in run(): the next pass has an event
        #: an outside event loop watches the descriptors (``descriptors()``): wakes must write
        self._watched = False

    def register(self, sock: Any, handler: Callable[[float], None]) -> None:
        """Call ``handler(now)`` when ``sock`` (a ZeroMQ socket or a descriptor) is readable."""
        self._poller.register(sock, _POLLIN)
        self._handlers[sock] = handler

    def unregister(self, sock: Any) -> None:
        if self._handlers.pop(sock, None) is not None:
            self._poller.unregister(sock)

    def wake(self) -> None:
        """Thread-safe: make a blocked poll return at once (or the next poll not block)."""
        thread = self._thread
        if thread == threading.get_ident():
            self._wake_soon = True  # called from a callback: the next poll must not block
            return
        if thread is None and not self._watched:
            # Nobody polls (the application queues, then runs the loop): no system call; the
            # next pass does not block and counts as one with events, as if the wakeup
            # descriptor had been written. Checked again after setting the flag: a thread
            # entering run() sets _thread before its pass reads _woken, so one of us sees
            # the other's write.
            self._woken = True
            if self._thread is None:
                return
        self._wakeup.wake()

    def in_loop_thread(self) -> bool:
        """The caller is the thread inside ``run()`` (a callback)."""
        return self._thread == threading.get_ident()

    def stop(self) -> None:
        """End ``run()`` after the current pass (from a callback or another thread)."""
        self._running = False
        self._wakeup.wake()

    def close(self) -> None:
        self.unregister(self._wakeup.fileno())
        self._wakeup.close()

    def run(self, poll_timeout: Optional[float], count: Optional[int], runtime: Optional[float]) -> None:
        """Pass after pass until ``stop()``, ``count`` passes with events or ``runtime`` seconds."""
        with self._lock:
            outer_thread, self._thread = self._thread, threading.get_ident()
            self._running = True
            start = time.monotonic()
            try:
                while self._running and count != 0:
                    timeout = float("inf") if poll_timeout is None else poll_timeout
                    if runtime is not None:
                        left = runtime - (time.monotonic() - start)
                        if left < 0:
                            break
                        timeout = min(timeout, left)
                    if self.run_once(timeout) and count is not None:
                        count -= 1
            finally:
                self._running = False
                self._thread = outer_thread

    def run_once(self, poll_timeout: float, floor: float = MIN_POLL_TIMEOUT) -> bool:
        """One pass; True if the poll had events. ``floor``: the shortest poll when idle."""
        now = time.monotonic()
        woken, self._woken = self._woken, False
        if self._work.busy() or self._wake_soon or woken:
            self._wake_soon = False
            timeout = 0.0
        else:
            timeout = max(floor, min(poll_timeout, self.next_deadline() - now))
        # (timeout >= 0: pyzmq would int() a float too; infinite: block until something happens)
        ready = self._poller.poll(None if timeout == float("inf") else int(timeout * 1000))
        now = time.monotonic()
        for sock, _ in ready:
            handler = self._handlers.get(sock)
            if handler is not None:  # an earlier handler may have closed it
                handler(now)
        self._work.tick(now)
        self._wake_soon = False  # what callbacks queued so far is flushed by on_loop_pass now
        self._work.passed()
        return bool(ready) or woken

    # -- an outside event loop runs the passes (snakezmq.asyncio) ---------------------------

    def descriptors(self) -> Dict[int, object]:
        """``{descriptor: the socket it belongs to}`` for an outside event loop to watch.

        A ZeroMQ socket's descriptor (``ZMQ_FD``) is edge-triggered: it signals new events
        only after a check found none (``run_outside`` ends with one). The socket is there
        so that a driver sees a new socket that got a closed socket's descriptor number."""
        self._watched = True  # (from now on a wake with no thread in run() writes too)
        return {sock if isinstance(sock, int) else int(sock.FD): sock for sock, _ in self._poller.sockets}

    def next_timeout(self) -> Optional[float]:
        """Seconds until a pass is due even if nothing becomes readable (None: never)."""
        if self._work.busy() or self._wake_soon:
            return 0.0
        deadline = self.next_deadline()
        return None if deadline == float("inf") else max(MIN_POLL_TIMEOUT, deadline - time.monotonic())

    def run_outside(self, poll_timeout: float) -> bool:
        """One pass run by an outside event loop (its poll never waits longer than
        ``poll_timeout``); True when another pass is due at once. The last thing it does
        is check every socket (ZMQ_EVENTS), which re-arms their descriptors."""
        with self._lock:
            outer_thread, self._thread = self._thread, threading.get_ident()
            try:
                self.run_once(poll_timeout, floor=min(poll_timeout, MIN_POLL_TIMEOUT))
            finally:
                self._thread = outer_thread
            return self._wake_soon or self._work.busy() or bool(self._poller.poll(0))

    def next_deadline(self) -> float:
        return min((source() for source in self.deadline_sources), default=float("inf"))
