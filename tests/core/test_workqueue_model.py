"""Producers and workers (the pure cores) wired through a model of Messaging, driven by
Hypothesis: submits, deliveries, finished jobs, disconnects, one-sided reconnects, worker
kills and restarts, time passing. Checked after every step:

- each job gets at most one outcome; a worker never holds more jobs than its capacity;
- a job runs again only after its producer gave it to another worker session (so the
  README's "a job runs twice only when its worker's session ended first" holds);
and at the end, once everyone is connected and every message delivered: every job has
exactly one outcome, and producers and workers agree on every session's credit.

The Messaging model keeps what Messaging promises (README, "Delivery contract"): per
direction, messages arrive in order and at most once; a ttl=0 message is dropped when its
sender sees the peer go away, the others (results) wait for the peer and arrive after the
reconnect; a killed process loses what it had not sent.
"""
from __future__ import annotations

import collections
import os
from typing import Any, Deque, Dict, List, Tuple

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from snakezmq._core.dispatcher import Dispatcher, JobDropped, JobFinished, Send
from snakezmq._core.jobslots import JobSlots, RunJob
from snakezmq._core.pattern_wire import RESULT, SERVE

Q = "q"
PRODUCERS = ("p1", "p2")
WORKERS = ("w1", "w2", "w3")


class WorkQueueModel(RuleBasedStateMachine):
    @initialize(capacities=st.lists(st.integers(1, 3), min_size=3, max_size=3))
    def start(self, capacities: List[int]) -> None:
        self.now = 0.0
        self.producers = {ident: Dispatcher(Q) for ident in PRODUCERS}
        self.capacity = dict(zip(WORKERS, capacities))
        self.workers = {ident: JobSlots(Q, self.capacity[ident]) for ident in WORKERS}
        self.restarts = collections.Counter()
        self.connected = {(p, w): False for p in PRODUCERS for w in WORKERS}
        #: (sender, receiver) -> frames in flight, with "dropped if the sender sees the peer go"
        self.channel: Dict[Tuple[str, str], Deque[Tuple[Any, bool]]] = collections.defaultdict(
            collections.deque)
        self.submitted: List[bytes] = []
        self.outcomes: Dict[bytes, List[Any]] = collections.defaultdict(list)
        self.runs = collections.Counter()
        self.reassigned = collections.Counter()
        self.counter = 0
        for p in PRODUCERS:
            for w in WORKERS:
                self.connect(p, w)

    # -- the Messaging model ---------------------------------------------------------------

    def _execute(self, sender: str, actions: List[Any]) -> None:
        for action in actions:
            if type(action) is Send:
                receiver, ttl_zero = action.ident, action.frame.kind != RESULT
                pair = (sender, receiver) if sender in self.producers else (receiver, sender)
                if ttl_zero and not self.connected[pair]:
                    continue  # (Messaging drops a ttl=0 message for an absent peer)
                self.channel[(sender, receiver)].append((action.frame, ttl_zero))
            elif type(action) is RunJob:
                self.runs[action.job_id] += 1
            else:
                assert type(action) in (JobFinished, JobDropped)
                self.outcomes[action.job_id].append(action)

    def _to_producer(self, p: str, feed: Any) -> None:
        before = self._holders(p)
        self._execute(p, feed(self.producers[p]))
        after = self._holders(p)
        for job_id, holder in before.items():
            if job_id in self.producers[p].jobs and after.get(job_id) != holder:
                self.reassigned[job_id] += 1

    def _holders(self, p: str) -> Dict[bytes, Tuple[str, int]]:
        return {job_id: (w, state.session) for w, state in self.producers[p].workers.items()
                for job_id in state.jobs}

    def _drop_ttl_zero(self, sender: str, receiver: str) -> None:
        channel = self.channel[(sender, receiver)]
        kept = [item for item in channel if not item[1]]
        channel.clear()
        channel.extend(kept)

    # -- rules -------------------------------------------------------------------------------

    @rule(p=st.sampled_from(PRODUCERS), ttl=st.sampled_from([None, None, 0.0, 2.0, 10.0]))
    def submit(self, p: str, ttl: Any) -> None:
        self.counter += 1
        job_id = b"%s-%d" % (p.encode(), self.counter)
        self.submitted.append(job_id)
        self._to_producer(p, lambda d: d.submit(job_id, b"x", ttl, self.now))

    @rule(p=st.sampled_from(PRODUCERS), w=st.sampled_from(WORKERS))
    def connect(self, p: str, w: str) -> None:
        if not self.connected[(p, w)]:
            self.connected[(p, w)] = True
            self._execute(w, self.workers[w].producer_connected(p))

    @rule(p=st.sampled_from(PRODUCERS), w=st.sampled_from(WORKERS))
    def disconnect(self, p: str, w: str) -> None:
        if self.connected[(p, w)]:
            self.connected[(p, w)] = False
            self._drop_ttl_zero(p, w)
            self._drop_ttl_zero(w, p)
            self._to_producer(p, lambda d: d.worker_lost(w, self.now))
            self._execute(w, self.workers[w].producer_lost(p))

    @rule(p=st.sampled_from(PRODUCERS), w=st.sampled_from(WORKERS))
    def worker_side_reconnect(self, p: str, w: str) -> None:
        """The worker sees the session end and a new one; the producer saw nothing."""
        if self.connected[(p, w)]:
            self._drop_ttl_zero(w, p)
            self._execute(w, self.workers[w].producer_lost(p))
            self._execute(w, self.workers[w].producer_connected(p))

    @rule(w=st.sampled_from(WORKERS))
    def kill_and_restart_worker(self, w: str) -> None:
        for p in PRODUCERS:
            self.channel[(w, p)].clear()  # (what the process had not sent dies with it)
            self.disconnect(p, w)
        self.restarts[w] += 1
        self.workers[w] = JobSlots(Q, self.capacity[w], first_session=1000 * self.restarts[w] + 1)

    @rule(data=st.data(), sender=st.sampled_from(PRODUCERS + WORKERS))
    def deliver(self, data: Any, sender: str) -> None:
        ready = [receiver for (s, receiver), channel in self.channel.items()
                 if s == sender and channel and self._is_connected(sender, receiver)]
        if ready:
            receiver = data.draw(st.sampled_from(sorted(ready)))
            self._deliver_one(sender, receiver)

    @rule()
    def deliver_everything(self) -> None:
        """The network catches up: every frame between connected peers arrives."""
        for _ in range(2000):
            ready = [pair for pair, channel in self.channel.items()
                     if channel and self._is_connected(*pair)]
            if not ready:
                return
            self._deliver_one(*ready[0])
        raise AssertionError("the peers never stop talking: %s" % dict(self.channel))

    @rule(data=st.data(), w=st.sampled_from(WORKERS), ok=st.booleans())
    def finish_a_job(self, data: Any, w: str, ok: bool) -> None:
        held = sorted(self.workers[w].held)
        if held:
            job_id = data.draw(st.sampled_from(held))
            self._execute(w, self.workers[w].job_finished(job_id, ok, b"r"))

    @rule(seconds=st.sampled_from([0.5, 3.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        for p in PRODUCERS:
            self._to_producer(p, lambda d: d.expire(self.now))

    # -- helpers -------------------------------------------------------------------------------

    def _is_connected(self, a: str, b: str) -> bool:
        return self.connected[(a, b) if a in self.producers else (b, a)]

    def _deliver_one(self, sender: str, receiver: str) -> None:
        frame, _ = self.channel[(sender, receiver)].popleft()
        if receiver in self.producers:
            self._to_producer(receiver, lambda d: d.frame_received(sender, frame, self.now))
        else:
            self._execute(receiver, self.workers[receiver].frame_received(sender, frame))

    # -- checks --------------------------------------------------------------------------------

    @invariant()
    def at_most_one_outcome_and_capacity_kept(self) -> None:
        if not hasattr(self, "producers"):
            return
        assert all(len(outcomes) == 1 for outcomes in self.outcomes.values()), self.outcomes
        for w, slots in self.workers.items():
            assert len(slots.held) <= self.capacity[w]
            assert 0 <= slots.free
        for job_id, runs in self.runs.items():
            assert runs <= 1 + self.reassigned[job_id], (job_id, runs, self.reassigned[job_id])

    def teardown(self) -> None:
        """Connect everyone and let everything finish: every job gets its one outcome."""
        if not hasattr(self, "producers"):
            return
        for p in PRODUCERS:
            for w in WORKERS:
                self.connect(p, w)
        for _ in range(5000):
            busy = [pair for pair, channel in self.channel.items() if channel]
            if busy:
                self._deliver_one(*busy[0])
                continue
            held = [(w, job_id) for w, slots in self.workers.items() for job_id in slots.held]
            if not held:
                break
            w, job_id = held[0]
            self._execute(w, self.workers[w].job_finished(job_id, True, b"r"))
        else:
            raise AssertionError("the peers never stop talking: %s" % dict(self.channel))
        missing = [job_id for job_id in self.submitted if len(self.outcomes[job_id]) != 1]
        assert not missing, missing
        for p, d in self.producers.items():
            assert d.jobs == {} and d.waiting == 0
            for w, state in d.workers.items():
                assert state.credit == self.workers[w].producers[p].granted, (p, w)
        assert all(slots.free == slots.capacity - sum(s.granted for s in slots.producers.values())
                   for slots in self.workers.values())


EXAMPLES = int(os.environ.get("SNAKEZMQ_MODEL_EXAMPLES", "200"))  #: soak: set it to 20000
WorkQueueModel.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None)
TestWorkQueueModel = WorkQueueModel.TestCase


def test_serve_is_the_first_thing_a_worker_says():
    assert JobSlots(Q).producer_connected("p")[0].frame.kind == SERVE
