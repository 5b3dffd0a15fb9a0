"""Throttle: limit each connection's sending speed; use it in place of a Link under a Packeter.

snakemq cuts the byte stream into slices; here one packet is one ZeroMQ
message and cannot be cut, so whole packets wait in a per-connection token
bucket. The average rate is ``speed`` bytes per second (a packet larger than
the bucket goes out when the bucket is non-negative and leaves it in debt).
Waiting packets go out when the Link's loop passes, and the Link does not
poll past the moment the next one may go, so releases keep pace whatever
``poll_timeout`` the loop runs with; allowance a connection earns while it
has packets waiting is never lost either. An idle connection saves up at most
TIME_QUANTUM seconds of allowance. Measured: within 2% of ``speed`` over 5 s
(tests/integration/test_throttle_rate.py).

snakemq's Throttle also reports throttled bytes as unsent (a Packeter over it
sends them twice) and never runs ``on_loop_pass`` for the layers above; this
one does neither.
"""
from __future__ import annotations

import collections
import time
import types
from typing import Any, Callable, Deque, Dict, Optional

from ._stack import LinkStack
from .callbacks import Callback
from .link import POLL_TIMEOUT

TIME_QUANTUM = POLL_TIMEOUT * 2  #: the bucket holds at most this many seconds of traffic


class TokenBucket:
    """Bytes a connection may send now; refilled at ``speed`` bytes per second."""

    __slots__ = ("speed", "tokens", "updated")

    def __init__(self, speed: float, now: float) -> None:
        self.speed = speed
        self.tokens = 0.0
        self.updated = now

    def refill(self, now: float, backlogged: bool) -> None:
        """Add what the time since the last refill earned; capped unless packets waited."""
        self.tokens += (now - self.updated) * self.speed
        if not backlogged:
            self.tokens = min(self.tokens, self.speed * TIME_QUANTUM)
        self.updated = now

    def take(self, size: int, now: float, backlogged: bool = False) -> bool:
        """Spend ``size`` bytes if the bucket is not in debt."""
        self.refill(now, backlogged)
        if self.tokens < 0:
            return False
        self.tokens -= size
        return True


class Throttle:
    """Stands in for a Link: ``send`` is throttled per connection, the rest is the Link's."""

    def __init__(self, link: Any, speed: float) -> None:
        """
        :param link: :class:`~snakezmq.link.Link`
        :param speed: maximum speed in bytes per second (for each connection)
        """
        self.link = link
        self.speed = speed
        # pass on the Link's callbacks the throttle does not change
        self.on_connect = link.on_connect
        self.on_disconnect = link.on_disconnect
        self.on_recv = link.on_recv
        self.on_ready_to_send = link.on_ready_to_send
        self.on_loop_pass = Callback()  #: ``func()``, after the throttle released what it could

        self.connections: Dict[str, TokenBucket] = {}
        self._waiting: Dict[str, Deque[bytes]] = {}
        link.on_connect.add(self._on_connect)
        link.on_disconnect.add(self._on_disconnect)
        link.on_loop_pass.add(self._on_loop_pass)
        #: the Link's ``stack`` (``snakezmq._stack.LinkStack``), detached sends throttled too
        self.stack: LinkStack = _Stack(self, link.stack)
        link.stack.add_deadline_source(self._next_release)

    def __getattr__(self, name: str) -> Any:
        # The rest of the Link's public API (loop, stop, close, wakeup_poll, add_connector, ...).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.link, name)

    def send(self, conn_id: str, buf: bytes) -> None:
        """Send ``buf`` on ``conn_id`` now if the bucket allows, else later, in order.

        Raises ``KeyError`` for an unknown conn_id (as the Link).
        """
        bucket = self.connections[conn_id]
        waiting = self._waiting.get(conn_id)
        if waiting is None and bucket.take(len(buf), time.monotonic()):
            self.link.send(conn_id, buf)
        else:
            self._waiting.setdefault(conn_id, collections.deque()).append(buf)

    def _on_connect(self, conn_id: str) -> None:
        self.connections[conn_id] = TokenBucket(self.speed, time.monotonic())

    def _on_disconnect(self, conn_id: str) -> None:
        self.connections.pop(conn_id, None)
        self._waiting.pop(conn_id, None)

    def _next_release(self) -> float:
        """When the first waiting packet may go (the Link's poll does not sleep past it)."""
        releases = [bucket.updated - min(bucket.tokens, 0.0) / bucket.speed
                    for bucket in map(self.connections.get, self._waiting) if bucket is not None]
        return min(releases, default=float("inf"))

    def _on_loop_pass(self) -> None:
        now = time.monotonic()
        for conn_id in list(self._waiting):
            waiting, bucket = self._waiting.get(conn_id), self.connections.get(conn_id)
            # (a send below may have ended a connection: on_disconnect dropped its state)
            while waiting and bucket is not None and bucket.take(len(waiting[0]), now, True):
                self.link.send(conn_id, waiting.popleft())
            if not waiting:
                self._waiting.pop(conn_id, None)
        self.on_loop_pass()

    # TODO(lead): remove once messaging uses .stack
    _set_routing_id = property(lambda self: self.stack.set_routing_id)
    _peer_ident = property(lambda self: self.stack.peer_ident)
    _deadline_sources = property(lambda self: types.SimpleNamespace(append=self.stack.add_deadline_source))


class _Stack:
    """``throttle.stack``: the wrapped Link's stack, except that a detached send is an
    ordinary throttled ``send`` of the joined packet."""

    def __init__(self, throttle: Throttle, link: LinkStack) -> None:
        self._throttle = throttle
        self._link = link
        self.on_error = link.on_error
        self.on_recv_detached = link.on_recv_detached

    def send_detached(self, conn_id: str, packet: bytes, payload: bytes) -> None:
        self._throttle.send(conn_id, packet + payload)

    def set_routing_id(self, ident: str) -> None:
        self._link.set_routing_id(ident)

    def set_max_message_size(self, size: int) -> None:
        self._link.set_max_message_size(size)

    def add_deadline_source(self, source: Callable[[], float]) -> None:
        self._link.add_deadline_source(source)

    def peer_ident(self, conn_id: str) -> Optional[str]:
        return self._link.peer_ident(conn_id)
