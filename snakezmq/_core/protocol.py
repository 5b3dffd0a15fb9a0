"""The messaging protocol as one state machine: every delivery decision, no I/O.

Events in (each method is a fact: a message was queued, a link connected, a packet
arrived, time is now T), actions out (``_core.actions``: send this, deliver that,
report sent or dropped, close). ``next_deadline()`` says when to call ``tick``
next. No sockets, threads, clocks or logging: times are float seconds on a
monotonic clock, passed in. Not thread-safe: the driver holds its lock around
every call, and never while it carries out the actions.

Theory of operation (see docs/protocol.md for the packets):
- Handshake, per connection: both sides send IDENT; on the peer's IDENT each side
  sends RESUME, saying how far it delivered the peer's stream (``_core.delivered``)
  and naming its own stream to the peer. A sender sends nothing to a peer before
  that peer's RESUME: only then does it know what to resend (``Outbox.resume``).
  The peer counts as connected (``on_connect``, TTLs stop) from its RESUME on.
- Sending: connected queues with waiting messages are flushed at every ``tick`` in
  MESSAGES packets (``_core.batching``), within the outbox's window.
- Acks: a packet of ``ACK_AT_ONCE_*`` messages or bytes is acknowledged right after
  delivery (the sender refills its window while we work); smaller ones add up, and
  once as much is owed the ack goes at the end of the loop pass (a full window of
  16,384 always gets its ack at once). Less rides on the first packet back (a reply),
  else goes within ``ACK_DELAY``: an RPC reply, made in another thread, or the next
  request then carries it (two packets per call, not four).
  Every packet a sender sends carries its confirmation (acks processed so far); a
  sender with nothing more to send confirms within ``CONFIRM_DELAY``.
- Timers: TTL expiry, unclaimed-queue warnings, keepalive pings and confirmations
  each keep their next due time; ``next_deadline()`` is the earliest.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ..exceptions import PacketTooLarge, SnakeMQException, SnakeMQNoIdent, WireError
from ..message import FLAG_PERSISTENT
from . import batching, wire
from .actions import (TOO_LARGE, TTL_RAN_OUT, Action, Deliver, PeerIdentified, PeerLost, Problem,
                      ReportDropped, ReportSent, Silent, StoreTtls, Transmit, Unclaimed)
from .delivered import DeliveredLog, StreamRecord, accept
from .liveness import unknown
from .outbox import Outbox
from .peers import Peer, keepalive_scan, refusal_of

UNCLAIMED_GRACE = 5.0  #: warn about messages waiting this long for an ident nobody connected as
KEEPALIVE_SCAN = 0.05  #: peers are checked for keepalive at most this often
CONFIRM_DELAY = 0.1  #: a sender with nothing to send confirms acks this late at most
ACK_DELAY = 0.01  #: a small packet's ack waits this long at most for a packet back to ride on
#: once at least this many messages (or bytes) are delivered and not acknowledged, the ack goes
#: as soon as they are delivered, so the sender refills its window while we work
ACK_AT_ONCE_COUNT = 16
ACK_AT_ONCE_BYTES = 64 * 1024
INFINITY = float("inf")


class MessagingProtocol:
    """All of one Messaging's peers, queues and delivery records."""

    def __init__(self, identifier: str, incarnation: bytes, outbox: Optional[Outbox] = None,
                 delivered: Optional[DeliveredLog] = None) -> None:
        self.identifier = identifier
        self.incarnation = incarnation
        self.outbox = outbox if outbox is not None else Outbox()
        self.delivered = delivered if delivered is not None else DeliveredLog()
        self.peers: Dict[str, Peer] = {}
        self.conn_by_ident: Dict[str, str] = {}
        self.max_packet_size = 256 * 1024 * 1024  #: the Packeter's limit (the driver keeps it current)
        self._keepalive_interval: Optional[float] = None
        self.keepalive_wait = 0.5
        self._pending: List[Action] = []  #: found by queue_message, carried out at the next tick
        #: conn_id: (highest delivered seq not acknowledged yet, messages and bytes since our last ack)
        self._acks_owed: Dict[str, Tuple[int, int, int]] = {}
        self._confirms: Set[str] = set()  #: conn_ids owed a confirmation
        self._expiry_due = INFINITY
        self._unclaimed_due = INFINITY
        self._pings_due = INFINITY
        self._confirm_due = INFINITY
        self._ack_due = INFINITY  #: when the acks owed go on their own (while there are any)
        self._handlers: Dict[wire.MessagingKind, Callable[[Peer, bytes, Optional[bytes], float,
                                                           List[Action]], None]] = {
            wire.MessagingKind.IDENT: self._recv_ident,
            wire.MessagingKind.RESUME: self._recv_resume,
            wire.MessagingKind.MESSAGES: self._recv_messages,
            wire.MessagingKind.ACK: self._recv_ack,
            wire.MessagingKind.PING: self._recv_ping,
            wire.MessagingKind.PONG: lambda peer, packet, payload, now, actions: None,
        }

    @property
    def acks_owed(self) -> int:
        """How many connections are owed an ack that waits (at most ACK_DELAY) for a packet back."""
        return len(self._acks_owed)

    @property
    def keepalive_interval(self) -> Optional[float]:
        return self._keepalive_interval

    @keepalive_interval.setter
    def keepalive_interval(self, interval: Optional[float]) -> None:
        self._keepalive_interval = interval
        self._pings_due = -INFINITY if interval is not None else INFINITY  # (scan at the next tick)

    # -- the application ---------------------------------------------------------------------

    def queue_message(self, ident: str, message: Any, now: float) -> bool:
        """Queue ``message`` for ``ident`` (from any thread, under the driver's lock).
        Returns True if the loop must wake: something is due sooner than it planned."""
        outbox = self.outbox
        was_sendable = ident in outbox.sendable
        dropped = outbox.push(ident, message, now)
        if dropped:
            self._pending.append(ReportDropped(dropped, TTL_RAN_OUT))
            return True
        queue = outbox.queues[ident]
        if queue.away_since is None:
            return not was_sendable  # (else the loop takes it with the ones before)
        wake = False
        if message.ttl is not None and now + message.ttl < self._expiry_due:
            self._expiry_due, wake = now + message.ttl, True
        unclaimed_due = queue.away_since + UNCLAIMED_GRACE
        if not queue.waiting_reported and unclaimed_due < self._unclaimed_due:
            self._unclaimed_due, wake = unclaimed_due, True
        return wake

    def restore(self, ident: str, messages: List[Any], now: float) -> None:
        """Messages a restarted sender loaded from its storage, queued again (at start-up)."""
        for message in messages:
            dropped = self.outbox.restore(ident, message, now)
            if dropped:
                self._pending.append(ReportDropped(dropped, TTL_RAN_OUT))
        self._expiry_due = min(self._expiry_due, self.outbox.next_deadline())
        self._unclaimed_due = min(self._unclaimed_due, now + UNCLAIMED_GRACE)

    def collect_garbage(self) -> None:
        """Forget empty queues of idents that are not connected (snakemq's cleanup)."""
        for ident in list(self.outbox.queues):
            if ident not in self.conn_by_ident:  # (a peer between IDENT and RESUME keeps its stream)
                self.outbox.forget_empty(ident)

    # -- the link ------------------------------------------------------------------------------

    def link_connected(self, conn_id: str, announced: Optional[str], now: float) -> List[Action]:
        """A link session started; ``announced``: the ident its routing id claims, if any."""
        self.peers[conn_id] = Peer(conn_id, announced, now)
        if self._keepalive_interval is not None:
            self._pings_due = min(self._pings_due, now + self._keepalive_interval)
        return [Transmit(conn_id, wire.encode_ident(self.identifier, self.incarnation))]

    def link_disconnected(self, conn_id: str, now: float) -> List[Action]:
        peer = self.peers.pop(conn_id, None)
        self._acks_owed.pop(conn_id, None)
        self._confirms.discard(conn_id)
        if peer is None or peer.ident is None:
            return []
        ident = peer.ident
        del self.conn_by_ident[ident]
        actions: List[Action] = []
        queue = self.outbox.queues.get(ident)
        if queue is not None and queue.away_since is None:
            dropped = self.outbox.peer_disconnected(ident, now)
            if dropped:
                actions.append(ReportDropped(dropped, TTL_RAN_OUT))
            self._expiry_due = min(self._expiry_due, queue.expiry[0].deadline if queue.expiry else INFINITY)
            if len(queue):
                self._unclaimed_due = min(self._unclaimed_due, now + UNCLAIMED_GRACE)
        if peer.record is not None:  # (on_connect came with its RESUME)
            self.delivered.disconnected(ident)
            actions.append(PeerLost(conn_id, ident))
        return actions

    def packet_received(self, conn_id: str, packet: bytes, payload: Optional[bytes],
                        now: float) -> List[Action]:
        """A packet from ``conn_id``; ``payload``: a one-message MESSAGES packet's detached data."""
        peer = self.peers.get(conn_id)
        if peer is None:
            return []
        peer.liveness.heard(now)
        actions: List[Action] = []
        try:
            kind = wire.messaging_kind(packet)
            if payload is not None and kind is not wire.MessagingKind.MESSAGES:
                raise WireError("%s packet with a detached payload" % kind.name)
            self._handlers[kind](peer, packet, payload, now, actions)
        except SnakeMQException as exc:
            actions.append(Problem(conn_id, exc))
        return actions

    def after_delivery(self, conn_id: str, now: float) -> List[Action]:
        """The driver delivered a packet's messages: what their callbacks queued for the
        sender goes now, carrying the ack (a reply leaves right after its request)."""
        peer = self.peers.get(conn_id)
        actions: List[Action] = []
        if peer is not None and peer.ident in self.outbox.sendable and conn_id in self._acks_owed:
            self._flush(peer, actions, now)
        return actions

    # -- time ----------------------------------------------------------------------------------

    def tick(self, now: float, data_age: Callable[[str], Optional[float]] = unknown) -> List[Action]:
        """Once per loop pass: timers that are due, waiting messages, owed acks. ``data_age(conn_id)``:
        seconds since TCP data from that peer arrived (the keepalive counts it; ``_core.liveness``)."""
        if not self.tick_due(now):
            return []  # (the usual pass of a request/response loop)
        actions, self._pending = self._pending, []
        if now >= self._expiry_due:
            dropped = self.outbox.expire(now)
            self._expiry_due = self.outbox.next_deadline()
            if dropped:
                actions.append(ReportDropped(dropped, TTL_RAN_OUT))
        if now >= self._unclaimed_due:
            self._report_unclaimed(now, actions)
        if now >= self._pings_due:
            self._keepalive(now, actions, data_age)
        for ident in list(self.outbox.sendable):  # connected, with messages waiting
            conn_id = self.conn_by_ident.get(ident)
            if conn_id is not None:
                self._flush(self.peers[conn_id], actions, now)
        if self._acks_owed and now >= self._ack_due:
            actions += self.acks_now()
        if self._confirms and now >= self._confirm_due:
            for conn_id in list(self._confirms):
                peer = self.peers[conn_id]
                self._send_ack(peer, peer.record.delivered if peer.record else 0, actions)
        return actions

    def acks_now(self) -> List[Action]:
        """Every ack still waiting for a packet to ride on, sent now (also when the link closes)."""
        actions: List[Action] = []
        owed, self._acks_owed = self._acks_owed, {}
        for conn_id, (upto, _, _) in owed.items():
            self._send_ack(self.peers[conn_id], upto, actions)
        return actions

    def tick_due(self, now: float) -> bool:
        """Whether ``tick(now)`` has anything to do."""
        return bool(self._pending or self.outbox.sendable) or now >= self.next_deadline()

    def next_deadline(self) -> float:
        """When ``tick`` has something to do next, on its own (INFINITY: nothing)."""
        return min(self._expiry_due, self._unclaimed_due, self._pings_due,
                   self._confirm_due if self._confirms else INFINITY,
                   self._ack_due if self._acks_owed else INFINITY)

    def _report_unclaimed(self, now: float, actions: List[Action]) -> None:
        connected = sorted(self.conn_by_ident)
        for ident in self.outbox.unclaimed(now, UNCLAIMED_GRACE):
            actions.append(Unclaimed(ident, connected, UNCLAIMED_GRACE))
        self._unclaimed_due = min((q.away_since + UNCLAIMED_GRACE for q in self.outbox.queues.values()
                                   if q.away_since is not None and not q.waiting_reported and len(q)),
                                  default=INFINITY)

    def _keepalive(self, now: float, actions: List[Action],
                   data_age: Callable[[str], Optional[float]]) -> None:
        interval = self._keepalive_interval
        if interval is None:
            self._pings_due = INFINITY
            return
        pings, silent, next_due = keepalive_scan(self.peers.values(), interval, self.keepalive_wait, now,
                                                 data_age)
        actions += [Transmit(conn_id, wire.PING_PACKET) for conn_id in pings]
        actions += [Silent(peer.conn_id, peer.ident) for peer in silent]
        self._pings_due = max(next_due, now + KEEPALIVE_SCAN)

    # -- sending ---------------------------------------------------------------------------------

    def _confirmation(self, peer: Peer) -> Tuple[int, bool]:
        """What we confirm to ``peer``: acks processed up to, and restored messages left."""
        queue = self.outbox.queues.get(peer.ident) if peer.ident is not None else None
        return (queue.acked_upto, queue.restored > 0) if queue is not None else (0, False)

    def _told(self, peer: Peer, told: Tuple[int, bool]) -> Tuple[int, bool]:
        """A packet carrying ``told`` goes to ``peer``: no separate confirmation is due."""
        peer.told = told
        self._confirms.discard(peer.conn_id)
        return told

    def _flush(self, peer: Peer, actions: List[Action], now: float) -> None:
        """Send what the window allows to ``peer``, with the ack owed to it. Messages dropped
        as too large free their window slots: what waits behind them is taken at once."""
        while self._flush_window(peer, actions, now) and peer.ident in self.outbox.sendable:
            pass

    def _flush_window(self, peer: Peer, actions: List[Action], now: float) -> bool:
        """One take of the window; True if messages were dropped as too large."""
        ident = peer.ident
        assert ident is not None
        taken = self.outbox.take_sendable(ident)
        if not taken:
            return False
        owed = self._acks_owed.pop(peer.conn_id, None)
        ack = owed[0] if owed is not None else 0
        told = self._confirmation(peer)
        result = batching.encode_taken(taken, ack, *told, self.max_packet_size)
        for packet, payload in result.packets:
            actions.append(Transmit(peer.conn_id, packet, payload))
        if result.packets:
            self._told(peer, told)
        elif owed is not None:  # every message was too large: the ack still goes
            self._acks_owed[peer.conn_id] = owed
        for seq, message in result.too_large:
            actions.append(Problem(peer.conn_id, _too_large(message, self.max_packet_size)))
            actions.append(ReportDropped(self.outbox.drop_in_flight(ident, seq), TOO_LARGE))
        if result.too_large:  # a dropped restored message changes what the peer must hear
            self._confirm_later(peer, now)
        return bool(result.too_large)

    def _send_ack(self, peer: Peer, upto: int, actions: List[Action]) -> None:
        confirmed, restoring = self._told(peer, self._confirmation(peer))
        actions.append(Transmit(peer.conn_id, wire.encode_ack(upto, confirmed, restoring)))

    def _confirm_later(self, peer: Peer, now: float) -> None:
        """``peer`` should hear our confirmation: soon, on whatever goes to it first."""
        queue = self.outbox.queues.get(peer.ident) if peer.ident is not None else None
        if queue is not None and peer.told != (queue.acked_upto, queue.restored > 0):
            if not self._confirms:
                self._confirm_due = now + CONFIRM_DELAY
            self._confirms.add(peer.conn_id)

    # -- receiving -------------------------------------------------------------------------------

    def _recv_ident(self, peer: Peer, packet: bytes, payload: Optional[bytes], now: float,
                    actions: List[Action]) -> None:
        version, ident, incarnation = wire.decode_ident(packet)
        if peer.ident is not None:
            return  # a repeated identification changes nothing
        refusal = refusal_of(peer, version, ident, self.conn_by_ident.get(ident))
        if refusal is not None:
            actions.append(Problem(peer.conn_id, refusal, close=True))
            return
        peer.ident, peer.incarnation = ident, incarnation
        self.conn_by_ident[ident] = peer.conn_id
        queue = self.outbox.queue(ident, now)
        known = self.delivered.known(ident)
        resume = wire.Resume(known[0] if known else None, known[1] if known else 0, queue.epoch,
                             *self._told(peer, self._confirmation(peer)))
        actions.append(Transmit(peer.conn_id, wire.encode_resume(resume)))

    def _recv_resume(self, peer: Peer, packet: bytes, payload: Optional[bytes], now: float,
                     actions: List[Action]) -> None:
        resume = wire.decode_resume(packet)
        ident = peer.ident
        if ident is None or peer.record is not None:
            raise WireError("RESUME %s" % ("before IDENT" if ident is None else "twice"))
        peer.record = self.delivered.begin(ident, (peer.incarnation, resume.epoch),
                                           resume.confirmed, resume.restoring)
        queue = self.outbox.queue(ident, now)
        mine = resume.known == (self.incarnation, queue.epoch)
        sent = self.outbox.resume(ident, resume.delivered if mine else None)
        if sent:
            actions.append(ReportSent(peer.conn_id, ident, sent))
        dropped = self.outbox.peer_connected(ident, now)
        if dropped:
            actions.append(ReportDropped(dropped, TTL_RAN_OUT))
        stored = [(e.message.uuid, e.ttl) for e in queue.pending
                  if e.seq >= 0 and e.ttl is not None and e.message.flags & FLAG_PERSISTENT]
        if stored:
            actions.append(StoreTtls(stored))
        actions.append(PeerIdentified(peer.conn_id, ident))
        self._confirm_later(peer, now)
        self._flush(peer, actions, now)

    def _recv_messages(self, peer: Peer, packet: bytes, payload: Optional[bytes], now: float,
                       actions: List[Action]) -> None:
        record = peer.record
        if record is None:
            raise SnakeMQNoIdent("conn %s sent messages before identifying itself" % peer.conn_id)
        batch = wire.decode_messages(packet, payload)
        if batch.ack:
            self._acknowledged(peer, batch.ack, now, actions)
        record.confirm(batch.confirmed, batch.restoring)
        count = len(batch.uuids)
        if not count:
            return
        self._deliver(peer, record, batch, actions)
        self._owe_ack(peer, batch.first_seq + count - 1, count, len(packet), payload, now, actions)

    def _owe_ack(self, peer: Peer, last_seq: int, count: int, size: int, payload: Optional[bytes],
                 now: float, actions: List[Action]) -> None:
        """Acknowledge up to ``last_seq`` now (a big packet), at the end of this loop pass
        (enough small ones), or within ACK_DELAY (see Acks above)."""
        if count >= ACK_AT_ONCE_COUNT or size >= ACK_AT_ONCE_BYTES or payload is not None:
            self._acks_owed.pop(peer.conn_id, None)
            self._send_ack(peer, last_seq, actions)
            return
        owed = self._acks_owed.pop(peer.conn_id, None)
        if owed is not None:
            count, size = count + owed[1], size + owed[2]
        if count >= ACK_AT_ONCE_COUNT or size >= ACK_AT_ONCE_BYTES:
            self._ack_due = now  # (the tick that ends this pass sends it)
        elif owed is None and not self._acks_owed:  # (else the earliest owed ack keeps its time)
            self._ack_due = now + ACK_DELAY
        self._acks_owed[peer.conn_id] = (last_seq, count, size)

    def _deliver(self, peer: Peer, record: StreamRecord, batch: wire.MessagesPacket,
                 actions: List[Action]) -> None:
        messages = accept(record, batch)
        if messages:
            assert peer.ident is not None
            actions.append(Deliver(peer.conn_id, peer.ident, messages))

    def _recv_ack(self, peer: Peer, packet: bytes, payload: Optional[bytes], now: float,
                  actions: List[Action]) -> None:
        upto, confirmed, restoring = wire.decode_ack(packet)
        if peer.record is None:
            raise SnakeMQNoIdent("conn %s acknowledged before identifying itself" % peer.conn_id)
        self._acknowledged(peer, upto, now, actions)
        peer.record.confirm(confirmed, restoring)

    def _acknowledged(self, peer: Peer, upto: int, now: float, actions: List[Action]) -> None:
        assert peer.ident is not None
        sent = self.outbox.acknowledge(peer.ident, upto)
        if sent:
            actions.append(ReportSent(peer.conn_id, peer.ident, sent))
        self._confirm_later(peer, now)

    def _recv_ping(self, peer: Peer, packet: bytes, payload: Optional[bytes], now: float,
                   actions: List[Action]) -> None:
        actions.append(Transmit(peer.conn_id, wire.PONG_PACKET))


def _too_large(message: Any, limit: int) -> SnakeMQException:
    return PacketTooLarge(len(message.data) + batching.MESSAGE_OVERHEAD, limit)
