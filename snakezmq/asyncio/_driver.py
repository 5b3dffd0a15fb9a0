"""LinkDriver: a Link's loop run by a running asyncio event loop, without a thread.

The Link's descriptors go to ``loop.add_reader`` and its next deadline to
``loop.call_at``; each wake-up runs one non-blocking pass (``Link.run_once``).
ZeroMQ's descriptors are edge-triggered, so a pass that may have left something
readable is followed at once by another, and the readers are watched again only
after a pass that found nothing (that pass re-armed them).
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, Optional


def _same(owner: object, other: object) -> bool:
    return owner is other or (type(owner) is int and owner == other)


class LinkDriver:
    """Drive ``link`` (a ``snakezmq.link.Link``) from the running asyncio event loop.

    ``start()`` (or ``async with LinkDriver(link):``) attaches it; ``close()`` detaches
    it and leaves the Link as it is (call ``link.cleanup()`` afterwards, which may
    block up to ``link.linger`` seconds: ``await driver.cleanup()`` runs it in a
    worker thread). Every callback of the Link and the layers above runs in the event
    loop's thread. An exception raised by a callback goes to the event loop's
    exception handler, and the driver goes on (the layers' state is consistent).
    Do not run ``link.loop()`` while a driver is attached.
    """

    def __init__(self, link: Any, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self.link = link
        self._loop = loop
        self._readers: Dict[int, object] = {}  #: descriptor: the socket it belongs to
        self._timer: Optional[asyncio.TimerHandle] = None
        self._soon = False  #: a pass is scheduled with call_soon
        self.running = False

    def start(self) -> None:
        """Attach to the event loop (the running one unless given); idempotent."""
        if self.running:
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self.running = True
        self._sync_readers()
        self._pass_soon()

    def close(self) -> None:
        """Detach: no more passes, no readers, no timer. The Link stays as it is."""
        self.running = False
        self._cancel_timer()
        self._sync_readers()

    async def cleanup(self) -> None:
        """Detach, then ``link.cleanup()`` in a worker thread (it lingers, at most
        ``link.linger`` seconds, until peers confirmed what they were sent)."""
        self.close()
        loop = self._loop or asyncio.get_running_loop()
        await loop.run_in_executor(None, self.link.cleanup)

    def wake(self) -> None:
        """Run a pass soon (after calling Link methods that touch sockets from a coroutine)."""
        self._pass_soon()

    async def __aenter__(self) -> "LinkDriver":
        self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()

    # -- the passes ---------------------------------------------------------------------------

    def _pass_soon(self) -> None:
        if self.running and not self._soon and self._loop is not None:
            self._soon = True
            self._loop.call_soon(self._pass)

    def _on_timer(self) -> None:
        self._timer = None
        self._pass()

    def _pass(self) -> None:
        self._soon = False
        if not self.running:
            return
        self._cancel_timer()
        try:
            more = self.link.run_once(0.0)
        except Exception as exc:  # a user callback raised: report it, keep the Link running
            more = True
            assert self._loop is not None
            self._loop.call_exception_handler({
                "message": "a snakezmq callback raised (the LinkDriver goes on)",
                "exception": exc, "link": self.link})
        self._sync_readers()
        if more:
            self._pass_soon()
        else:
            self._schedule(self.link.next_timeout())

    def _schedule(self, delay: Optional[float]) -> None:
        if delay is None or not self.running or self._loop is None:
            return
        if delay <= 0:
            self._pass_soon()
        else:
            self._timer = self._loop.call_at(self._loop.time() + delay, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sync_readers(self) -> None:
        """Watch exactly the Link's descriptors (a new socket may reuse a closed one's number)."""
        wanted = self.link.poll_fds() if self.running else {}
        loop = self._loop
        if loop is None:
            return
        for fd, owner in list(self._readers.items()):
            if fd not in wanted or not _same(owner, wanted[fd]):
                loop.remove_reader(fd)
                del self._readers[fd]
        for fd, owner in wanted.items():
            if fd not in self._readers:
                loop.add_reader(fd, self._pass_soon)
                self._readers[fd] = owner
