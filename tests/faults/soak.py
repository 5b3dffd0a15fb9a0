"""The lossy scenario of issue 17 with a randomized fault schedule, and a soak summary.

One run: both peers stream 180 messages/s to each other; a full partition of 1.5-12 s
(shorter or longer than dead-peer detection), a pause, then 10-30 % loss for 3-8 s, each
way or one way; then everything must arrive exactly once and be acknowledged exactly once.
``test_soak.py`` runs it once with a fixed seed in CI, or many times with
``SNAKEZMQ_SOAK=50`` (runs) / ``SNAKEZMQ_SOAK=10m`` (minutes), and prints the summary.
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

from snakezmq._core.liveness import DEAD_AFTER

from .netns import NetPair
from .scenario import CONNECTOR, DETECT_BOUND, LISTENER, RECONNECT_BOUND, Outcome, Scenario

RATE = 180  #: messages per second each way (the issue's stream)
LEAD, TAIL = 1.0, 2.0  #: seconds of stream before the first fault and after the last heal


class Plan(NamedTuple):
    seed: int
    partition: float  #: seconds
    gap: float  #: between the heal and the loss
    loss: float  #: fraction of packets dropped
    loss_for: float
    loss_into: Tuple[str, ...]  #: namespaces whose arriving packets are dropped

    @classmethod
    def draw(cls, seed: int) -> "Plan":
        rng = random.Random(seed)
        into = rng.choice([("a", "b"), ("a", "b"), ("a",), ("b",)])
        return cls(seed, round(rng.uniform(1.5, 12.0), 1), round(rng.uniform(0.5, 6.0), 1),
                   round(rng.uniform(0.1, 0.3), 2), round(rng.uniform(3.0, 8.0), 1), into)

    def seconds(self) -> float:
        return LEAD + self.partition + self.gap + self.loss_for + TAIL


Faults = List[Tuple[float, float]]  #: (began, healed) of each fault, in order


class Gap(NamedTuple):
    """One side's session was down from ``down`` to ``up``."""
    ident: str
    down: float
    up: float

    def reconnect(self, faults: Faults) -> float:
        """Seconds from the start of the healthy network that brought it back to ``up``.

        That start is the later of ``down`` and the heal of the fault it fell in; a fault
        that began before the session was back (and less than RECONNECT_BOUND after that
        start) moves the start to its own heal.
        """
        start = max([self.down] + [healed for began, healed in faults if began <= self.down])
        for began, healed in faults:
            if start < began < min(self.up, start + RECONNECT_BOUND):
                start = max(start, healed)
        return max(0.0, self.up - start)


def run(scenario: Scenario, plan: Plan) -> Outcome:
    """One lossy run; AssertionError if the contract or a bound is broken."""
    scenario.start()
    for ident in (CONNECTOR, LISTENER):
        stream = scenario.stream(ident, int(RATE * plan.seconds()), RATE)
        scenario.wait_received(stream, RATE // 2)
    net = scenario.net
    cut_at = scenario.fault(net.partition)
    scenario.hold(plan.partition)
    faults = [(cut_at, scenario.heal())]
    scenario.hold(plan.gap)
    lossy_at = scenario.fault(lambda: net.loss(plan.loss, into=plan.loss_into))
    scenario.hold(plan.loss_for)
    faults.append((lossy_at, scenario.heal()))
    outcome = scenario.assert_contract()
    gaps = _gaps(scenario)
    detection = _check_detection(scenario, plan, cut_at, faults[0][1])
    reconnect = max((gap.reconnect(faults) for gap in gaps), default=None)
    assert reconnect is None or reconnect <= RECONNECT_BOUND, "reconnected %.1f s after the heal: %s" % (
        reconnect, gaps)
    return outcome._replace(detection=detection, reconnect=reconnect, disconnects=len(gaps))


def _check_detection(scenario: Scenario, plan: Plan, cut_at: float, healed_at: float) -> Optional[float]:
    """A partition longer than detection is noticed on both sides within DETECT_BOUND."""
    if plan.partition < DEAD_AFTER + 1.0:
        return None
    noticed = [min((e["t"] for e in scenario.peer[ident].of("disconnect")
                    if cut_at <= e["t"] <= healed_at), default=None) for ident in (LISTENER, CONNECTOR)]
    assert None not in noticed, "a %.1f s partition went unnoticed: %s" % (plan.partition, noticed)
    worst = max(noticed) - cut_at  # type: ignore[type-var]
    assert worst <= DETECT_BOUND, "the partition was noticed after %.1f s" % worst
    return float(worst)


def _gaps(scenario: Scenario) -> List[Gap]:
    """Every time a side's session dropped, and when it was back."""
    gaps = []
    for ident in (LISTENER, CONNECTOR):
        peer = scenario.peer[ident]
        ups = sorted(e["t"] for e in peer.of("connect"))
        for down in sorted(e["t"] for e in peer.of("disconnect")):
            gaps.append(Gap(ident, down, min((t for t in ups if t >= down), default=float("inf"))))
    return gaps


class Summary:
    """What all runs together showed."""

    def __init__(self) -> None:
        self.outcomes: List[Outcome] = []
        self.failures: List[Tuple[Plan, str]] = []
        self.aborts = 0

    def add(self, plan: Plan, outcome: Optional[Outcome], failure: str = "") -> None:
        if outcome is not None:
            self.outcomes.append(outcome)
        else:
            self.failures.append((plan, failure))
            self.aborts += "Assertion failed" in failure or "exited (-6)" in failure

    def text(self) -> str:
        done = self.outcomes

        def worst(values: List[Optional[float]]) -> str:
            known = [v for v in values if v is not None]
            return "%.2f s" % max(known) if known else "-"
        return ("soak: %d runs, %d failed, %d aborts; %d messages, %d faults, %d session drops; "
                "%d lost, %d duplicates; worst detection %s (bound %.0f s), worst reconnect after "
                "heal %s (bound %.0f s)" % (
                    len(done) + len(self.failures), len(self.failures), self.aborts,
                    sum(o.messages for o in done), sum(o.faults for o in done),
                    sum(o.disconnects for o in done), sum(o.lost for o in done),
                    sum(o.duplicates for o in done), worst([o.detection for o in done]),
                    DETECT_BOUND, worst([o.reconnect for o in done]), RECONNECT_BOUND))


def soak(start_peer: Callable[..., Any], seeds: List[int], until: Optional[float],
         report: Callable[[str], None]) -> Summary:
    """Run ``Plan.draw(seed)`` for each seed (until the monotonic time ``until``, if given)."""
    summary = Summary()
    for number, seed in enumerate(seeds, 1):
        if until is not None and time.monotonic() >= until:
            break
        plan = Plan.draw(seed)
        with NetPair() as net:
            scenario = Scenario(net, start_peer)
            try:
                outcome: Optional[Outcome] = run(scenario, plan)
                failure = ""
            except AssertionError as exc:
                outcome, failure = None, str(exc)
            finally:
                scenario.close()
        summary.add(plan, outcome, failure)
        report("run %d %s: %s" % (number, plan, outcome if outcome else "FAILED " + failure[:2000]))
    return summary
