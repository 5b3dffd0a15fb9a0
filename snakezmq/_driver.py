"""What the work-queue and pub/sub roles share: a Messaging's events fed to a pure core
under one lock, the core's timers, and user callbacks run after the lock is released.

Lock order: a role's lock, then Messaging's (``send_message`` is called under the role's
lock, so the core's sends leave in the order it decided them). Messaging never holds its
lock while it runs callbacks, so the role's handlers may take the role's lock.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Callable, List, Optional, Set, Tuple

from ._core import ratelimit
from .callbacks import Callback
from .exceptions import WireError
from .message import Message

Call = Tuple[Callable[..., Any], Tuple[Any, ...]]  #: a user callback and its arguments
MESSAGING_CALLBACKS = ("on_connect", "on_disconnect", "on_message_recv", "on_message_sent",
                       "on_message_drop", "on_error")


_claimed: "weakref.WeakKeyDictionary[Any, Set[Any]]" = weakref.WeakKeyDictionary()
_claimed_lock = threading.Lock()


class Driver:
    """Base of the roles (Producer, Worker, Publisher, Subscriber): wiring and dispatch."""

    def __init__(self, messaging: Any, logger: str, role: Any = None) -> None:
        """``role``: a key that at most one role per Messaging may have (a Worker's queue:
        two would each announce themselves and end each other's sessions)."""
        for name in MESSAGING_CALLBACKS:
            if not isinstance(getattr(messaging, name, None), Callback):
                raise TypeError("messaging.%s must be a snakezmq Callback (it was replaced by %r); "
                                "add functions to it with .add()" % (name, getattr(messaging, name, None)))
        if role is not None:
            with _claimed_lock:
                roles = _claimed.setdefault(messaging, set())
                if role in roles:
                    raise ValueError("this Messaging already has a %s %s; make one per Messaging"
                                     % role)
                roles.add(role)
        self.messaging = messaging
        self.log = logging.getLogger(logger)
        self._lock = threading.Lock()
        self._report_limit = ratelimit.RateLimit()
        messaging.on_connect.add(self._on_connect)
        messaging.on_disconnect.add(self._on_disconnect)
        messaging.on_message_recv.add(self._on_message_recv)
        messaging.packeter.link.on_loop_pass.add(self._on_loop_pass)
        # the loop wakes when a core timer is due, even in loop(poll_timeout=None)
        messaging.packeter.stack.link.add_deadline_source(self._next_deadline)

    # -- what subclasses decide (under the lock; they return what to do) ---------------------

    def _connected(self, ident: str, now: float) -> List[Any]:
        return []

    def _lost(self, ident: str, now: float) -> List[Any]:
        return []

    def _received(self, conn_id: str, ident: str, message: Message, now: float) -> Optional[List[Any]]:
        """None: not one of this role's messages. Raises WireError for a malformed one."""
        return None

    def _tick(self, now: float) -> List[Any]:
        return []

    def _deadline(self) -> Optional[float]:
        return None

    def _apply(self, actions: List[Any]) -> List[Call]:
        """Carry out the core's sends (under the lock); return the user callbacks to run.
        (By default the actions are the calls already.)"""
        return list(actions)

    # -- plumbing ------------------------------------------------------------------------------

    def _run(self, decide: Callable[[float], Optional[List[Any]]]) -> bool:
        """``decide(now)`` and ``_apply`` under the lock, then the callbacks without it.
        Returns False if ``decide`` returned None (not ours). A raising callback does not
        stop the others; the first exception is raised at the end."""
        with self._lock:
            actions = decide(time.monotonic())
            if actions is None:
                return False
            calls = self._apply(actions) if actions else []
        self._run_calls(calls)
        return True

    @staticmethod
    def _run_calls(calls: List[Call]) -> None:
        """Each callback; one that raises does not stop the others: the first exception is
        raised at the end."""
        first_error: Optional[BaseException] = None
        for func, args in calls:
            try:
                func(*args)
            except Exception as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def _send(self, ident: str, data: bytes, ttl: Optional[float], uuid: Optional[bytes] = None) -> None:
        self.messaging.send_message(ident, Message(data, ttl=ttl, uuid=uuid))

    def _on_connect(self, conn_id: str, ident: str) -> None:
        self._run(lambda now: self._connected(ident, now))

    def _on_disconnect(self, conn_id: str, ident: str) -> None:
        self._run(lambda now: self._lost(ident, now))

    def _on_message_recv(self, conn_id: str, ident: str, message: Message) -> None:
        try:
            self._run(lambda now: self._received(conn_id, ident, message, now))
        except WireError as exc:
            self._report(conn_id, ident, exc)

    def _on_loop_pass(self) -> None:
        self._run(self._tick)

    def _next_deadline(self) -> float:
        with self._lock:
            deadline = self._deadline()
        return float("inf") if deadline is None else deadline

    def _wake(self) -> None:
        """A core timer may now be due sooner: the loop recomputes its poll timeout."""
        self.messaging.packeter.link.wakeup_poll()

    def _report(self, conn_id: str, ident: str, error: WireError) -> None:
        """Bad bytes from a peer: ERROR (a few lines a minute per peer) and ``on_error``."""
        left_out = self._report_limit.allow(ident, time.monotonic())
        if left_out is not None:
            self.log.error("conn=%s ident=%s sent a malformed message: %s%s", conn_id, ident, error,
                           ratelimit.suffix(left_out))
        self.messaging.on_error(conn_id, error)
