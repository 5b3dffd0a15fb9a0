"""A deterministic world for the messaging protocol: several peers' state machines,
a simulated network of FIFO connections, a virtual clock, and an oracle that checks
the delivery contract after every step.

Nothing here opens a socket or reads a clock. Each peer runs ``MessagingProtocol``
exactly as ``messaging.py`` drives it: every input is followed by a loop pass
(``tick``), a loop that sleeps wakes only at ``next_deadline()``, and actions are
carried out in order (storage writes included), as the driver does.
"""
from __future__ import annotations

import collections
import itertools
from typing import Any, Deque, Dict, List, Optional, Tuple

from snakezmq._core.actions import (TOO_LARGE, Deliver, PeerIdentified, PeerLost, Problem,
                                    ReportDropped, ReportSent, Silent, StoreTtls, Transmit, Unclaimed)
from snakezmq._core.delivered import DeliveredLog
from snakezmq._core.outbox import Outbox
from snakezmq._core.protocol import ACK_DELAY, MessagingProtocol
from snakezmq.exceptions import PacketTooLarge
from snakezmq.message import FLAG_PERSISTENT, Message

WINDOW = 3  #: messages in flight per destination (small, so windows fill up)
MAX_CLEAN = 0  #: clean delivery records kept for disconnected senders (none: evicted at once)
MIN_POLL = 0.002  #: the Link's shortest poll (link.MIN_POLL_TIMEOUT)
MAX_PASSES = 2000  #: loop passes in one quiet stretch of time, at most
EXPIRY_SLACK = 0.01  #: a message whose TTL ran out is dropped this late at most (idle loop included)


class Violation(AssertionError):
    """The delivery contract was broken."""


class Accepted:
    """What the oracle knows of one message accepted by ``send_message``."""

    def __init__(self, sender: str, incarnation: int, receiver: str, message: Message, now: float) -> None:
        self.sender, self.incarnation, self.receiver = sender, incarnation, receiver
        self.ttl, self.persistent, self.accepted_at = message.ttl, bool(message.flags & FLAG_PERSISTENT), now
        self.sent = self.dropped = False


class Node:
    """One process run of the peer ``ident``; ``storage`` outlives it (a kill keeps the disk)."""

    def __init__(self, ident: str, incarnation: int, storage: Dict[bytes, Tuple[str, Message]],
                 now: float, keepalive: Optional[float]) -> None:
        self.ident, self.incarnation, self.storage = ident, incarnation, storage
        self.protocol = MessagingProtocol(ident, incarnation.to_bytes(8, "big"),
                                          Outbox(window=WINDOW), DeliveredLog(max_clean=MAX_CLEAN))
        self.protocol.keepalive_interval = keepalive
        self.conns: Dict[str, str] = {}  #: conn_id: the peer ident on the other end
        self.last_tick = now
        by_ident: Dict[str, List[Message]] = collections.defaultdict(list)
        for queue_name, stored in storage.values():  # (in push order: a dict keeps it)
            by_ident[queue_name].append(Message(stored.data, stored.ttl, stored.flags, stored.uuid))
        for queue_name, messages in by_ident.items():
            self.protocol.restore(queue_name, messages, now)


class Connection:
    """One link session between a connector and a listener: a FIFO each way."""

    def __init__(self, conn_ids: Dict[str, str]) -> None:
        self.conn_ids = conn_ids  #: ident: its conn_id for this connection
        self.in_flight: Dict[str, Deque[Tuple[bytes, Optional[bytes]]]] = {
            ident: collections.deque() for ident in conn_ids}  #: by receiving ident


class World:
    def __init__(self, idents: List[str], keepalive: Optional[float] = None) -> None:
        self.now = 0.0
        self.keepalive = keepalive
        self.idents = idents
        self.storages: Dict[str, Dict[bytes, Tuple[str, Message]]] = {i: {} for i in idents}
        self.incarnations = itertools.count(1)
        self.nodes: Dict[str, Optional[Node]] = {i: self._boot(i) for i in idents}
        self.connections: Dict[frozenset[str], Connection] = {}
        self.conn_counter = itertools.count(1)
        self.accepted: Dict[bytes, Accepted] = {}
        #: receiver ident: uuid: the receiver incarnations that delivered it
        self.deliveries: Dict[str, Dict[bytes, List[int]]] = {i: {} for i in idents}
        #: (receiver ident, receiver incarnation, sender ident): deliveries of messages that an
        #: earlier incarnation of the receiver had delivered already
        self.redelivered: Dict[Tuple[str, int, str], int] = collections.Counter()
        self.max_packet_size = 256 * 1024 * 1024

    def _boot(self, ident: str) -> Node:
        return Node(ident, next(self.incarnations), self.storages[ident], self.now, self.keepalive)

    # -- the application ---------------------------------------------------------------------

    def send(self, sender: str, receiver: str, data: bytes, ttl: Optional[float], persistent: bool) -> None:
        node = self.nodes[sender]
        if node is None or len(data) + 128 > self.max_packet_size:
            return  # (send_message raises PacketTooLarge: not accepted)
        message = Message(data, ttl, FLAG_PERSISTENT if persistent else 0)
        if persistent and (ttl is None or ttl > 0):  # Messaging._is_stored
            node.storage[message.uuid] = (receiver, message)
        self.accepted[message.uuid] = Accepted(sender, node.incarnation, receiver, message, self.now)
        if node.protocol.queue_message(receiver, message, self.now):
            self._pass(node)  # (woken: wakeup_poll; else the loop takes it on a pass already due)

    def collect_garbage(self, ident: str) -> None:
        """``queues_manager.collect_garbage()`` (it does not wake the loop)."""
        node = self.nodes[ident]
        if node is not None:
            node.protocol.collect_garbage()

    def lower_max_packet_size(self, size: int) -> None:
        """``packeter.max_packet_size = size`` on every peer (read at the next pass)."""
        self.max_packet_size = size

    # -- the network -------------------------------------------------------------------------------

    def live_nodes(self) -> List[Node]:
        return [node for node in self.nodes.values() if node is not None]

    def connect(self, connector: str, listener: str) -> None:
        a, b = self.nodes[connector], self.nodes[listener]
        key = frozenset((connector, listener))
        if a is None or b is None or connector == listener or key in self.connections:
            return
        conn = self.connections[key] = Connection(
            {connector: "c%d" % next(self.conn_counter), listener: "l%d" % next(self.conn_counter)})
        for node, announced in ((a, None), (b, connector)):  # a listener reads the routing id
            node.conns[conn.conn_ids[node.ident]] = (listener if node is a else connector)
            self._run(node, node.protocol.link_connected(conn.conn_ids[node.ident], announced, self.now))

    def deliver(self, pair: Tuple[str, str], receiver_first: bool, count: int) -> None:
        """Hand up to ``count`` packets travelling on ``pair``'s connection to one side."""
        conn = self.connections.get(frozenset(pair))
        if conn is None:
            return
        receiver = pair[0] if receiver_first else pair[1]
        queue = conn.in_flight[receiver]
        for _ in range(count):
            if not queue or self.connections.get(frozenset(pair)) is not conn:
                return
            packet, payload = queue.popleft()
            node = self.nodes[receiver]
            assert node is not None
            self._run(node, node.protocol.packet_received(conn.conn_ids[receiver], packet, payload,
                                                          self.now))

    def disconnect(self, pair: Tuple[str, str], first: int = 0) -> None:
        """End ``pair``'s connection: what is still travelling is lost; each side learns it."""
        conn = self.connections.pop(frozenset(pair), None)
        if conn is None:
            return
        for ident in (pair[first], pair[1 - first]):
            node = self.nodes[ident]
            if node is not None:
                conn_id = conn.conn_ids[ident]
                node.conns.pop(conn_id, None)
                self._run(node, node.protocol.link_disconnected(conn_id, self.now))

    def kill(self, ident: str) -> None:
        """The process dies: its memory is gone, its storage stays; its peers see it go."""
        self.nodes[ident] = None
        for key in [key for key in self.connections if ident in key]:
            self.disconnect((ident, next(iter(key - {ident}))))

    def restart(self, ident: str) -> None:
        if self.nodes[ident] is None:
            node = self.nodes[ident] = self._boot(ident)
            self._pass(node)

    # -- time ----------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Time passes with nothing happening: each loop sleeps until its next deadline."""
        target = self.now + seconds
        for _ in range(MAX_PASSES):
            wakes = [(max(node.protocol.next_deadline(), node.last_tick + MIN_POLL), node.ident)
                     for node in self.live_nodes()]
            wake, ident = min(wakes, default=(float("inf"), ""))
            if wake > target:
                break
            self.now = max(self.now, wake)
            node = self.nodes[ident]
            assert node is not None
            self._pass(node)
        else:
            raise Violation("a loop keeps waking up with nothing to do (busy loop)")
        self.now = target
        self.check_expiry()

    # -- the driver: what messaging.py does with actions ------------------------------------------

    def _pass(self, node: Node) -> None:
        """A loop pass (``on_loop_pass``) of ``node``."""
        node.last_tick = self.now
        node.protocol.max_packet_size = self.max_packet_size
        self._run(node, node.protocol.tick(self.now), tick=False)

    def _run(self, node: Node, actions: List[Any], tick: bool = True) -> None:
        for action in actions:
            if self.nodes.get(node.ident) is not node:
                return  # (killed meanwhile)
            self._execute(node, action)
        if tick and self.nodes.get(node.ident) is node:
            self._pass(node)

    def _execute(self, node: Node, action: Any) -> None:
        kind = type(action)
        if kind is Transmit:
            peer = node.conns.get(action.conn_id)
            conn = self.connections.get(frozenset((node.ident, peer))) if peer else None
            if conn is not None and conn.conn_ids[node.ident] == action.conn_id:
                conn.in_flight[peer].append((action.packet, action.payload))
        elif kind is Deliver:
            for message in action.messages:
                self._delivered(node, action.ident, message)
            self._run(node, node.protocol.after_delivery(action.conn_id, self.now), tick=False)
        elif kind is ReportSent:
            for message in action.messages:
                self._reported(node, message, sent=True)
        elif kind is ReportDropped:
            for event in action.dropped:
                self._reported(node, event.message, sent=False, too_large=action.reason == TOO_LARGE)
        elif kind is Problem:
            if not isinstance(action.error, PacketTooLarge):
                raise Violation("%s reported a problem: %r" % (node.ident, action.error))
        elif kind is Silent:
            if action.conn_id in node.conns:
                self.disconnect((node.ident, node.conns[action.conn_id]))
        elif kind is StoreTtls:
            for uuid, ttl in action.items:
                if uuid in node.storage:
                    node.storage[uuid][1].ttl = ttl
        else:
            assert kind in (PeerIdentified, PeerLost, Unclaimed), action

    # -- the oracle ------------------------------------------------------------------------------------

    def _delivered(self, node: Node, sender: str, message: Message) -> None:
        accepted = self.accepted.get(message.uuid)
        if accepted is None or accepted.receiver != node.ident or accepted.sender != sender:
            raise Violation("%s got a message nobody sent it: %r" % (node.ident, message))
        seen = self.deliveries[node.ident].setdefault(message.uuid, [])
        if node.incarnation in seen:
            raise Violation("%s delivered %r twice while it lived" % (node.ident, message.uuid))
        if seen:
            self.redelivered[(node.ident, node.incarnation, sender)] += 1
            if self.redelivered[(node.ident, node.incarnation, sender)] > WINDOW:
                raise Violation("more than a window delivered again to restarted %s" % node.ident)
        seen.append(node.incarnation)

    def _reported(self, node: Node, message: Message, sent: bool, too_large: bool = False) -> None:
        node.storage.pop(message.uuid, None)
        accepted = self.accepted[message.uuid]
        if accepted.sent or accepted.dropped:
            raise Violation("%r reported twice (sent=%s, dropped=%s, now %s)" % (
                message.uuid, accepted.sent, accepted.dropped, "sent" if sent else "dropped"))
        if sent:
            if not self.deliveries[accepted.receiver].get(message.uuid):
                raise Violation("on_message_sent for %r, which %s never delivered"
                                % (message.uuid, accepted.receiver))
            accepted.sent = True
            return
        if not too_large and (accepted.ttl is None or self.now - accepted.accepted_at < accepted.ttl):
            raise Violation("%r (ttl %s, accepted at %.3f) dropped at %.3f before its TTL ran out"
                            % (message.uuid, accepted.ttl, accepted.accepted_at, self.now))
        accepted.dropped = True

    def check_expiry(self) -> None:
        """No live sender still holds a message whose TTL ran out a while ago (its loop woke)."""
        for node in self.live_nodes():
            for queue in node.protocol.outbox.queues.values():
                for entry in queue.pending:
                    remaining = entry.remaining(self.now, queue.away_since)
                    if entry.seq >= 0 and remaining is not None and remaining < -EXPIRY_SLACK - MIN_POLL:
                        raise Violation("%s still holds %r %.3f s after its TTL ran out (the loop "
                                        "did not wake)" % (node.ident, entry.message.uuid, -remaining))

    def settle(self) -> None:
        """Everyone restarts and reconnects and the network drains: time passes only while
        a peer owes an ack (``ACK_DELAY`` at a time: a sender whose window is full waits for
        it). Then nothing may be missing."""
        for ident in self.idents:
            self.restart(ident)
        for connector, listener in itertools.combinations(self.idents, 2):
            self.connect(connector, listener)
        self.drain(*self.connections)
        for _ in range(MAX_PASSES):
            if not any(node.protocol.acks_owed for node in self.live_nodes()):
                break
            self.advance(ACK_DELAY)
            self.drain(*self.connections)
        else:
            raise Violation("acks are owed for ever")
        self.check_nothing_lost()

    def drain(self, *keys: frozenset[str], starved: str = "", allowance: int = 0) -> None:
        """Deliver everything travelling on these connections, replies included; but
        ``starved`` receives only ``allowance`` more packets (the rest stay travelling)."""
        for _ in range(10000):
            busy = [(key, receiver) for key in keys if key in self.connections
                    for receiver, queue in self.connections[key].in_flight.items()
                    if queue and (receiver != starved or allowance > 0)]
            if not busy:
                return
            key, receiver = busy[0]
            count = 100
            if receiver == starved:
                count, allowance = 1, allowance - 1
            self.deliver((receiver, next(iter(key - {receiver}))), True, count)
        raise Violation("the network never went quiet")

    def check_nothing_lost(self) -> None:
        for uuid, accepted in self.accepted.items():
            sender = self.nodes[accepted.sender]
            survives = accepted.persistent and (accepted.ttl is None or accepted.ttl > 0)
            if sender is None or (sender.incarnation != accepted.incarnation and not survives):
                continue  # a non-persistent message dies with its sender
            if accepted.dropped:
                continue
            if not self.deliveries[accepted.receiver].get(uuid):
                raise Violation("%r from %s to %s (ttl %s) was lost" % (
                    uuid, accepted.sender, accepted.receiver, accepted.ttl))
            if not accepted.sent:
                raise Violation("%r arrived but %s never reported it sent" % (uuid, accepted.sender))

    def check_bounded(self) -> None:
        """Per node: one delivery record per peer ident, uuids held only while dirty, and
        once quiet and confirmed, nothing dirty."""
        for node in self.live_nodes():
            records, uuids = node.protocol.delivered.sizes()
            if records > len(self.idents) - 1:
                raise Violation("%s keeps %d delivery records" % (node.ident, records))
            if uuids > WINDOW * len(self.idents) * 4:
                raise Violation("%s holds %d uuids" % (node.ident, uuids))
            if len(node.protocol.outbox.queues) > len(self.idents):
                raise Violation("%s has %d queues" % (node.ident, len(node.protocol.outbox.queues)))

    def check_clean(self) -> None:
        """After settling and the confirmation delay: no record depends on a sender any more."""
        for node in self.live_nodes():
            dirty = {ident: (r.delivered, r.confirmed, len(r.carried))
                     for ident, r in node.protocol.delivered.records.items() if r.dirty()}
            if dirty:
                raise Violation("%s still has dirty records after settling: %s" % (node.ident, dirty))

