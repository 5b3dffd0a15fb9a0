"""Messaging: named peers, per-ident queues with TTL, acknowledged delivery.

A thin driver around ``_core.protocol.MessagingProtocol``, which makes every
delivery decision: this module feeds it what happened (link events, packets,
the time) and carries out the actions it returns (sends, callbacks, storage).

``send_message`` is thread-safe and never touches a socket or runs a callback:
it queues under the lock and wakes the loop. Everything else, and every callback,
runs in the thread that runs ``link.loop()``. The lock guards the protocol only
and is never held while user callbacks run.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from . import message as message_module  # noqa: F401  (snakemq code uses snakemq.message after importing messaging)
from ._core import ratelimit, wire
from ._core.actions import (Action, Deliver, PeerIdentified, PeerLost, Problem, ReportDropped,
                            ReportSent, Silent, StoreTtls, Transmit, Unclaimed)
from ._core.batching import DETACH_BYTES as DETACH_BYTES  # (tests and user code read it here)
from ._core.batching import MESSAGE_OVERHEAD
from ._core.peers import MAX_IDENT_LENGTH
from ._core.protocol import MessagingProtocol
from .callbacks import Callback, functions_of
from .exceptions import NoConnection, PacketTooLarge, SnakeMQException
from .exceptions import SnakeMQBrokenMessage as SnakeMQBrokenMessage  # (snakemq.messaging has them)
from .exceptions import SnakeMQIncompatibleProtocol as SnakeMQIncompatibleProtocol
from .exceptions import SnakeMQNoIdent as SnakeMQNoIdent
from .message import FLAG_PERSISTENT, Message
from .queues import QueuesManager
from .storage import QueuesStorageBase, write_batch

__all__ = ["Messaging", "ReceiveHook", "MAX_IDENT_LENGTH"]


class Messaging:
    def __init__(self, identifier: str, domain: Any, packeter: Any,
                 queues_storage: Optional[QueuesStorageBase] = None) -> None:
        """
        :param identifier: this peer's ident (truncated to MAX_IDENT_LENGTH characters)
        :param domain: unused, as in snakemq
        :param packeter: :class:`~snakezmq.packeter.Packeter`
        :param queues_storage: :class:`~snakezmq.storage.QueuesStorageBase` for FLAG_PERSISTENT messages
        """
        if queues_storage is not None and not isinstance(queues_storage, QueuesStorageBase):
            raise TypeError("queues_storage must be a snakezmq.storage.QueuesStorageBase")
        self.identifier = identifier[:MAX_IDENT_LENGTH]
        self.domain = domain
        self.packeter = packeter
        self.log = logging.getLogger("snakezmq.messaging")

        self.on_error = Callback()  #: ``func(conn_id, exception)``
        self.on_message_recv = Callback()  #: ``func(conn_id, ident, message)``
        #: ``func(conn_id, ident, message_uuid)``: the peer acknowledged the message
        self.on_message_sent = Callback()
        #: ``func(ident, message_uuid)``: the message's TTL ran out before delivery
        self.on_message_drop = Callback()
        self.on_connect = Callback()  #: ``func(conn_id, ident)``
        self.on_disconnect = Callback()  #: ``func(conn_id, ident)``

        self._lock = threading.Lock()
        self._protocol = MessagingProtocol(self.identifier, os.urandom(wire.NONCE_BYTES))
        self._outbox = self._protocol.outbox  # (tests look inside)
        self._storage = queues_storage
        # snakemq compatibility: messaging.queues_manager
        self.queues_manager = QueuesManager(queues_storage, self._outbox, self._lock,
                                            self._protocol.collect_garbage)
        self._report_limit = ratelimit.RateLimit()  #: log lines of _report (a flood is a few lines)
        self._executors: Dict[type, Callable[[Any], Optional[BaseException]]] = {
            Transmit: self._transmit, Deliver: self._deliver, ReportSent: self._report_sent,
            ReportDropped: self._report_dropped, PeerIdentified: self._peer_identified,
            PeerLost: self._peer_lost, Problem: self._problem, Silent: self._silent,
            Unclaimed: self._unclaimed, StoreTtls: self._store_ttls,
        }

        self._stack = packeter.stack  # the layers below, through their one internal interface
        self._stack.link.set_routing_id(self.identifier)
        self._stack.link.add_deadline_source(self._protocol.next_deadline)  # TTLs, keepalive
        packeter.link.on_loop_pass.add(self._on_link_loop_pass)
        packeter.on_connect.add(self._on_connect)
        packeter.on_disconnect.add(self._on_disconnect)
        packeter.on_packet_recv.add(self._on_packet_recv)
        self._stack.on_packet_recv_detached.add(self._on_packet_recv)
        packeter.on_error.add(self._on_transport_error)
        self._stack.link.on_closing.add(self._on_link_closing)
        if queues_storage is not None:
            self._load_storage(queues_storage)

    # snakemq compatibility: keepalive settings are attributes of Messaging
    @property
    def keepalive_interval(self) -> Optional[float]:
        """Time to ping a silent peer, in seconds (None: no keepalive)."""
        return self._protocol.keepalive_interval

    @keepalive_interval.setter
    def keepalive_interval(self, interval: Optional[float]) -> None:
        with self._lock:
            self._protocol.keepalive_interval = interval
        self.packeter.link.wakeup_poll()

    @property
    def keepalive_wait(self) -> float:
        """Time to wait for the pong, in seconds."""
        return self._protocol.keepalive_wait

    @keepalive_wait.setter
    def keepalive_wait(self, wait: float) -> None:
        self._protocol.keepalive_wait = wait

    # -- sending ------------------------------------------------------------------------------

    def send_message(self, ident: str, message: Message) -> None:
        """Queue ``message`` for ``ident``. Thread-safe; never blocks on the network, never
        sends from the calling thread, never runs a callback (the loop thread does both).

        A FLAG_PERSISTENT message (with a storage, ttl None or > 0) is in the
        storage when this returns.
        """
        if not isinstance(message, Message):
            raise TypeError("send_message needs a snakezmq.message.Message, not %s"
                            % type(message).__name__)
        limit: int = self.packeter.max_packet_size  # (read every time: it may change any time)
        if len(message.data) + MESSAGE_OVERHEAD > limit:
            raise PacketTooLarge(len(message.data) + MESSAGE_OVERHEAD, limit)
        lock = self._lock
        lock.acquire()  # (not "with": a third of the cost, on the per-message path)
        try:
            if self._storage is not None and self._is_stored(message):
                self._storage.push(ident, message)
            wake = self._protocol.queue_message(ident, message, time.monotonic())
        finally:
            lock.release()
        if wake:
            self.packeter.link.wakeup_poll()

    def _is_stored(self, message: Message) -> bool:
        return (self._storage is not None and bool(message.flags & FLAG_PERSISTENT)
                and (message.ttl is None or message.ttl > 0))

    def _load_storage(self, storage: QueuesStorageBase) -> None:
        now = time.monotonic()
        with self._lock:
            for ident in list(storage.get_queues()):
                self._protocol.restore(ident, list(storage.get_items(ident)), now)

    # -- what happens: fed to the protocol ---------------------------------------------------------

    def _on_connect(self, conn_id: str) -> None:
        announced = self._stack.link.peer_ident(conn_id)
        with self._lock:
            actions = self._protocol.link_connected(conn_id, announced, time.monotonic())
        self._execute(actions)

    def _on_disconnect(self, conn_id: str) -> None:
        with self._lock:
            actions = self._protocol.link_disconnected(conn_id, time.monotonic())
        self._execute(actions)

    def _on_packet_recv(self, conn_id: str, packet: bytes, payload: Optional[bytes] = None) -> None:
        """A packet; ``payload``: the detached payload of a one-message MESSAGES packet."""
        protocol = self._protocol
        lock = self._lock
        lock.acquire()
        try:
            protocol.max_packet_size = self.packeter.max_packet_size
            actions = protocol.packet_received(conn_id, packet, payload, time.monotonic())
        finally:
            lock.release()
        if actions:
            self._execute(actions)

    def _on_link_loop_pass(self) -> None:
        if not self._protocol.tick_due(time.monotonic()):
            return  # (read without the lock: a sender thread that adds work also wakes the loop)
        with self._lock:
            self._protocol.max_packet_size = self.packeter.max_packet_size
            actions = self._protocol.tick(time.monotonic(), self._stack.link.data_age)
        if actions:
            self._execute(actions)

    def _on_link_closing(self) -> None:
        """cleanup() closes the connections: the acks still waiting for a reply go now."""
        with self._lock:
            actions = self._protocol.acks_now()
        self._execute(actions)

    def _on_transport_error(self, conn_id: Optional[str], error: Exception) -> None:
        self.on_error(conn_id, error)

    # -- what to do: the protocol's actions, carried out ------------------------------------------

    def _execute(self, actions: List[Action]) -> None:
        """Carry out ``actions`` in order. A raising callback does not stop the rest (the
        protocol's state already moved on); the first exception is raised at the end."""
        first_error: Optional[BaseException] = None
        executors = self._executors
        for action in actions:
            try:
                error = executors[type(action)](action)
            except Exception as exc:
                error = exc
            first_error = first_error or error
        if first_error is not None:
            raise first_error

    def _transmit(self, action: Transmit) -> None:
        try:
            if action.payload is None:
                self.packeter.send_packet(action.conn_id, action.packet)
            else:
                self._stack.send_detached(action.conn_id, action.packet, action.payload)
        except (NoConnection, KeyError):
            pass  # gone meanwhile: the protocol resends after reconnect

    def _deliver(self, action: Deliver) -> Optional[BaseException]:
        error = _call_each(functions_of(self.on_message_recv), action.conn_id, action.ident,
                           action.messages)
        with self._lock:  # what the callbacks queued for the sender goes now, with the ack
            replies = self._protocol.after_delivery(action.conn_id, time.monotonic())
        if replies:
            self._execute(replies)
        return error

    def _report_sent(self, action: ReportSent) -> Optional[BaseException]:
        self._forget_stored(action.messages)
        return _call_each(functions_of(self.on_message_sent), action.conn_id, action.ident,
                          [message.uuid for message in action.messages])

    def _report_dropped(self, action: ReportDropped) -> None:
        self._forget_stored([event.message for event in action.dropped])
        for event in action.dropped:
            self.log.info("ident=%s message %s dropped: %s", event.ident, event.message.uuid.hex(),
                          action.reason)
            self.on_message_drop(event.ident, event.message.uuid)

    def _peer_identified(self, action: PeerIdentified) -> None:
        self.log.info("conn=%s ident=%r connected", action.conn_id, action.ident)
        self.on_connect(action.conn_id, action.ident)

    def _peer_lost(self, action: PeerLost) -> None:
        self.on_disconnect(action.conn_id, action.ident)

    def _problem(self, action: Problem) -> None:
        self._report(action.conn_id, action.error, action.close)

    def _silent(self, action: Silent) -> None:
        self.log.warning("conn=%s ident=%s did not answer a keepalive ping; closing",
                         action.conn_id, action.ident)
        self._close(action.conn_id)

    def _unclaimed(self, action: Unclaimed) -> None:
        self.log.warning("messages for ident %r have waited %.0f s: no peer with that ident is "
                         "connected (connected idents: %s); check the peers' identifiers and "
                         "addresses", action.ident, action.waited,
                         ", ".join(repr(i) for i in action.connected) or "none")

    def _store_ttls(self, action: StoreTtls) -> None:
        if self._storage is not None:
            self._storage.update_items_ttl([_StoredTtl(uuid, ttl) for uuid, ttl in action.items])

    def _report(self, conn_id: Optional[str], error: SnakeMQException, close: bool = False) -> None:
        """ERROR (rate-limited per connection and error type, the rest at DEBUG) and on_error."""
        peer = self._protocol.peers.get(conn_id) if conn_id is not None else None
        level, tail = self._report_limit.level((conn_id, type(error).__name__), logging.ERROR,
                                               time.monotonic())
        self.log.log(level, "conn=%s ident=%s %s: %s%s", conn_id, peer.ident if peer else None,
                     type(error).__name__, error, tail)
        try:
            self.on_error(conn_id, error)
        finally:
            if close and conn_id is not None:
                self._close(conn_id)

    def _close(self, conn_id: str) -> None:
        try:
            self.packeter.link.close(conn_id)
        except KeyError:
            pass  # already gone

    def _forget_stored(self, messages: List[Message]) -> None:
        if self._storage is None:
            return
        stored = [m for m in messages if m.flags & FLAG_PERSISTENT]
        if stored:
            with write_batch(self._storage):
                self._storage.delete_items(stored)


class _StoredTtl:
    """What ``update_items_ttl`` reads (``uuid``, ``ttl``), without touching the user's Message."""

    __slots__ = ("uuid", "ttl", "data", "flags")

    def __init__(self, uuid: bytes, ttl: Optional[float]) -> None:
        self.uuid, self.ttl, self.data, self.flags = uuid, ttl, b"", FLAG_PERSISTENT


def _call_each(functions: List[Callable[..., Any]], conn_id: str, ident: str,
               items: Iterable[Any]) -> Optional[BaseException]:
    """``func(conn_id, ident, item)`` for every item and function; an exception does not stop
    the rest (they were delivered or acknowledged too): the first one is returned."""
    first_error: Optional[BaseException] = None
    if len(functions) == 1:  # the usual case: no inner loop, and a try per exception, not per item
        func, rest = functions[0], iter(items)
        while True:
            try:
                for item in rest:
                    func(conn_id, ident, item)
                return first_error
            except Exception as exc:
                first_error = first_error or exc
    for item in items:
        for func in functions:
            try:
                func(conn_id, ident, item)
            except Exception as exc:
                first_error = first_error or exc
    return first_error


class ReceiveHook:
    """Classify received messages by regexp (``re.match`` on ``message.data``); call the matching callbacks."""

    def __init__(self, messaging: Messaging) -> None:
        self.messaging = messaging
        self._hooks: Dict[Any, Tuple[Any, Callable[..., Any]]] = {}  #: regexp: (compiled, callback)
        if isinstance(messaging.on_message_recv, Callback):
            # snakemq replaces on_message_recv and loses callbacks added before; we add to it.
            messaging.on_message_recv.add(self._on_message_receive)
        else:
            messaging.on_message_recv = self._on_message_receive

    def register(self, regexp: Any, callback: Callable[..., Any]) -> None:
        """:param regexp: a bytes pattern; :param callback: ``func(conn_id, ident, message)``"""
        if isinstance(regexp, str):
            raise TypeError("ReceiveHook patterns match message bytes: use b%r" % regexp)
        self._hooks[regexp] = (re.compile(regexp), callback)

    def unregister(self, regexp: Any) -> None:
        del self._hooks[regexp]

    def clear(self) -> None:
        self._hooks.clear()

    def _get_callbacks(self, data: bytes) -> List[Callable[..., Any]]:
        return [callback for regexp, callback in list(self._hooks.values()) if regexp.match(data)]

    def _on_message_receive(self, conn_id: str, ident: str, message: Message) -> None:
        for callback in self._get_callbacks(message.data):
            callback(conn_id, ident, message)
