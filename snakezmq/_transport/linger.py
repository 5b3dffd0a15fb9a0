"""``Link.cleanup()``'s linger: make sure peers have what they were sent before closing.

A TCP close still sends what was written; a ZeroMQ socket's queue dies with the
process (libzmq's I/O thread with it), even after ``cleanup()`` returned. So
before the sockets close, every session whose DATA the peer has not confirmed
(``_core.linger``) gets a PING, and its socket is read until the PONG arrives,
the peer is found gone, or ``linger`` seconds passed. No user callback runs
meanwhile: DATA that arrives is discarded (as closing the socket would), and
that peer's PINGs are answered with BYE, not PONG, so its own cleanup knows.

Sessions whose two ends are both in this process are not waited for: the process
ends both, and waiting would only stall a single-threaded program that cleans up
one Link while the other's loop does not run.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, List, Protocol, Sequence

import zmq

from .peer_io import ZeroCopyFrames

REPING = 0.1  #: seconds between PINGs to a peer that has not answered (a lost PONG, a gone pipe)
ZERO_COPY_WAIT = 1.0  #: seconds, after the sockets closed, for libzmq to let go of zero-copy frames
LOCAL_SESSIONS_KEPT = 4096
log = logging.getLogger("snakezmq.link")


class LocalSessions:
    """Nonces of the sessions this process took part in; a nonce seen by both ends
    (a connector and a listener) is a session within this process. Thread-safe."""

    def __init__(self, limit: int = LOCAL_SESSIONS_KEPT) -> None:
        self._ends: "OrderedDict[bytes, int]" = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def started(self, nonce: bytes) -> None:
        with self._lock:
            self._ends[nonce] = self._ends.pop(nonce, 0) + 1
            if len(self._ends) > self._limit:
                self._ends.popitem(last=False)

    def both_ends_here(self, nonce: bytes) -> bool:
        with self._lock:
            return self._ends.get(nonce, 0) >= 2


LOCAL_SESSIONS = LocalSessions()


class Lingering(Protocol):
    """What a listener or connector offers to ``flush``."""

    outgoing: Any  #: its ``peer_io.Outgoing``

    def linger_begin(self) -> bool:
        """Choose the sessions to wait for; False if there are none."""

    def linger_sockets(self) -> List[zmq.Socket[Any]]:
        """The sockets to poll while lingering (``linger_pass`` reads them)."""

    def linger_pass(self, ping: bool) -> bool:
        """Read what arrived, send what waits, PING where due (every session if ``ping``);
        True while some peer has still to confirm."""


def flush(owners: Sequence[Lingering], linger: float) -> None:
    """Wait, at most ``linger`` seconds, until every peer confirmed the DATA it was sent."""
    try:
        _flush(owners, linger)
    except zmq.ZMQError as exc:  # e.g. the context was terminated: close what is left anyway
        log.warning("cleanup(): could not wait for peers to confirm (%s)", exc)


def _flush(owners: Sequence[Lingering], linger: float) -> None:
    waiting = [owner for owner in owners if linger > 0 and owner.linger_begin()]
    if not waiting:
        return
    deadline = time.monotonic() + linger
    poller = zmq.Poller()
    for owner in waiting:
        for sock in owner.linger_sockets():
            poller.register(sock, zmq.POLLIN)
    next_ping = 0.0
    while True:
        now = time.monotonic()
        ping = now >= next_ping
        if ping:
            next_ping = now + REPING
        waiting = [owner for owner in waiting if owner.linger_pass(ping)]
        if not waiting:
            return
        if now >= deadline:
            log.warning("cleanup(): peers did not confirm the last data sent to them within "
                        "Link.linger (%.1f s); closing anyway, it may be lost", linger)
            return
        poller.poll(max(1, int(1000 * (min(deadline, next_ping) - now))))


def release_zero_copy(owners: Sequence[Lingering]) -> None:
    """After the sockets closed: wait (at most ZERO_COPY_WAIT) until libzmq let go of the
    frames it was sending without a copy; the ones it still holds are never freed."""
    deadline = time.monotonic() + ZERO_COPY_WAIT
    for owner in owners:
        frames: ZeroCopyFrames = owner.outgoing.zero_copy
        kept = frames.release(deadline)
        if kept:
            log.warning("cleanup(): libzmq still holds %d zero-copy frame(s); they are kept "
                        "in memory until the process ends", kept)
