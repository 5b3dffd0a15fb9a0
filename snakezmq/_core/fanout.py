"""Publish/subscribe decisions: who gets each publication, how much may wait for each
subscriber, how long a subscription outlives its subscriber's absence, and the subscriber's
filter and order check.

Theory of operation (times are float seconds on a monotonic clock, passed in):
- Rule 1, subscriptions: a subscriber's SUBSCRIBE replaces its list of topic prefixes;
  an empty list ends its subscription. A publication goes to every subscriber with a
  prefix of its topic ("" matches every topic). Messaging keeps each subscriber's
  publications in publish order.
- Rule 2, durable: a subscription is keyed by the subscriber's ident and outlives a
  disconnect. Publications are still queued for an absent subscriber (Messaging resends
  them when it is back, each TTL counting down while it is away) until it has been away
  ``ttl`` seconds: then the subscription lapses. ``ttl`` None: it never lapses; 0: it
  lapses at the disconnect (not durable).
- Rule 3, bounded backlog: at most ``max_backlog`` publications are queued and not yet
  acknowledged per subscriber. A publication beyond that is not queued for it: it is
  dropped for that subscriber at once (``on_message_drop``). A lapsed subscription's
  record lives on, without prefixes, until its backlog is settled, so the count stays
  exact if the subscriber comes back.
- Rule 4, numbering: a publication's uuid is the publisher's incarnation (8 random bytes
  per process) and a counter, so the publisher recognizes its own publications in
  Messaging's reports and a subscriber can check the order per publisher (``SubscriberState``).
Not thread-safe: the driver (``snakezmq.pubsub``) holds its lock.
"""
from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Set, Tuple

INCARNATION_BYTES = 8


class Subscription:
    """One subscriber as the publisher knows it."""

    __slots__ = ("prefixes", "backlog", "away_since")

    def __init__(self) -> None:
        self.prefixes: FrozenSet[str] = frozenset()  #: empty: lapsed or ended
        self.backlog = 0  #: publications queued for it and not yet acknowledged or dropped
        self.away_since: Optional[float] = None


class Published(NamedTuple):
    """Where one publication goes: ``uuid``, the idents to queue it for, and the idents it
    is dropped for (their backlog is full)."""
    uuid: bytes
    queue_for: List[str]
    dropped_for: List[str]


class SubscriptionTable:
    """The publisher's subscriptions, with each subscriber's backlog."""

    def __init__(self, incarnation: bytes, ttl: Optional[float], max_backlog: int) -> None:
        if len(incarnation) != INCARNATION_BYTES:
            raise ValueError("incarnation must be %d bytes" % INCARNATION_BYTES)
        if max_backlog < 1 or (ttl is not None and ttl < 0):
            raise ValueError("max_backlog must be >= 1 and ttl None or >= 0")
        self.incarnation = incarnation
        self.ttl = ttl
        self.max_backlog = max_backlog
        self.subscribers: Dict[str, Subscription] = {}
        self._index: Dict[str, Set[str]] = {}  #: prefix -> idents subscribed to it
        self._lengths: Dict[int, int] = {}  #: prefix length -> how many index entries have it
        self._away: Dict[str, float] = {}  #: idents of subscribers away -> since when
        self._seq = 0

    # -- inputs ------------------------------------------------------------------------------

    def subscribe(self, ident: str, prefixes: Iterable[str], now: float) -> bool:
        """A SUBSCRIBE from ``ident`` (connected). Returns whether its prefixes changed."""
        sub = self.subscribers.get(ident)
        if sub is None:
            sub = self.subscribers[ident] = Subscription()
        sub.away_since = None
        self._away.pop(ident, None)
        new = frozenset(prefixes)
        changed = new != sub.prefixes
        if changed:
            self._set_prefixes(ident, sub, new)
        return changed

    def subscriber_lost(self, ident: str, now: float) -> None:
        """``ident``'s Messaging disconnected: its subscription now counts down to its lapse."""
        sub = self.subscribers.get(ident)
        if sub is not None and sub.prefixes and sub.away_since is None:
            sub.away_since = now
            self._away[ident] = now

    def publish(self, topic: str) -> Published:
        """Number a publication on ``topic`` and decide who gets it (rules 1 and 3)."""
        self._seq += 1
        uuid = self.incarnation + self._seq.to_bytes(8, "big")
        queue_for: List[str] = []
        dropped_for: List[str] = []
        for ident in self.matching(topic):
            sub = self.subscribers[ident]
            if sub.backlog < self.max_backlog:
                sub.backlog += 1
                queue_for.append(ident)
            else:
                dropped_for.append(ident)
        return Published(uuid, queue_for, dropped_for)

    def settled(self, ident: str, uuid: bytes) -> bool:
        """Messaging acknowledged or dropped ``uuid`` for ``ident``: True if it was one of
        our publications (its backlog shrank)."""
        if not uuid.startswith(self.incarnation) or len(uuid) != INCARNATION_BYTES + 8:
            return False
        sub = self.subscribers.get(ident)
        if sub is not None and sub.backlog > 0:
            sub.backlog -= 1
            if not sub.backlog and not sub.prefixes:
                del self.subscribers[ident]
        return True

    def expire(self, now: float) -> List[str]:
        """Lapse the subscriptions of subscribers away for ``ttl``; returns their idents."""
        if self.ttl is None:
            return []
        lapsed = [ident for ident, since in self._away.items() if since + self.ttl <= now]
        for ident in lapsed:
            del self._away[ident]
            sub = self.subscribers[ident]
            sub.away_since = None
            self._set_prefixes(ident, sub, frozenset())
        return lapsed

    def next_deadline(self) -> Optional[float]:
        if self.ttl is None or not self._away:
            return None
        return min(self._away.values()) + self.ttl

    # -- the table -----------------------------------------------------------------------------

    def matching(self, topic: str) -> Set[str]:
        """Idents with a prefix of ``topic``."""
        found: Set[str] = set()
        index = self._index
        for length in self._lengths:
            idents = index.get(topic[:length]) if length <= len(topic) else None
            if idents:
                found |= idents
        return found

    def _set_prefixes(self, ident: str, sub: Subscription, prefixes: FrozenSet[str]) -> None:
        for prefix in sub.prefixes - prefixes:
            idents = self._index[prefix]
            idents.discard(ident)
            if not idents:
                del self._index[prefix]
                self._count_length(len(prefix), -1)
        for prefix in prefixes - sub.prefixes:
            if prefix not in self._index:
                self._index[prefix] = set()
                self._count_length(len(prefix), +1)
            self._index[prefix].add(ident)
        sub.prefixes = prefixes
        if not prefixes:
            self._away.pop(ident, None)
            if not sub.backlog:
                del self.subscribers[ident]

    def _count_length(self, length: int, step: int) -> None:
        count = self._lengths.get(length, 0) + step
        if count:
            self._lengths[length] = count
        else:
            del self._lengths[length]


class SubscriberState:
    """A subscriber's topic prefixes, and its check of publish order per publisher: a
    publication not newer than one already delivered from the same publisher process is
    not delivered (Messaging never reorders; this keeps the promise checked)."""

    def __init__(self, prefixes: Iterable[str] = ()) -> None:
        self._matching: Tuple[str, ...] = ()  #: the prefixes, for str.startswith
        self.prefixes = frozenset(prefixes)
        self._last: Dict[str, Tuple[bytes, int]] = {}  #: publisher ident -> (incarnation, seq)

    @property
    def prefixes(self) -> FrozenSet[str]:
        return frozenset(self._matching)

    @prefixes.setter
    def prefixes(self, prefixes: FrozenSet[str]) -> None:
        self._matching = tuple(sorted(prefixes))

    def subscribe(self, prefix: str) -> bool:
        """Returns whether the prefixes changed."""
        changed = prefix not in self._matching
        self.prefixes = self.prefixes | {prefix}
        return changed

    def unsubscribe(self, prefix: str) -> bool:
        changed = prefix in self._matching
        self.prefixes = self.prefixes - {prefix}
        return changed

    def accept(self, ident: str, uuid: bytes, topic: str) -> bool:
        """Deliver this publication from ``ident``? (It matches a prefix and is in order.)"""
        if not topic.startswith(self._matching):
            return False  # (queued before the publisher saw an unsubscribe)
        if len(uuid) != INCARNATION_BYTES + 8:
            return True  # (not numbered by a snakezmq Publisher)
        incarnation, seq = uuid[:INCARNATION_BYTES], int.from_bytes(uuid[INCARNATION_BYTES:], "big")
        last = self._last.get(ident)
        if last is not None and last[0] == incarnation and seq <= last[1]:
            return False
        self._last[ident] = (incarnation, seq)
        return True
