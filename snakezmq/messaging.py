"""Messaging: named peers, per-ident queues with TTL, acknowledged delivery.

``send_message`` is thread-safe. Everything else, and every callback, runs in
the thread that runs ``link.loop()``. The lock guards the outbox only and is
never held while user callbacks run.
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
from ._core.dedup import DeliveredLog
from ._core.outbox import MessageDropped, Outbox, Taken
from .callbacks import Callback, functions_of
from .exceptions import (DuplicateIdent, NoConnection, PacketTooLarge, SnakeMQException,
                         SnakeMQIncompatibleProtocol, SnakeMQNoIdent, WireError)
from .message import FLAG_PERSISTENT, Message, received_message
from .queues import QueuesManager
from .storage import QueuesStorageBase, write_batch

MAX_IDENT_LENGTH = 50
BATCH_COUNT = 1024  #: messages per MESSAGES packet at most
BATCH_BYTES = 256 * 1024  #: bytes per MESSAGES packet at most (a larger message travels alone)
MAX_WIRE_TTL = 0xFFFFFFFE
MESSAGE_OVERHEAD = 128  #: MESSAGES packet bytes besides one message's data, at most
PACKET_HEADER_BYTES = 64  #: a MESSAGES packet's fixed part, at most
MESSAGE_HEADER_BYTES = 40  #: one message's entries in the header columns, at most
UNCLAIMED_GRACE = 5.0  #: warn about messages waiting this long for an ident nobody connected as
HOUSEKEEPING_INTERVAL = 0.05  #: expired messages are dropped this late at most (plus a poll)
#: a MESSAGES packet with at least this many messages (or bytes) is acknowledged as soon as it is
#: delivered, so the sender refills its window while we work; smaller ones at the end of the loop
#: pass, riding on a reply when there is one
ACK_AT_ONCE_COUNT = 16
ACK_AT_ONCE_BYTES = 64 * 1024
DETACH_BYTES = 64 * 1024  #: a message this large travels as a frame of its own, never copied


class PeerState:
    """One connection as Messaging sees it."""

    __slots__ = ("ident", "incarnation", "last_recv", "ping_sent")

    def __init__(self, now: float) -> None:
        self.ident: Optional[str] = None
        self.incarnation = b""
        self.last_recv = now
        self.ping_sent: Optional[float] = None


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
        self.keepalive_interval: Optional[float] = None  #: time to ping, in seconds (None = no keepalive)
        self.keepalive_wait = 0.5  #: wait for pong, in seconds

        self.on_error = Callback()  #: ``func(conn_id, exception)``
        self.on_message_recv = Callback()  #: ``func(conn_id, ident, message)``
        #: ``func(conn_id, ident, message_uuid)``: the peer acknowledged the message
        self.on_message_sent = Callback()
        #: ``func(ident, message_uuid)``: the message's TTL ran out before delivery
        self.on_message_drop = Callback()
        self.on_connect = Callback()  #: ``func(conn_id, ident)``
        self.on_disconnect = Callback()  #: ``func(conn_id, ident)``

        self._lock = threading.Lock()
        self._outbox = Outbox()
        self._storage = queues_storage
        self.queues_manager = QueuesManager(queues_storage, self._outbox, self._lock)  # snakemq compatibility
        self._incarnation = os.urandom(wire.NONCE_BYTES)
        self._delivered = DeliveredLog()
        self._peers: Dict[str, PeerState] = {}
        self._conn_by_ident: Dict[str, str] = {}
        self._acks_owed: Dict[str, int] = {}  #: conn_id: highest delivered seq not yet acknowledged
        self._report_limit = ratelimit.RateLimit()  #: log lines of _report (a flood is a few lines)
        self._pending_drops: List[MessageDropped] = []  #: found outside the loop thread
        self._housekeeping_due = 0.0  #: when to look for expired and unclaimed messages next
        self._pings_due = 0.0  #: when to look for peers to ping (keepalive) next
        self._handlers: Dict[wire.MessagingKind, Callable[[str, PeerState, bytes], None]] = {
            wire.MessagingKind.IDENT: self._recv_ident,
            wire.MessagingKind.MESSAGES: self._recv_messages,
            wire.MessagingKind.ACK: self._recv_ack,
            wire.MessagingKind.PING: lambda conn_id, peer, packet: self._send(conn_id, wire.PONG_PACKET),
            wire.MessagingKind.PONG: lambda conn_id, peer, packet: None,
        }

        link = packeter.link
        set_routing_id = getattr(link, "_set_routing_id", None)
        if set_routing_id is not None:
            set_routing_id(self.identifier)
        link.on_loop_pass.add(self._on_link_loop_pass)
        packeter.on_connect.add(self._on_connect)
        packeter.on_disconnect.add(self._on_disconnect)
        packeter.on_packet_recv.add(self._on_packet_recv)
        detached_recv = getattr(packeter, "_on_detached_recv", None)
        if detached_recv is not None:
            detached_recv.add(self._on_packet_recv)
        packeter.on_error.add(self._on_transport_error)
        if queues_storage is not None:
            self._load_storage(queues_storage)

    # -- sending ------------------------------------------------------------------------------

    def send_message(self, ident: str, message: Message) -> None:
        """Queue ``message`` for ``ident``. Thread-safe; never blocks on the network.

        A FLAG_PERSISTENT message (with a storage, ttl None or > 0) is in the
        storage when this returns.
        """
        if not isinstance(message, Message):
            raise TypeError("send_message needs a snakezmq.message.Message, not %s"
                            % type(message).__name__)
        limit: int = self.packeter._max_packet_size  # (read every time: it may change any time)
        if len(message.data) + MESSAGE_OVERHEAD > limit:
            raise PacketTooLarge(len(message.data) + MESSAGE_OVERHEAD, limit)
        outbox = self._outbox
        lock = self._lock
        lock.acquire()  # (not "with": a third of the cost, on the per-message path)
        try:
            if self._storage is not None and self._is_stored(message):
                self._storage.push(ident, message)
            dropped = outbox.push(ident, message, time.monotonic())
            if dropped:
                self._pending_drops += dropped
            backlog = outbox.queues[ident].queued()  # (with dropped entries: only while away)
        finally:
            lock.release()
        if backlog > 1 and not dropped:
            # An earlier message already woke the loop, which has not taken the queue yet
            # (or its window is full, and the acks will wake it). A full batch is sent
            # now if the loop is not running in another thread (pipelining).
            if backlog % BATCH_COUNT == 0 and ident in self._conn_by_ident:
                self._run_if_idle(lambda: self._send_sendable(ident))
            return
        self.packeter.link.wakeup_poll()

    def _is_stored(self, message: Message) -> bool:
        return (self._storage is not None and bool(message.flags & FLAG_PERSISTENT)
                and (message.ttl is None or message.ttl > 0))

    def _load_storage(self, storage: QueuesStorageBase) -> None:
        now = time.monotonic()
        for ident in list(storage.get_queues()):
            for item in list(storage.get_items(ident)):
                self._pending_drops += self._outbox.push(ident, item, now)

    def _flush(self, now: float) -> List[MessageDropped]:
        """Send what the window allows to every connected ident; return expired messages."""
        sendable: List[Tuple[str, Taken]] = []
        unclaimed: List[str] = []
        with self._lock:
            dropped, self._pending_drops = self._pending_drops, []
            if now >= self._housekeeping_due:  # scans of every queue: not on every pass
                self._housekeeping_due = now + HOUSEKEEPING_INTERVAL
                dropped += self._outbox.expire(now)
                unclaimed = self._outbox.unclaimed(now, UNCLAIMED_GRACE)
            for ident in list(self._outbox.sendable):  # connected, with messages waiting
                conn_id = self._conn_by_ident.get(ident)
                if conn_id is not None:
                    taken = self._outbox.take_sendable(ident)
                    if taken:
                        sendable.append((conn_id, taken))
        for ident in unclaimed:
            self.log.warning("messages for ident %r have waited %.0f s: no peer with that ident is "
                             "connected (connected idents: %s); check the peers' identifiers and "
                             "addresses", ident, UNCLAIMED_GRACE,
                             ", ".join(repr(i) for i in sorted(self._conn_by_ident)) or "none")
        for conn_id, taken in sendable:
            self._send_taken(conn_id, taken)
        return dropped

    def _send_sendable(self, ident: str) -> None:
        """Send what the window allows to ``ident`` (the caller may use the sockets)."""
        conn_id = self._conn_by_ident.get(ident)
        if conn_id is None:
            return
        with self._lock:
            taken = self._outbox.take_sendable(ident)
        if taken:
            self._send_taken(conn_id, taken)

    def _send_taken(self, conn_id: str, taken: Taken) -> None:
        """Taken messages in MESSAGES packets; the first carries the ack we owe this peer, if any."""
        peer = self._peers.get(conn_id)
        ack = self._acks_owed.pop(conn_id, 0)
        limit: int = self.packeter._max_packet_size
        seqs, messages = taken.seqs, taken.messages
        if taken.ttls.count(None) == len(seqs):  # (the usual case, without a loop)
            ttls: List[Optional[int]] = [None] * len(seqs)
        else:  # snakemq's rule: the remaining ttl, truncated
            ttls = [None if ttl is None else min(int(ttl), MAX_WIRE_TTL) for ttl in taken.ttls]
        for start, end in _batch(seqs, messages, min(limit, BATCH_BYTES)):
            if end - start == 1 and peer is not None and peer.ident is not None \
                    and len(messages[start].data) + MESSAGE_OVERHEAD > limit:
                self._drop_too_large(conn_id, peer.ident, seqs[start], messages[start], limit)
                continue  # the limit was lowered after it was queued
            batch = messages[start:end]
            if len(batch) == 1 and len(batch[0].data) >= DETACH_BYTES:
                packet = wire.encode_messages(seqs[start], batch, ttls[start:end], ack, detached=True)
                self._send(conn_id, packet, batch[0].data)
            else:
                self._send(conn_id, wire.encode_messages(seqs[start], batch, ttls[start:end], ack))
            ack = 0
        if ack:  # every packet was dropped: the ack still goes
            self._acks_owed[conn_id] = ack

    def _drop_too_large(self, conn_id: str, ident: str, seq: int, message: Message, limit: int) -> None:
        """A message queued before the Packeter's limit was lowered below its size: an error,
        and ``on_message_drop`` (it can never be sent)."""
        with self._lock:
            dropped = self._outbox.drop_in_flight(ident, seq)
        self._report(conn_id, PacketTooLarge(len(message.data) + MESSAGE_OVERHEAD, limit))
        self._dispatch_drops(dropped, "it no longer fits Packeter.max_packet_size")

    def _run_if_idle(self, action: Callable[[], None]) -> bool:
        run_if_idle = getattr(self.packeter.link, "_run_if_idle", None)
        return run_if_idle is not None and run_if_idle(action)

    def _send(self, conn_id: str, packet: bytes, payload: Optional[bytes] = None) -> None:
        try:
            if payload is None:
                self.packeter.send_packet(conn_id, packet)
            else:
                self.packeter._send_detached(conn_id, packet, payload)
        except (NoConnection, KeyError):
            pass  # gone meanwhile: the outbox resends after reconnect

    # -- link events ---------------------------------------------------------------------------

    def _on_connect(self, conn_id: str) -> None:
        self._peers[conn_id] = PeerState(time.monotonic())
        self._send(conn_id, wire.encode_ident(self.identifier, self._incarnation))

    def _on_disconnect(self, conn_id: str) -> None:
        peer = self._peers.pop(conn_id, None)
        self._acks_owed.pop(conn_id, None)
        if peer is None or peer.ident is None:
            return
        ident = peer.ident
        del self._conn_by_ident[ident]
        with self._lock:
            dropped = self._outbox.peer_disconnected(ident, time.monotonic())
        self._dispatch_drops(dropped)
        self.on_disconnect(conn_id, ident)

    def _on_packet_recv(self, conn_id: str, packet: bytes, payload: Optional[bytes] = None) -> None:
        """A packet; ``payload``: the detached payload of a one-message MESSAGES packet."""
        peer = self._peers.get(conn_id)
        if peer is None:
            return
        peer.last_recv = time.monotonic()
        peer.ping_sent = None
        try:
            kind = wire.messaging_kind(packet)
            if payload is None:
                self._handlers[kind](conn_id, peer, packet)
            elif kind is wire.MessagingKind.MESSAGES:
                self._recv_messages(conn_id, peer, packet, payload)
            else:
                raise WireError("%s packet with a detached payload" % kind.name)
        except SnakeMQException as exc:
            self._report(conn_id, exc)

    def _on_transport_error(self, conn_id: Optional[str], error: Exception) -> None:
        self.on_error(conn_id, error)

    def _report(self, conn_id: Optional[str], error: SnakeMQException, close: bool = False) -> None:
        """ERROR (rate-limited per connection and error type, the rest at DEBUG) and on_error."""
        peer = self._peers.get(conn_id) if conn_id is not None else None
        left_out = self._report_limit.allow((conn_id, type(error).__name__), time.monotonic())
        self.log.log(logging.DEBUG if left_out is None else logging.ERROR, "conn=%s ident=%s %s: %s%s",
                     conn_id, peer.ident if peer else None, type(error).__name__, error,
                     ratelimit.suffix(left_out or 0))
        self.on_error(conn_id, error)
        if close and conn_id is not None:
            try:
                self.packeter.link.close(conn_id)
            except KeyError:
                pass

    # -- receiving -------------------------------------------------------------------------------

    def _recv_ident(self, conn_id: str, peer: PeerState, packet: bytes) -> None:
        version, ident, incarnation = wire.decode_ident(packet)
        if peer.ident is not None:
            return  # a repeated identification changes nothing
        if version != wire.MESSAGING_VERSION:
            raise_close = SnakeMQIncompatibleProtocol(
                "remote messaging protocol version is %d, this side speaks %d"
                % (version, wire.MESSAGING_VERSION))
            return self._report(conn_id, raise_close, close=True)
        announced = getattr(self.packeter.link, "_peer_ident", lambda c: None)(conn_id)
        if (not ident or len(ident) > MAX_IDENT_LENGTH or ident.startswith("\x00")
                or "\ufffd" in ident or (announced is not None and announced != ident)):
            error: SnakeMQException = SnakeMQNoIdent(
                "peer identified as %r (routing id %r); idents must be 1..%d "
                "characters and match the routing id" % (ident[:80], announced, MAX_IDENT_LENGTH))
            return self._report(conn_id, error, close=True)
        if ident in self._conn_by_ident:
            error = DuplicateIdent(ident, "on connection %s; refused connection %s"
                                   % (self._conn_by_ident[ident], conn_id))
            return self._report(conn_id, error, close=True)
        peer.ident, peer.incarnation = ident, incarnation
        self._conn_by_ident[ident] = conn_id
        with self._lock:
            dropped = self._outbox.peer_connected(ident, time.monotonic())
            self._update_stored_ttls(ident)
        self._dispatch_drops(dropped)
        self.log.info("conn=%s ident=%r connected", conn_id, ident)
        self.on_connect(conn_id, ident)

    def _recv_messages(self, conn_id: str, peer: PeerState, packet: bytes,
                       payload: Optional[bytes] = None) -> None:
        if peer.ident is None:
            raise SnakeMQNoIdent("conn %s sent messages before identifying itself" % conn_id)
        batch = wire.decode_messages(packet, payload)
        first_error = self._acknowledged(conn_id, peer.ident, batch.ack) if batch.ack else None
        if batch.uuids:
            delivery_error = self._deliver(conn_id, peer, batch)
            first_error = first_error or delivery_error
            last_seq = batch.first_seq + len(batch.uuids) - 1
            if len(batch.uuids) >= ACK_AT_ONCE_COUNT or len(packet) >= ACK_AT_ONCE_BYTES \
                    or payload is not None:
                self._acks_owed.pop(conn_id, None)
                self._send(conn_id, wire.encode_ack(last_seq))
            else:
                self._acks_owed[conn_id] = last_seq
                if peer.ident in self._outbox.sendable:  # the callbacks replied: it goes now,
                    self._send_sendable(peer.ident)  # with the ack, not at the end of the pass
        if first_error is not None:
            raise first_error

    def _deliver(self, conn_id: str, peer: PeerState, batch: wire.MessagesPacket) -> Optional[BaseException]:
        """``on_message_recv`` for each message not delivered before; returns the first
        exception a callback raised (the rest of the batch is delivered all the same)."""
        ident, incarnation, delivered = peer.ident, peer.incarnation, self._delivered
        assert ident is not None
        skip = max(0, delivered.last_seq(ident, incarnation) + 1 - batch.first_seq)  # resent ones
        if skip >= len(batch.uuids):
            return None
        delivered.record(ident, incarnation, batch.first_seq + len(batch.uuids) - 1)
        flags = batch.flags[skip:]
        messages: Iterable[Message] = map(received_message, batch.datas[skip:], batch.ttls[skip:],
                                          flags, batch.uuids[skip:])
        if any(map(FLAG_PERSISTENT.__and__, flags)):  # a restarted sender resends these
            messages = (m for m in messages if not m.flags & FLAG_PERSISTENT
                        or delivered.first_time_persistent(m.uuid))
        return _call_each(functions_of(self.on_message_recv), conn_id, ident, messages)

    def _recv_ack(self, conn_id: str, peer: PeerState, packet: bytes) -> None:
        upto_seq = wire.decode_ack(packet)
        if peer.ident is None:
            raise SnakeMQNoIdent("conn %s acknowledged before identifying itself" % conn_id)
        first_error = self._acknowledged(conn_id, peer.ident, upto_seq)
        if first_error is not None:
            raise first_error

    def _acknowledged(self, conn_id: str, ident: str, upto_seq: int) -> Optional[BaseException]:
        """Messages up to ``upto_seq`` are sent: ``on_message_sent`` for each (the first
        exception a callback raised is returned, for the caller to raise when done)."""
        with self._lock:
            sent = self._outbox.acknowledge(ident, upto_seq)
        if not sent:
            return None
        self._forget_stored(sent)
        return _call_each(functions_of(self.on_message_sent), conn_id, ident,
                          [message.uuid for message in sent])

    # -- the loop pass -----------------------------------------------------------------------------

    def _on_link_loop_pass(self) -> None:
        now = time.monotonic()
        self._manage_pings(now)
        dropped = self._flush(now)  # carries the acks we owe to peers we send to
        owed, self._acks_owed = self._acks_owed, {}
        for conn_id, upto in owed.items():
            self._send(conn_id, wire.encode_ack(upto))
        self._dispatch_drops(dropped)

    def _manage_pings(self, now: float) -> None:
        if self.keepalive_interval is None or now < self._pings_due:
            return
        self._pings_due = now + HOUSEKEEPING_INTERVAL  # a scan of every peer: not on every pass
        for conn_id, peer in list(self._peers.items()):
            if now - peer.last_recv < self.keepalive_interval:
                continue
            if peer.ping_sent is None:
                peer.ping_sent = now
                self._send(conn_id, wire.PING_PACKET)
            elif now - peer.ping_sent > self.keepalive_wait:
                self.log.warning("conn=%s ident=%s did not answer a keepalive ping; closing",
                                 conn_id, peer.ident)
                self.packeter.link.close(conn_id)

    def _dispatch_drops(self, dropped: List[MessageDropped], why: str = "its TTL ran out") -> None:
        if not dropped:
            return
        self._forget_stored([event.message for event in dropped])
        for event in dropped:
            self.log.info("ident=%s message %s dropped: %s", event.ident, event.message.uuid.hex(), why)
            self.on_message_drop(event.ident, event.message.uuid)

    # -- storage --------------------------------------------------------------------------------------

    def _forget_stored(self, messages: List[Message]) -> None:
        if self._storage is None:
            return
        stored = [m for m in messages if m.flags & FLAG_PERSISTENT]
        if stored:
            with write_batch(self._storage):
                self._storage.delete_items(stored)

    def _update_stored_ttls(self, ident: str) -> None:
        if self._storage is None:
            return
        queue = self._outbox.queues.get(ident)
        updated = [_StoredTtl(e.message.uuid, e.ttl) for e in queue.pending
                   if e.seq >= 0 and e.ttl is not None and e.message.flags & FLAG_PERSISTENT] if queue else []
        if updated:
            self._storage.update_items_ttl(updated)


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


def _batch(seqs: List[int], messages: List[Message], max_bytes: int) -> List[Tuple[int, int]]:
    """Group taken messages into MESSAGES packets, as ``(start, end)`` index ranges:
    consecutive seqs, at most BATCH_COUNT messages and ``max_bytes`` per packet (the
    Packeter's limit may be lower than BATCH_BYTES); a message too large to share a
    packet travels alone."""
    count = len(seqs)
    if count == 1:
        return [(0, 1)]
    budget = max_bytes - PACKET_HEADER_BYTES
    sizes = [len(message.data) + MESSAGE_HEADER_BYTES for message in messages]
    if seqs[-1] - seqs[0] == count - 1:  # no gaps (the usual case)
        starts = range(0, count, BATCH_COUNT)
        if all(sum(sizes[start:start + BATCH_COUNT]) <= budget for start in starts):
            return [(start, min(start + BATCH_COUNT, count)) for start in starts]
    packets: List[Tuple[int, int]] = []
    first = size = 0
    for index in range(count):
        if index > first and (seqs[index] != seqs[index - 1] + 1 or index - first >= BATCH_COUNT
                              or size + sizes[index] > budget):
            packets.append((first, index))
            first, size = index, 0
        size += sizes[index]
    if count:
        packets.append((first, count))
    return packets


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
