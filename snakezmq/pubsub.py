"""Publish/subscribe on Messaging: publishers publish on topics, subscribers subscribe by
topic prefix, and every subscriber gets every matching publication, in publish order.

Brokerless: a publisher keeps each subscriber's backlog in its Messaging (one queue per
subscriber ident, acknowledged delivery), so a subscriber that is away for a while gets
what it missed when it is back: a durable subscription keyed by its ident, bounded by
the publisher's ``ttl`` and ``max_backlog`` (README, "Publish/subscribe"). The decisions
are in ``_core.fanout``; this module feeds it the Messaging's events.

Make roles before the loop connects: a Subscriber subscribes on ``on_connect``. Other
code on the same Messaging also sees the roles' messages in ``on_message_recv`` (their
data starts with ``b"\\x00SZP"``).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from ._core.batching import MESSAGE_OVERHEAD
from ._core.fanout import INCARNATION_BYTES, SubscriberState, SubscriptionTable
from ._core.pattern_wire import PUBLICATION, SUBSCRIBE, decode_pubsub, encode_publication, encode_subscribe
from ._driver import Driver
from .callbacks import Callback
from .exceptions import PacketTooLarge, WireError
from .message import Message, received_message

__all__ = ["Publisher", "Subscriber", "TTL", "MAX_BACKLOG"]

TTL = 60.0  #: seconds a publication waits for an absent subscriber (Publisher's default)
MAX_BACKLOG = 10000  #: publications queued per subscriber at most (Publisher's default)


class Publisher(Driver):
    """Publishes to every subscriber of a matching prefix, keeping a bounded backlog each."""

    def __init__(self, messaging: Any, ttl: Optional[float] = TTL, max_backlog: int = MAX_BACKLOG) -> None:
        """
        :param ttl: seconds a publication waits for a subscriber that is away (the Message
            ttl: it counts only while that subscriber is away); a subscription lapses when
            its subscriber has been away this long. None: they wait, and it lasts, forever
            (``max_backlog`` still bounds memory); 0: subscriptions are not durable.
        :param max_backlog: publications queued and unacknowledged per subscriber; beyond it
            a publication is dropped for that subscriber (``on_message_drop``)
        """
        self.ttl = None if ttl is None else float(ttl)
        self._core = SubscriptionTable(os.urandom(INCARNATION_BYTES), self.ttl, max_backlog)
        super().__init__(messaging, "snakezmq.pubsub.publisher")
        self._incarnation = self._core.incarnation
        self._headers: Dict[str, bytes] = {}  #: topic -> encoded PUBLICATION header
        self._full: List[Tuple[str, bytes]] = []  #: (ident, uuid) dropped for a full backlog, to report
        self.on_subscribe = Callback()  #: ``func(ident, prefixes)``: a subscription began or changed
        #: ``func(ident)``: it ended: the subscriber asked, or it was away for ``ttl``
        self.on_unsubscribe = Callback()
        #: ``func(ident, message_uuid)``: that subscriber will not get that publication
        #: (its backlog was full, or the ttl ran out while it was away)
        self.on_message_drop = Callback()
        messaging.on_message_sent.add(self._on_message_sent)
        messaging.on_message_drop.add(self._on_message_drop)

    @property
    def max_backlog(self) -> int:
        return self._core.max_backlog

    @property
    def subscribers(self) -> List[str]:
        """Idents with a subscription (away ones included)."""
        return [ident for ident, sub in self._core.subscribers.items() if sub.prefixes]

    def publish(self, topic: str, data: bytes) -> bytes:
        """Publish ``data`` on ``topic``; returns the publication's uuid. Thread-safe, never
        blocks on the network, never runs a callback (drops are reported by the loop)."""
        if type(data) is not bytes or not isinstance(topic, str):
            raise TypeError("publish(topic: str, data: bytes)")
        header = self._headers.get(topic)
        if header is None:
            if len(self._headers) >= 1024:
                self._headers.clear()
            header = self._headers[topic] = encode_publication(topic, b"")
        payload = header + data
        limit = self.messaging.packeter.max_packet_size
        if len(payload) + MESSAGE_OVERHEAD > limit:
            raise PacketTooLarge(len(payload) + MESSAGE_OVERHEAD, limit)
        send = self.messaging.send_message
        with self._lock:  # (not _run: this is the per-publication path)
            published = self._core.publish(topic)
            message = Message(payload, ttl=self.ttl, uuid=published.uuid)  # (one for all)
            for ident in published.queue_for:
                send(ident, message)
            self._full += [(ident, published.uuid) for ident in published.dropped_for]
        if published.dropped_for:
            self._wake()  # (the loop's thread reports them, as it runs every callback)
        return published.uuid

    def _received(self, conn_id: str, ident: str, message: Message, now: float) -> Optional[List[Any]]:
        decoded = decode_pubsub(message.data)
        if decoded is None or decoded[0] != SUBSCRIBE:
            return None
        prefixes = decoded[1]
        changed = self._core.subscribe(ident, prefixes, now)
        if not changed:
            return []
        return [(self.on_subscribe, (ident, sorted(prefixes))) if prefixes
                else (self.on_unsubscribe, (ident,))]

    def _lost(self, ident: str, now: float) -> List[Any]:
        self._core.subscriber_lost(ident, now)
        return []

    def _tick(self, now: float) -> List[Any]:
        calls: List[Any] = []
        if self._full:
            for ident, uuid in self._full:
                self.log.info("subscriber %r: publication %s dropped: its backlog is full (%d)",
                              ident, uuid.hex(), self._core.max_backlog)
            calls = [(self.on_message_drop, dropped) for dropped in self._full]
            self._full = []
        deadline = self._core.next_deadline()
        if deadline is not None and deadline <= now:
            calls += [(self.on_unsubscribe, (ident,)) for ident in self._core.expire(now)]
        return calls

    def _deadline(self) -> Optional[float]:
        return self._core.next_deadline()

    def _on_message_sent(self, conn_id: str, ident: str, uuid: bytes) -> None:
        if uuid.startswith(self._incarnation):
            with self._lock:
                self._core.settled(ident, uuid)

    def _on_message_drop(self, ident: str, uuid: bytes) -> None:
        if uuid.startswith(self._incarnation):
            with self._lock:
                ours = self._core.settled(ident, uuid)
            if ours:
                self.on_message_drop(ident, uuid)


class Subscriber(Driver):
    """Subscribes, by topic prefix, at every publisher its Messaging is connected to."""

    def __init__(self, messaging: Any, prefixes: Iterable[str] = ()) -> None:
        """:param prefixes: topic prefixes to subscribe to ("" subscribes to every topic)"""
        self._core = SubscriberState(_checked(prefixes))
        super().__init__(messaging, "snakezmq.pubsub.subscriber", ("Subscriber", "(it takes every prefix)"))
        self._peers: Set[str] = set()
        #: ``func(ident, topic, message)``: publisher ``ident`` published ``message`` on ``topic``
        self.on_message_recv = Callback()

    @property
    def prefixes(self) -> List[str]:
        return sorted(self._core.prefixes)

    def subscribe(self, prefix: str) -> None:
        """Also get publications whose topic starts with ``prefix``. Thread-safe."""
        self._change(lambda: self._core.subscribe(_checked([prefix])[0]))

    def unsubscribe(self, prefix: str) -> None:
        """No longer get ``prefix``'s publications (no prefix left: the subscriptions end)."""
        self._change(lambda: self._core.unsubscribe(prefix))

    def _change(self, change: Any) -> None:
        with self._lock:
            if change():
                data = encode_subscribe(sorted(self._core.prefixes))
                for ident in sorted(self._peers):
                    self._send(ident, data, 0)

    def _connected(self, ident: str, now: float) -> List[Any]:
        self._peers.add(ident)
        if self._core.prefixes:
            self._send(ident, encode_subscribe(sorted(self._core.prefixes)), 0)
        return []

    def _lost(self, ident: str, now: float) -> List[Any]:
        self._peers.discard(ident)
        return []

    def _on_message_recv(self, conn_id: str, ident: str, message: Message) -> None:
        """The per-publication path, without the base class's closure per message."""
        try:
            decoded = decode_pubsub(message.data)
        except WireError as exc:
            self._report(conn_id, ident, exc)
            return
        if decoded is None or decoded[0] != PUBLICATION:
            return
        topic = decoded[1][0]
        with self._lock:
            accepted = self._core.accept(ident, message.uuid, topic)
        if accepted:
            delivered = received_message(decoded[2], None, message.flags, message.uuid)
            delivered.ttl = message.ttl
            self.on_message_recv(ident, topic, delivered)


def _checked(prefixes: Iterable[str]) -> List[str]:
    prefixes = list(prefixes)
    for prefix in prefixes:
        if not isinstance(prefix, str):
            raise TypeError("topic prefixes are str, not %s" % type(prefix).__name__)
    return prefixes
