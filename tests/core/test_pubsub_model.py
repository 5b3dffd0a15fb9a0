"""A publisher and subscribers (the pure cores) over a model of Messaging, driven by
Hypothesis: subscriptions, publications, deliveries, disconnects and returns, time passing.

The oracle keeps its own view of who is subscribed (a subscription lapses once its
subscriber has been away ``ttl``) and checks the publisher's every decision against it:
a publication is queued for exactly the subscribers with a matching prefix and room in
their backlog, and reported dropped for those without room. At the end, with everyone
back and everything delivered, each subscriber received exactly what was queued for it,
in publish order, minus what Messaging dropped when its TTL ran out while the subscriber
was away; and the publisher's backlog counts are back to zero.

The Messaging model: per subscriber one queue, delivered in order; a message's TTL counts
down only while the subscriber is away (charged from the later of its push and the start
of the absence) and it is dropped once below zero, a TTL of 0 at once (README).
"""
from __future__ import annotations

import collections
from typing import Any, Dict, List, Optional

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from snakezmq._core.fanout import SubscriberState, SubscriptionTable

SUBSCRIBERS = ("s1", "s2", "s3")
TOPICS = st.sampled_from(["a", "a.x", "b", ""])
PREFIX_SETS = st.lists(st.sampled_from(["", "a", "a.", "b"]), max_size=2, unique=True)


class Queued:
    __slots__ = ("uuid", "topic", "ttl", "charged_at")

    def __init__(self, uuid: bytes, topic: str, ttl: Optional[float], now: float) -> None:
        self.uuid, self.topic, self.ttl, self.charged_at = uuid, topic, ttl, now


class PubSubModel(RuleBasedStateMachine):
    @initialize(ttl=st.sampled_from([None, 0.0, 5.0]), cap=st.sampled_from([1, 3, 100]))
    def start(self, ttl: Optional[float], cap: int) -> None:
        self.now, self.ttl, self.cap = 0.0, ttl, cap
        self.table = SubscriptionTable(b"PUBLISHR", ttl, cap)
        self.states = {s: SubscriberState() for s in SUBSCRIBERS}
        self.away_since: Dict[str, Optional[float]] = {s: None for s in SUBSCRIBERS}
        self.queue: Dict[str, List[Queued]] = {s: [] for s in SUBSCRIBERS}
        # the oracle
        self.active: Dict[str, frozenset] = {s: frozenset() for s in SUBSCRIBERS}
        self.backlog = collections.Counter()
        self.should: Dict[str, List[bytes]] = collections.defaultdict(list)
        self.delivered: Dict[str, List[bytes]] = collections.defaultdict(list)  #: by Messaging
        self.received: Dict[str, List[bytes]] = collections.defaultdict(list)  #: by the application
        self.expired: Dict[str, List[bytes]] = collections.defaultdict(list)

    def _connected(self, s: str) -> bool:
        return self.away_since[s] is None

    @rule(s=st.sampled_from(SUBSCRIBERS), prefixes=PREFIX_SETS)
    def subscribe(self, s: str, prefixes: List[str]) -> None:
        if self._connected(s):
            self.states[s].prefixes = frozenset(prefixes)
            self.table.subscribe(s, prefixes, self.now)
            self.active[s] = frozenset(prefixes)

    @rule(topic=TOPICS)
    def publish(self, topic: str) -> None:
        published = self.table.publish(topic)
        room, full = [], []
        for s in SUBSCRIBERS:
            if any(topic.startswith(p) for p in self.active[s]):
                (room if self.backlog[s] < self.cap else full).append(s)
        assert sorted(published.queue_for) == room and sorted(published.dropped_for) == full
        for s in room:
            self.backlog[s] += 1
            self.should[s].append(published.uuid)
            self.queue[s].append(Queued(published.uuid, topic, self.ttl, self.now))
        self._expire_messages()

    @rule(s=st.sampled_from(SUBSCRIBERS), n=st.integers(1, 5))
    def deliver(self, s: str, n: int) -> None:
        while n and self.queue[s] and self._connected(s):
            n -= 1
            item = self.queue[s].pop(0)
            self.delivered[s].append(item.uuid)
            if self.states[s].accept("pub", item.uuid, item.topic):
                self.received[s].append(item.uuid)
            else:  # (queued before it changed its prefixes)
                assert not any(item.topic.startswith(p) for p in self.states[s].prefixes)
            assert self.table.settled(s, item.uuid)  # (acknowledged)
            self.backlog[s] -= 1

    @rule(s=st.sampled_from(SUBSCRIBERS))
    def disconnect(self, s: str) -> None:
        if self._connected(s):
            self.away_since[s] = self.now
            for item in self.queue[s]:
                item.charged_at = self.now
            self.table.subscriber_lost(s, self.now)
            self._expire_messages()
            self._lapse()

    @rule(s=st.sampled_from(SUBSCRIBERS))
    def come_back(self, s: str) -> None:
        """Reconnected: the subscriber says SUBSCRIBE again, with its prefixes."""
        if not self._connected(s):
            for item in self.queue[s]:
                item.ttl = self._remaining(s, item)
            self.away_since[s] = None
            self.subscribe(s, sorted(self.states[s].prefixes))

    @rule(seconds=st.sampled_from([1.0, 4.0, 6.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self._expire_messages()
        self._lapse()

    def _remaining(self, s: str, item: Queued) -> Optional[float]:
        since = self.away_since[s]
        if item.ttl is None or since is None:
            return item.ttl
        return item.ttl - (self.now - max(item.charged_at, since))

    def _expire_messages(self) -> None:
        for s in SUBSCRIBERS:
            if self._connected(s):
                continue
            for item in [i for i in self.queue[s] if i.ttl is not None and
                         (self._remaining(s, i) < 0 or i.ttl == 0)]:
                self.queue[s].remove(item)
                self.expired[s].append(item.uuid)
                assert self.table.settled(s, item.uuid)
                self.backlog[s] -= 1

    def _lapse(self) -> None:
        lapsed = self.table.expire(self.now)
        expected = [s for s in SUBSCRIBERS if self.active[s] and self.away_since[s] is not None
                    and self.ttl is not None and self.away_since[s] + self.ttl <= self.now]
        assert sorted(lapsed) == expected
        for s in lapsed:
            self.active[s] = frozenset()

    @invariant()
    def backlog_counts_agree(self) -> None:
        if hasattr(self, "table"):
            for s in SUBSCRIBERS:
                sub = self.table.subscribers.get(s)
                assert (sub.backlog if sub else 0) == self.backlog[s] <= self.cap

    def teardown(self) -> None:
        if not hasattr(self, "table"):
            return
        for s in SUBSCRIBERS:
            self.come_back(s)
            self.deliver(s, 10 ** 6)
            assert self.delivered[s] == [u for u in self.should[s] if u not in self.expired[s]]
            assert self.backlog[s] == 0


PubSubModel.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestPubSubModel = PubSubModel.TestCase
