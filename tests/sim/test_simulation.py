"""The delivery contract, checked by a deterministic simulation (``world.py``).

Hypothesis drives three peers through random schedules of sends, partial packet
delivery, disconnects, kills and restarts, garbage collection, idle time and a
lowered packet limit. The oracle checks the contract after every step (see
README "Delivery contract"). ``SNAKEZMQ_SIM_EXAMPLES`` sets how many schedules
run (soak: ``SNAKEZMQ_SIM_EXAMPLES=20000 pytest tests/sim``).

A simulator is trusted only once it has caught bugs: ``test_seeded_defect_is_caught``
puts each defect the protocol was built to prevent back in, and expects a violation.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Tuple

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from snakezmq._core import delivered, outbox, peer_queue, protocol

from .world import Violation, World

KEEPALIVE = 4.0
EXAMPLES = int(os.environ.get("SNAKEZMQ_SIM_EXAMPLES", "600"))
SOAK = "SNAKEZMQ_SIM_EXAMPLES" in os.environ  #: a soak explores new schedules; CI replays the same
STEPS = int(os.environ.get("SNAKEZMQ_SIM_STEPS", "50"))


class DeliverySimulation(RuleBasedStateMachine):
    """Two or three peers, every pair may connect; the oracle raises ``Violation``.

    Rules draw peers from the world they act on (``st.data()``): with two peers most
    schedules hit the same pair, with three the records of several senders interact.
    """

    @initialize(peers=st.sampled_from([2, 2, 3]), keepalive=st.sampled_from([None, KEEPALIVE]))
    def start(self, peers: int, keepalive: Any) -> None:
        self.world = World(["a", "b", "c"][:peers], keepalive)

    def _pair(self, data: Any) -> Tuple[str, str]:
        first, second = data.draw(st.permutations(self.world.idents))[:2]
        return first, second

    def _ident(self, data: Any) -> str:
        return data.draw(st.sampled_from(self.world.idents))

    @rule(data=st.data(), ttl=st.sampled_from([None, None, 0, 0.5, 3.0, 60.0]),
          persistent=st.booleans(), size=st.sampled_from([1, 1, 200]), count=st.integers(1, 4))
    def send(self, data: Any, ttl: Any, persistent: bool, size: int, count: int) -> None:
        sender, receiver = self._pair(data)
        for _ in range(count):
            self.world.send(sender, receiver, b"x" * size, ttl, persistent)

    @rule(data=st.data(), receiver_first=st.booleans(), count=st.integers(1, 6))
    def deliver(self, data: Any, receiver_first: bool, count: int) -> None:
        """Some of what travels one way arrives (connecting first if need be)."""
        pair = self._pair(data)
        self.world.connect(*pair)
        self.world.deliver(pair, receiver_first, count)

    @rule(data=st.data())
    def converse(self, data: Any) -> None:
        """The connection works as networks mostly do: (re)connected, everything on it arrives."""
        pair = self._pair(data)
        self.world.connect(*pair)
        self.world.drain(frozenset(pair))

    @rule(data=st.data(), allowance=st.integers(0, 4), kill=st.booleans())
    def cut(self, data: Any, allowance: int, kill: bool) -> None:
        """The connection carries everything one way but only ``allowance`` packets the
        other way, then breaks; ``kill``: because the starved side's peer died (and restarts)."""
        starved, other = self._pair(data)
        self.world.connect(starved, other)
        self.world.drain(frozenset((starved, other)), starved=starved, allowance=allowance)
        if kill:
            self.world.kill(other)
            self.world.restart(other)
        else:
            self.world.disconnect((starved, other))

    @rule(data=st.data(), first=st.integers(0, 1), collect=st.booleans())
    def disconnect(self, data: Any, first: int, collect: bool) -> None:
        """The connection ends (what travels is lost); ``collect``: one side then runs
        ``queues_manager.collect_garbage()``, as snakemq's docs advise."""
        pair = self._pair(data)
        self.world.disconnect(pair, first)
        if collect:
            self.world.collect_garbage(pair[first])

    @rule(data=st.data(), restart=st.booleans())
    def kill(self, data: Any, restart: bool) -> None:
        """The process dies; ``restart``: and starts again (else a later step restarts it)."""
        ident = self._ident(data)
        if self.world.nodes[ident] is None:
            self.world.restart(ident)
            return
        self.world.kill(ident)
        if restart:
            self.world.restart(ident)

    @rule(data=st.data())
    def collect_garbage(self, data: Any) -> None:
        self.world.collect_garbage(self._ident(data))

    @rule(seconds=st.sampled_from([0.001, 0.05, 0.2, 0.7, 2.0, 5.0]))
    def advance(self, seconds: float) -> None:
        self.world.advance(seconds)

    @rule(size=st.sampled_from([250, 4096]))
    def lower_max_packet_size(self, size: int) -> None:
        self.world.lower_max_packet_size(min(size, self.world.max_packet_size))

    def teardown(self) -> None:
        world = getattr(self, "world", None)
        if world is None:
            return
        world.settle()
        for node in world.live_nodes():
            node.protocol.keepalive_interval = None  # (so nobody is closed while we wait)
        world.advance(protocol.CONFIRM_DELAY * 2)  # the confirmations go out ...
        world.settle()  # ... and arrive
        world.check_bounded()
        world.check_clean()


def simulation_settings(examples: int, **overrides: Any) -> settings:
    return settings(max_examples=examples, stateful_step_count=STEPS, deadline=None, database=None,
                    derandomize=not SOAK, report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck), **overrides)


def test_delivery_contract_holds() -> None:
    run_state_machine_as_test(DeliverySimulation, settings=simulation_settings(EXAMPLES))


def test_messages_behind_a_window_of_too_large_ones_go_in_the_same_pass() -> None:
    """Found by a soak: a full window of messages dropped as too large (after the packet
    limit was lowered) frees its slots; what waits behind them must be taken in the same
    pass, not left until some later event wakes the loop."""
    world = World(["a", "b"], None)
    for _ in range(3):
        world.send("a", "b", b"x", None, False)
    for _ in range(4):  # more than the simulated window of 3
        world.send("a", "b", b"x" * 200, None, False)
    world.lower_max_packet_size(250)
    world.settle()  # checks that each one was delivered or reported dropped


def test_restored_message_dropped_as_too_large_ends_restoring() -> None:
    """Found by a soak: a restarted sender whose only restored message no longer fits
    the lowered packet limit drops it, and must then tell the receiver it is done
    restoring (else the receiver keeps the carried uuid, and its record, for ever)."""
    world = World(["a", "b"], None)
    world.send("a", "b", b"x" * 200, None, True)
    world.connect("a", "b")
    world.drain(frozenset(("a", "b")))  # delivered; its ack waits for ACK_DELAY ...
    world.kill("a")  # ... and never leaves: the restarted a resends from storage
    world.lower_max_packet_size(250)
    world.settle()
    world.advance(protocol.CONFIRM_DELAY * 2)
    world.settle()
    world.check_clean()


# -- seeded defects: each one of the bugs the design prevents, put back -------------------------------

@contextlib.contextmanager
def sequence_restart(monkeypatch: Any) -> Iterator[None]:
    """Issue 12 (1): a forgotten queue's successor restarts its numbers in the same stream."""
    original = outbox.Outbox.queue

    def queue(self: outbox.Outbox, ident: str, now: float) -> peer_queue.PeerQueue:
        made = original(self, ident, now)
        made.epoch = 1
        return made
    monkeypatch.setattr(outbox.Outbox, "queue", queue)
    yield


@contextlib.contextmanager
def expiry_does_not_wake(monkeypatch: Any) -> Iterator[None]:
    """Issue 12 (2): the poll does not hear the outbox's next expiry."""
    def next_deadline(self: protocol.MessagingProtocol) -> float:
        return min(self._unclaimed_due, self._pings_due,
                   self._confirm_due if self._confirms else protocol.INFINITY)
    monkeypatch.setattr(protocol.MessagingProtocol, "next_deadline", next_deadline)
    yield


@contextlib.contextmanager
def filter_forgets_senders(monkeypatch: Any) -> Iterator[None]:
    """Issue 12 (3): the duplicate filter evicts senders beyond its bound, dirty or not."""
    def disconnected(self: delivered.DeliveredLog, ident: str) -> None:
        if ident in self.records:
            self.evictable[ident] = None
        while len(self.evictable) > self.max_clean:
            oldest, _ = self.evictable.popitem(last=False)
            self.records.pop(oldest, None)
    monkeypatch.setattr(delivered.DeliveredLog, "disconnected", disconnected)
    yield


@contextlib.contextmanager
def carried_uuids_forgotten(monkeypatch: Any) -> Iterator[None]:
    """A restarted sender's resent persistent messages are not filtered (no carried uuids)."""
    def begin(self: delivered.DeliveredLog, ident: str, stream: Any, confirmed: int,
              restoring: bool) -> delivered.StreamRecord:
        record = self.records.get(ident)
        if record is None or record.stream != stream:
            record = self.records[ident] = delivered.StreamRecord(stream)
        self.evictable.pop(ident, None)
        record.connected = True
        return record
    monkeypatch.setattr(delivered.DeliveredLog, "begin", begin)
    yield


DEFECTS = {"sequence restart after garbage collection": sequence_restart,
           "TTL expiry does not wake the loop": expiry_does_not_wake,
           "duplicate filter forgets senders": filter_forgets_senders,
           "restarted sender's persistent resends not filtered": carried_uuids_forgotten}


@pytest.mark.parametrize("defect", DEFECTS.values(), ids=DEFECTS.keys())
def test_seeded_defect_is_caught(monkeypatch: Any, defect: Any) -> None:
    with defect(monkeypatch), pytest.raises(Violation):
        run_state_machine_as_test(DeliverySimulation, settings=simulation_settings(
            EXAMPLES, phases=[Phase.explicit, Phase.generate]))
