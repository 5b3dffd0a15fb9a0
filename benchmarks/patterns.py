#!/usr/bin/env python3
"""Work queues and publish/subscribe: snakezmq against raw ZeroMQ, side by side in one run.

jobs    a producer process submits ``--jobs`` jobs of 100 B (the worker's job: echo them
        back) to 1, 2, 4 and 8 worker processes; jobs per second from the first submit to
        the last result at the producer. snakezmq: ``Producer`` / ``Worker`` with capacity
        1 (the default) and 16 (prefetch); every job acknowledged, reassigned if its worker
        dies, one outcome each. Raw ZeroMQ: PUSH to the workers' PULL, results PUSHed back
        to a PULL: round robin regardless of readiness, nothing resent, no outcome tracking.
fanout  a publisher process publishes ``--messages`` messages of 100 B on one topic to 1, 10
        and 100 subscribers (spread over at most 10 processes: one thread per snakezmq
        subscriber, one poller per process for raw SUB sockets); publications and
        deliveries per second from the first publish to the last delivery at the slowest
        subscriber. snakezmq: ``Publisher(ttl=None, max_backlog=messages)``, nothing
        dropped, each delivery acknowledged. Raw ZeroMQ: PUB/SUB with SNDHWM = RCVHWM = 0
        (with the default high-water marks PUB drops what a slow subscriber cannot take).

Usage: python benchmarks/patterns.py [--quick] [--repeats N] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import _patterns_roles as roles  # noqa: E402

DEADLINE = 180.0  #: seconds for one case
PAYLOAD = 100


def run_case(leader: Callable[..., None], leader_args: Tuple[Any, ...],
             follower: Callable[..., None], groups: List[Any], lasts: int = 0) -> Dict[str, Any]:
    """Start the leader (producer or publisher), then the followers (one process per group,
    each told the leader's ports); returns the leader's results and ``lasts`` followers'
    ``last`` times. Every process ends."""
    ctx = mp.get_context("spawn")
    results, ports, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    processes = [ctx.Process(target=leader, args=(results, ports, stop) + leader_args)]
    processes[0].start()
    try:
        port = ports.get(timeout=60)
        for group in groups:
            processes.append(ctx.Process(target=follower, args=(port, group, stop, results)))
            processes[-1].start()
        return _collect(results, lasts, time.monotonic() + DEADLINE)
    finally:
        stop.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)


def _collect(results: Any, lasts: int, deadline: float) -> Dict[str, Any]:
    """What the leader reports (``rate``, maybe ``start``) and ``lasts`` followers' ``last``."""
    merged: Dict[str, Any] = {"last": []}
    while "rate" not in merged or len(merged["last"]) < lasts:
        kind, value = results.get(timeout=max(1.0, deadline - time.monotonic()))
        if kind == "last":
            merged["last"].append(value)
        else:
            merged[kind] = value
    return merged


def jobs_case(backend: str, workers: int, jobs: int, capacity: int = 1) -> float:
    leader = roles.sz_producer if backend == "snakezmq" else roles.raw_producer
    follower = roles.sz_worker if backend == "snakezmq" else roles.raw_worker
    result = run_case(leader, (jobs, workers), follower,
                      [("w%d" % n, capacity) for n in range(workers)])
    return float(result["rate"])


def fanout_case(backend: str, subscribers: int, messages: int) -> Tuple[float, float]:
    """(publications per second, deliveries per second)."""
    leader = roles.sz_publisher if backend == "snakezmq" else roles.raw_publisher
    follower = roles.sz_subscribers if backend == "snakezmq" else roles.raw_subscribers
    processes = min(subscribers, 10)
    groups = [(["s%d" % n for n in range(p, subscribers, processes)], messages)
              for p in range(processes)]
    result = run_case(leader, (messages, subscribers), follower, groups, lasts=subscribers)
    seconds = max(result["last"]) - result["start"]
    return messages / seconds, messages * subscribers / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, one repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--messages", type=int, default=None, help="for 1 subscriber (fewer for more)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    jobs = args.jobs or (2000 if args.quick else 10000)
    messages = args.messages or (10000 if args.quick else 50000)
    began = time.time()
    rows: Dict[str, Dict[str, List[float]]] = {}

    def measure(row: str, column: str, value: float) -> None:
        rows.setdefault(row, {}).setdefault(column, []).append(value)
        print("  %-26s %-22s %12.0f" % (row, column, value), flush=True)

    for _ in range(repeats):  # backends interleaved per repeat, as bench.py does
        for workers in (1, 2, 4, 8):
            row = "jobs/s, %d worker%s" % (workers, "s" if workers > 1 else "")
            measure(row, "raw PUSH/PULL", jobs_case("zmq", workers, jobs))
            measure(row, "snakezmq capacity 1", jobs_case("snakezmq", workers, jobs))
            measure(row, "snakezmq capacity 16", jobs_case("snakezmq", workers, jobs, 16))
        for subscribers in (1, 10, 100):
            count = max(500, messages // subscribers)
            row = "fan-out, %d subscriber%s" % (subscribers, "s" if subscribers > 1 else "")
            for backend, column in (("zmq", "raw PUB/SUB"), ("snakezmq", "snakezmq")):
                published, delivered = fanout_case(backend, subscribers, count)
                measure(row, column + " msg/s", published)
                measure(row, column + " deliveries/s", delivered)
    print_table(rows, repeats, time.time() - began, jobs, messages)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)
    return 0


def print_table(rows: Dict[str, Dict[str, List[float]]], repeats: int, seconds: float,
                jobs: int, messages: int) -> None:
    print("\n%s, %d repeat(s), %.0f s; %d jobs; %d messages to 1 subscriber (fewer to more, "
          "at least 500); medians\n" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                        repeats, seconds, jobs, messages))
    columns: List[str] = []
    for values in rows.values():
        columns += [c for c in values if c not in columns]
    for row, values in rows.items():
        cells = ["%s %s" % (c, "{:,.0f}".format(statistics.median(values[c]))) for c in columns if c in values]
        print("| %s | %s |" % (row, " | ".join(cells)))


if __name__ == "__main__":
    sys.exit(main())
