#!/usr/bin/env python3
"""Side-by-side benchmark: snakemq 1.6, raw pyzmq and snakezmq (issues 6 and 16).

One run measures the three backends interleaved (snakemq, zmq, snakezmq;
snakemq, zmq, snakezmq; ...), with the sender(s) and the receiver in separate
processes on loopback, and prints per-scenario medians and the ratios
snakezmq/snakemq and snakezmq/zmq, each computed pair by pair within one
repeat (then the median of those ratios), next to the issue's targets.

Backends:
  snakemq   real snakemq 1.6 through its Messaging API
  zmq       naive raw pyzmq: a DEALER sends one frame per message, a ROUTER
            does one recv_multipart per message (same counts and sizes)
  zmq-loop  rpc scenarios only: raw pyzmq in the thread shape of snakemq's RPC API
            (callers hand requests to the loop thread that owns the DEALER; the
            server's loop thread hands each request to a worker thread and sends
            what it returns), snakemq's request format, no protocol: the floor
            of any library that keeps that API's threads
  snakezmq  the same Messaging code as the snakemq backend, imports swapped
            (``load_api(package)`` in bench_workers.py is the only difference)

Scenarios (full mode):
  rpc         2,000 sequential calls through snakemq.rpc (RpcClient -> RpcServer,
              echoing 100 B) from one client thread, the Link looping in another;
              calls per second. zmq: the same request and reply format over a bare
              DEALER (blocking send/recv in the calling thread) and ROUTER (method
              run inline): the floor, without a loop thread or a thread per call
  rpc-8       4,000 calls from 8 client threads sharing one RpcClient (zmq: a DEALER
              per thread), from a common start to the last reply
  rtt         2,000 sequential request/response round trips (after 20 warm-up
              ones), p50 and p99, measured by the requester
  small       50,000 x 100 B one-way, all queued with send_message, then the loop
              runs; first send (sender clock) to last receive (receiver clock,
              CLOCK_MONOTONIC is system-wide); the senders start only after the
              receiver saw every sender connect
  small-100   the same, but the sender alternates 100 send_message calls with one
              ``link.loop(poll_timeout=0, count=1)`` (zmq: 100 sends, then a
              ``poll(0)`` of the socket)
  large       20 x 8 MiB one-way, same timing
  persistent  5,000 FLAG_PERSISTENT messages, SqliteQueuesStorage on the
              sender (durable when send_message returns); until all received
  fan-in      20 sender processes x 2,000 messages to one receiver
  memory      RSS growth per message with 1,000,000 x 100 B (distinct payload
              objects) queued for a peer that never connects; raw zmq: a
              DEALER with SNDHWM=0 connected to a port nobody listens on
  peers-N     one listener with N = 10, 100, 1,000 connected peers (Messaging peers
              hosted 250 to a process, each Link looping in its own thread; zmq: a
              DEALER each); each peer sends 200 x 100 B. The listener reports its
              RSS growth per connection (all peers in, before any message) and its
              CPU time (all its threads, libzmq's too) per message received

Every case has a deadline; its processes are always stopped (stop event, then
terminate, then kill). Messages use ttl=None by default (``--ttl`` to change),
so snakezmq keeps all its delivery guarantees (acks are always on).

Usage:
  python benchmarks/bench.py               # full mode (~7 min on 2 busy cores)
  python benchmarks/bench.py --quick       # under a minute
  python benchmarks/bench.py --profile small   # cProfile snakezmq's sender and receiver
  python benchmarks/bench.py --scenarios small,rtt --repeats 3 --json out.json
  python benchmarks/bench.py --chart ratios.png    # also draw the ratios (pip install -e ".[bench]")
  python benchmarks/bench.py --chart-from out.json --chart ratios.png   # redraw a saved run
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import queue as queue_module
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench_workers, bench_chart
from bench_workers import BASELINE, LOOP_FLOOR, ROOT, worker_main  # noqa: E402  (spawned children import it too)

BACKENDS = ["snakemq", "zmq", LOOP_FLOOR, "snakezmq"]
MESSAGING_BACKENDS = ("snakemq", "snakezmq")
PEER_COUNTS = (10, 100, 1000)
PEERS = ["peers-%d" % n for n in PEER_COUNTS]
SCENARIOS = ["rpc", "rpc-8", "rtt", "small", "small-100", "large", "persistent", "fan-in",
             "memory"] + PEERS
PEERS_PER_HOST = 250  #: Messaging peers per process (each has 3 ZeroMQ sockets; a context allows 1,023)
MiB = 1024 * 1024
PROFILED = ("rpc", "rpc-8", "rtt", "small", "small-100", "large", "persistent", "fan-in")


def _peers(n: int, count: int, timeout: float) -> Dict[str, Any]:
    return dict(peers=n, count=count, size=100, hosts=-(-n // PEERS_PER_HOST), timeout=timeout)


FULL = {
    "rpc": dict(count=2000, warmup=20, size=100, senders=1, threads=1, timeout=90),
    "rpc-8": dict(count=4000, warmup=20, size=100, senders=1, threads=8, timeout=120),
    "rtt": dict(count=2000, warmup=20, size=100, senders=1, timeout=90),
    "small": dict(count=50000, size=100, senders=1, timeout=90),
    "small-100": dict(count=50000, size=100, senders=1, batch=100, timeout=90),
    "large": dict(count=20, size=8 * MiB, senders=1, timeout=90),
    "persistent": dict(count=5000, size=100, senders=1, timeout=180),
    "fan-in": dict(count=2000, size=100, senders=20, timeout=150),
    "memory": dict(count=1000000, size=100, timeout=240),
    "peers-10": _peers(10, 200, 90),
    "peers-100": _peers(100, 200, 120),
    "peers-1000": _peers(1000, 200, 300),
}
QUICK = {
    "rpc": dict(count=500, warmup=20, size=100, senders=1, threads=1, timeout=40),
    "rpc-8": dict(count=1000, warmup=20, size=100, senders=1, threads=8, timeout=40),
    "rtt": dict(count=500, warmup=20, size=100, senders=1, timeout=40),
    "small": dict(count=20000, size=100, senders=1, timeout=40),
    "small-100": dict(count=20000, size=100, senders=1, batch=100, timeout=40),
    "large": dict(count=10, size=8 * MiB, senders=1, timeout=40),
    "persistent": dict(count=300, size=100, senders=1, timeout=60),
    "fan-in": dict(count=1000, size=100, senders=10, timeout=60),
    "memory": dict(count=200000, size=100, timeout=60),
    "peers-10": _peers(10, 50, 40),
    "peers-100": _peers(100, 50, 60),
    "peers-1000": _peers(1000, 50, 150),
}
FULL_REPEATS = {"rpc": 7, "rpc-8": 5, "rtt": 7, "small": 7, "small-100": 7, "large": 5,
                "persistent": 3, "fan-in": 5, "memory": 2, "peers-10": 5, "peers-100": 5,
                "peers-1000": 5}
QUICK_REPEATS = {name: 2 for name in SCENARIOS}
QUICK_REPEATS.update({"memory": 1, "peers-1000": 1})
QUICK_SCENARIOS = [name for name in SCENARIOS if name != "peers-1000"]

# (row, unit, higher_is_better, target vs snakemq, target vs zmq); a target is (op, ratio).
# Issue 16's targets; large, persistent, fan-in and memory keep issue 6's ("no worse than today").
ROWS: List[Tuple[str, str, bool, Optional[Tuple[str, float]], Optional[Tuple[str, float]]]] = [
    ("rpc", "calls/s", True, (">=", 1.5), None),
    ("rpc-8", "calls/s", True, (">=", 2.0), None),
    ("rtt p50", "us", False, ("<=", 1.0), ("<=", 1.3)),
    ("rtt p99", "us", False, None, ("<=", 1.5)),
    ("small", "msg/s", True, (">=", 7.0), (">=", 1.0)),
    ("small-100", "msg/s", True, None, (">=", 1.0)),
    ("large", "MB/s", True, (">=", 4.0), (">=", 0.8)),
    ("persistent", "msg/s", True, (">=", 30.0), None),
    ("fan-in", "msg/s", True, (">=", 5.0), (">=", 0.8)),
    ("memory", "B/msg*", False, None, None),
]
for _n in PEER_COUNTS:
    ROWS.append(("peers-%d cpu" % _n, "us/msg", False, None, None))
    ROWS.append(("peers-%d mem" % _n, "B/conn", False, None, None))
MEMORY_TARGET = 400.0  #: snakezmq bytes per queued 100 B message beyond the payload, at most
#: the peer-count curve is flat: snakezmq's value at 1,000 peers at most this times its value at 10
FLAT_TARGET = 1.5


class CaseFailed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------

class Case:
    """One backend x scenario x repeat: starts the processes, collects reports, always cleans up."""

    def __init__(self, backend: str, scenario: str, params: Dict[str, Any]) -> None:
        self.backend, self.scenario, self.p = backend, scenario, params
        self.ctx = mp.get_context("spawn")
        self.q = self.ctx.Queue()
        self.go = self.ctx.Event()
        self.stop = self.ctx.Event()
        self.deadline = time.monotonic() + params["timeout"]
        self.procs: List[Any] = []
        self.reports: List[Tuple[Any, ...]] = []

    def start(self, role: str, idx: int = 0, port: Optional[int] = None,
              **extra: Any) -> None:
        """Start a worker; ``extra``: parameters of this worker only."""
        proc = self.ctx.Process(
            target=worker_main, name="%s-%s-%s%d" % (self.backend, self.scenario, role, idx),
            args=(role, self.backend, self.scenario, dict(self.p, **extra), idx, port, self.q,
                  self.go, self.stop, self.deadline), daemon=True)
        proc.start()
        self.procs.append(proc)

    def found(self, kind: str, role: Optional[str] = None) -> List[Tuple[Any, ...]]:
        return [r for r in self.reports if r[0] == kind and (role is None or r[1] == role)]

    def wait(self, done: Callable[[], bool], what: str) -> None:
        while not done():
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise CaseFailed("timeout (%.0f s) while waiting for %s" % (self.p["timeout"], what))
            try:
                report = self.q.get(timeout=min(0.2, left))
            except queue_module.Empty:
                for proc in self.procs:
                    if proc.exitcode not in (None, 0):
                        self._drain()
                        raise CaseFailed("%s exited with code %s while waiting for %s%s"
                                         % (proc.name, proc.exitcode, what, self._errors()))
                continue
            self.reports.append(report)
            if report[0] == "error":
                raise CaseFailed("%s%d: %s" % (report[1], report[2], report[3]))

    def _drain(self) -> None:
        while True:
            try:
                self.reports.append(self.q.get_nowait())
            except (queue_module.Empty, OSError, ValueError):
                return

    def _errors(self) -> str:
        return "".join("\n%s%d: %s" % (r[1], r[2], r[3]) for r in self.found("error"))

    def cleanup(self) -> None:
        self.stop.set()
        end = time.monotonic() + 5.0
        for proc in self.procs:
            while proc.is_alive() and time.monotonic() < end:
                proc.join(0.05)
                self._drain()  # children block at exit while their queue data is unread
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(2.0)
        self._drain()
        self.q.close()
        self.q.cancel_join_thread()

    def run(self) -> Dict[str, Any]:
        try:
            return self._run()
        finally:
            self.cleanup()

    def _run(self) -> Dict[str, Any]:
        p = self.p
        if self.scenario == "memory":
            self.start("mem")
            self.wait(lambda: bool(self.found("result")), "the memory result")
            r = self.found("result")[0][3]
            per_msg = (r["rss1"] - r["rss0"]) / r["count"]
            return {"value": per_msg - p["size"], "rss_per_msg": per_msg, "queue_s": r["queue_s"],
                    "queue_rate": r["count"] / r["queue_s"]}
        self.start("recv")
        self.wait(lambda: bool(self.found("ready")), "the receiver to listen")
        port = self.found("ready")[0][3]["port"]
        if self.scenario.startswith("peers"):
            return self._run_peers(port)
        for idx in range(p["senders"]):
            self.start("send", idx, port)
        want_profiles = 2 if p.get("profile") else 0
        if self.scenario.startswith("rpc"):
            self.wait(lambda: bool(self.found("result", "send")) and bool(self.found("cost")), "the calls")
            self.stop.set()  # (the server profiles until it stops)
            self.wait(lambda: len(self.found("profile")) >= want_profiles, "the profiles")
            r = self.found("result", "send")[0][3]
            result = {"value": r["calls"] / r["elapsed"], "elapsed": r["elapsed"]}
            for side, cost in (("client", r["cost"]), ("server", self.found("cost")[0][3])):
                result.update(("%s_%s" % (side, key), value) for key, value in cost.items())
            return self._with_profiles(result)
        if self.scenario == "rtt":
            self.wait(lambda: bool(self.found("result", "send"))
                      and len(self.found("profile")) >= want_profiles, "the round trips")
            rtts = sorted(self.found("result", "send")[0][3]["rtts"])

            def pick(q: float) -> float:
                return float(rtts[min(len(rtts) - 1, int(q * len(rtts)))] * 1e6)

            result: Dict[str, Any] = {"p50": pick(0.50), "p99": pick(0.99), "mean": statistics.mean(rtts) * 1e6}
            for kind, role, idx, text in self.found("profile"):
                result.setdefault("profiles", {})["%s%d" % (role, idx)] = text
            return result
        self.wait(lambda: bool(self.found("result", "recv"))
                  and len(self.found("sent")) == p["senders"]
                  and len(self.found("profile")) >= want_profiles,
                  "all messages (and sender reports)")
        r = self.found("result", "recv")[0][3]
        sent = [s[3] for s in self.found("sent")]
        t_first = min(s["t_first"] for s in sent)
        elapsed = r["t_last"] - t_first
        total = p["count"] * p["senders"]
        if r["count"] != total:
            raise CaseFailed("received %d of %d messages" % (r["count"], total))
        result = {"elapsed": elapsed, "msgs_per_s": total / elapsed,
                  "mb_per_s": r["bytes"] / elapsed / 1e6,
                  "enqueue_s": max(s["t_queued"] for s in sent) - t_first}
        result["value"] = result["mb_per_s"] if self.scenario == "large" else result["msgs_per_s"]
        return self._with_profiles(result)

    def _with_profiles(self, result: Dict[str, Any]) -> Dict[str, Any]:
        for kind, role, idx, text in self.found("profile"):
            result.setdefault("profiles", {})["%s%d" % (role, idx)] = text
        return result

    def _run_peers(self, port: int) -> Dict[str, Any]:
        """Hosts of PEERS_PER_HOST peers each; the listener's result once all messages are in."""
        peers, hosts = self.p["peers"], self.p["hosts"]
        for idx in range(hosts):
            first = idx * peers // hosts
            self.start("send", idx, port, first=first, here=(idx + 1) * peers // hosts - first)
        self.wait(lambda: bool(self.found("result", "recv")) and len(self.found("sent")) == hosts,
                  "%d peers' messages" % peers)
        r = self.found("result", "recv")[0][3]
        t_first = min(s[3]["t_first"] for s in self.found("sent"))
        return {"cpu_us": r["cpu_per_msg"] * 1e6, "mem_per_conn": r["mem_per_conn"],
                "msgs_per_s": r["count"] / (r["t_last"] - t_first),
                "msgs_per_packet": r["count"] / r["packets"]}


def case_params(base: Dict[str, Any], args: argparse.Namespace, scenario: str,
                backend: str, tmpdir: str, tag: str) -> Dict[str, Any]:
    params = dict(base)
    params["ttl"] = args.ttl
    if args.baseline:
        params["baseline"] = os.path.abspath(args.baseline)
    if scenario == "persistent":
        params["db"] = os.path.join(tmpdir, "%s-%s.sqlite" % (backend, tag))
    return params


def backends_for(scenario: str, chosen: List[str]) -> List[str]:
    return [b for b in chosen if not (scenario == "persistent" and b == "zmq")
            and not (b == LOOP_FLOOR and not scenario.startswith("rpc"))]


def values_of(scenario: str, result: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """The table rows one case fills."""
    if scenario == "rtt":
        return {"rtt p50": result.get("p50"), "rtt p99": result.get("p99")}
    if scenario.startswith("peers"):
        return {scenario + " cpu": result.get("cpu_us"), scenario + " mem": result.get("mem_per_conn")}
    return {scenario: result.get("value")}


def fmt_value(row: str, value: Optional[float]) -> str:
    if value is None:
        return "-"
    if row.endswith(" cpu"):
        return "%.1f" % value
    if row.startswith("rtt") or row == "memory":
        return "%.0f" % value
    if row == "large":
        return "%.0f" % value
    return "{:,.0f}".format(value)


def check(target: Optional[Tuple[str, float]], ratio: Optional[float]) -> str:
    if target is None:
        return ""
    op, limit = target
    spec = "%s%gx" % (op, limit)
    if ratio is None:
        return spec + " ?"
    met = ratio >= limit if op == ">=" else ratio <= limit
    return "%s %s" % (spec, "met" if met else "NOT met")


def pairwise_ratio(per_repeat: List[Dict[str, Optional[float]]], other: str,
                   mine_of: str = "snakezmq") -> Optional[float]:
    """Median over repeats of ``mine_of``'s value divided by ``other``'s value in the same repeat."""
    ratios = []
    for rep in per_repeat:
        mine, theirs = rep.get(mine_of), rep.get(other)
        if mine is not None and theirs:
            ratios.append(mine / theirs)
    return statistics.median(ratios) if ratios else None


def summarize(table: Dict[str, List[Dict[str, Optional[float]]]]) -> List[Dict[str, Any]]:
    """One entry per row measured: medians per backend, pairwise ratios, targets and verdicts."""
    summary = []
    for row, unit, higher, target_smq, target_zmq in ROWS:
        reps = table.get(row)
        if not reps:
            continue
        medians = {}
        for backend in BACKENDS + [BASELINE]:
            values = [v for v in (rep.get(backend) for rep in reps) if v is not None]
            medians[backend] = statistics.median(values) if values else None
        entry: Dict[str, Any] = {"row": row, "unit": unit, "higher_is_better": higher,
                                 "medians": medians, "repeats": len(reps)}
        for other, target in (("snakemq", target_smq), ("zmq", target_zmq), (LOOP_FLOOR, None),
                              (BASELINE, None)):
            ratio = pairwise_ratio(reps, other)
            entry["vs_" + other] = {"ratio": ratio, "target": target, "verdict": check(target, ratio)}
        # the most a library in snakemq's thread shape could reach against snakemq, and whether
        # that already misses the target (then the target is below the floor, not met by design)
        floor = pairwise_ratio(reps, "snakemq", mine_of=LOOP_FLOOR)
        entry["floor_vs_snakemq"] = {"ratio": floor, "verdict": check(target_smq, floor)}
        if row == "memory":
            mine = medians["snakezmq"]
            entry["vs_zmq"]["verdict"] = "<=%.0f B %s" % (MEMORY_TARGET, "?" if mine is None else
                                                          ("met" if mine <= MEMORY_TARGET else "NOT met"))
        summary.append(entry)
    return summary


def peer_curve(summary: List[Dict[str, Any]]) -> List[str]:
    """Lines saying how each backend's per-message CPU and memory per connection grow with the
    number of peers (value at the most peers / value at the fewest), against FLAT_TARGET."""
    by_row = {entry["row"]: entry for entry in summary}
    lines = []
    for what in ("cpu", "mem"):
        rows = [by_row.get("peers-%d %s" % (n, what)) for n in PEER_COUNTS]
        measured = [(n, e) for n, e in zip(PEER_COUNTS, rows) if e is not None]
        if len(measured) < 2:
            continue
        (n0, first), (n1, last) = measured[0], measured[-1]
        parts = []
        for backend in BACKENDS:
            a, b = first["medians"][backend], last["medians"][backend]
            if a and b is not None:
                growth = b / a
                verdict = ""
                if backend == "snakezmq":
                    verdict = " (<=%gx: %s)" % (FLAT_TARGET, "met" if growth <= FLAT_TARGET else "NOT met")
                parts.append("%s %.2fx%s" % (backend, growth, verdict))
        lines.append("peer curve, %s from %d to %d peers: %s" % (
            "CPU per message" if what == "cpu" else "memory per connection", n0, n1, ", ".join(parts)))
    return lines


def print_table(summary: List[Dict[str, Any]]) -> None:
    header = ("%-15s %-7s %12s %12s %12s  %-9s %-14s  %-9s %-14s"
              % ("scenario", "unit", "snakemq", "zmq", "snakezmq", "szmq/smq", "target",
                 "szmq/zmq", "target"))
    print(header)
    print("-" * len(header))
    for entry in summary:
        row, medians = entry["row"], entry["medians"]
        ratios = ["-" if entry[k]["ratio"] is None else "%.2fx" % entry[k]["ratio"]
                  for k in ("vs_snakemq", "vs_zmq")]
        print("%-15s %-7s %12s %12s %12s  %-9s %-14s  %-9s %-14s" % (
            row, entry["unit"], fmt_value(row, medians["snakemq"]), fmt_value(row, medians["zmq"]),
            fmt_value(row, medians["snakezmq"]), ratios[0], entry["vs_snakemq"]["verdict"],
            ratios[1], entry["vs_zmq"]["verdict"]))
    floors = [entry for entry in summary if entry["medians"].get(LOOP_FLOOR) is not None]
    if floors:
        print("\n%s: raw pyzmq in snakemq's RPC thread shape (calls handed to a loop thread, methods"
              "\n          run by worker threads), no protocol: the floor of any library with that API"
              % LOOP_FLOOR)
        print("            %-15s %12s  %-24s %s" % ("scenario", LOOP_FLOOR, "floor/smq (target)", "szmq/floor"))
        for entry in floors:
            floor, ratio = entry["floor_vs_snakemq"], entry["vs_" + LOOP_FLOOR]["ratio"]
            print("            %-15s %12s  %-24s %s" % (
                entry["row"], fmt_value(entry["row"], entry["medians"][LOOP_FLOOR]),
                "-" if floor["ratio"] is None else "%.2fx (%s)" % (floor["ratio"], floor["verdict"]),
                "-" if ratio is None else "%.2fx" % ratio))
    if any(entry["medians"].get(BASELINE) is not None for entry in summary):
        print("\n--baseline: %-15s %12s %12s  %s" % ("scenario", "baseline", "snakezmq", "szmq/base"))
        for entry in summary:
            ratio = entry["vs_" + BASELINE]["ratio"]
            print("            %-15s %12s %12s  %s" % (
                entry["row"], fmt_value(entry["row"], entry["medians"].get(BASELINE)),
                fmt_value(entry["row"], entry["medians"]["snakezmq"]),
                "-" if ratio is None else "%.3fx" % ratio))
    print("ratios: medians of per-repeat ratios snakezmq/other of the row's value (for rtt, "
          "memory and peers a time\n        or byte ratio: lower is better). "
          "* memory: RSS growth per queued message minus the 100 B payload.")
    for line in peer_curve(summary):
        print(line)


def machine_info() -> List[str]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import zmq
    import msgpack
    try:
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = "?"
    try:
        from snakemq.version import VERSION as smq_version
    except ImportError:
        smq_version = "?"
    return ["date: %s" % datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine: nproc=%d, CPU %s, %s" % (os.cpu_count() or 0, model, platform.platform()),
            "python %s, pyzmq %s (libzmq %s), msgpack %s, snakemq %s, snakezmq git %s"
            % (platform.python_version(), zmq.__version__, zmq.zmq_version(),
               ".".join(map(str, msgpack.version)), smq_version, rev)]


def run_benchmark(args: argparse.Namespace) -> int:
    config = QUICK if args.quick else FULL
    repeats = dict(QUICK_REPEATS if args.quick else FULL_REPEATS)
    if args.repeats:
        repeats = {name: args.repeats for name in SCENARIOS}
    scenarios = args.scenarios.split(",") if args.scenarios else (
        QUICK_SCENARIOS if args.quick else SCENARIOS)
    chosen = args.backends.split(",") if args.backends else list(BACKENDS)
    if args.baseline:
        chosen.append(BASELINE)
    for name in scenarios:
        if name not in SCENARIOS:
            raise SystemExit("unknown scenario %r (choose from %s)" % (name, ", ".join(SCENARIOS)))
    tmpdir = tempfile.mkdtemp(prefix="snakezmq-bench-", dir=args.tmpdir)
    info = machine_info()
    print("snakezmq benchmark, %s mode; backends interleaved per repeat: %s"
          % ("quick" if args.quick else "full", " ".join(chosen)))
    for line in info:
        print(line)
    info.append("load average at start: %s" % load_average())
    print("%s; SQLite files in %s; ttl=%r" % (info[-1], tmpdir, args.ttl))
    print(flush=True)
    started = time.monotonic()
    table: Dict[str, List[Dict[str, Optional[float]]]] = {}
    raw: List[Dict[str, Any]] = []
    try:
        for scenario in scenarios:
            for rep in range(repeats[scenario]):
                row_vals: Dict[str, Dict[str, Optional[float]]] = {}
                for backend in backends_for(scenario, chosen):
                    params = case_params(config[scenario], args, scenario, backend, tmpdir, str(rep))
                    raw.append(run_case(backend, scenario, rep, params, row_vals))
                for row, vals in row_vals.items():
                    table.setdefault(row, []).append(vals)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    failures = sum(1 for r in raw if "error" in r)
    info.append("load average at end: %s" % load_average())
    summary = summarize(table)
    print()
    print_table(summary)
    print()
    print("total %.0f s; %s; %d failed case(s)" % (time.monotonic() - started, info[-1], failures))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "quick": args.quick, "raw": raw, "table": table,
                       "summary": summary}, f, indent=1)
    if args.chart:
        draw_chart(summary, info, args.chart)
    return 1 if failures else 0


def run_case(backend: str, scenario: str, rep: int, params: Dict[str, Any],
             row_vals: Dict[str, Dict[str, Optional[float]]]) -> Dict[str, Any]:
    """Run one case, print its line, put its values in ``row_vals``; its raw record."""
    t0 = time.monotonic()
    record: Dict[str, Any] = {"scenario": scenario, "repeat": rep, "backend": backend}
    try:
        result = Case(backend, scenario, params).run()
    except CaseFailed as exc:
        print("  %-10s #%d %-9s FAILED: %s" % (scenario, rep + 1, backend, exc), flush=True)
        for row in values_of(scenario, {}):
            row_vals.setdefault(row, {})[backend] = None
        return dict(record, error=str(exc))
    finally:
        if "db" in params:
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    os.remove(params["db"] + suffix)
                except FileNotFoundError:
                    pass
    result.pop("profiles", None)
    values = values_of(scenario, result)
    for row, value in values.items():
        row_vals.setdefault(row, {})[backend] = value
    batching = " (%.1f messages per packet)" % result["msgs_per_packet"] if "msgs_per_packet" in result else ""
    if "client_cpu_us" in result:
        batching = " (per call: client %(client_cpu_us).0f us CPU (%(client_sys_us).0f sys), " \
                   "%(client_waits).1f waits; server %(server_cpu_us).0f us CPU (%(server_sys_us).0f sys), " \
                   "%(server_waits).1f waits)" % result
    print("  %-10s #%d %-9s %s%s  (case %.1f s)" % (
        scenario, rep + 1, backend, ", ".join("%s %s" % (row, fmt_value(row, v)) for row, v in values.items()),
        batching, time.monotonic() - t0), flush=True)
    return dict(record, **result)


def load_average() -> str:
    return " ".join("%.2f" % x for x in os.getloadavg())


def draw_chart(summary: List[Dict[str, Any]], info: List[str], path: str) -> None:
    """The ratios as a PNG (matplotlib: ``pip install -e ".[bench]"``); a note without it."""
    try:
        import bench_chart
        bench_chart.draw(summary, info, path)
    except ImportError as exc:
        print("no chart: %s (pip install -e \".[bench]\")" % exc)
        return
    print("chart written to %s" % path)


def redraw(args: argparse.Namespace) -> int:
    """``--chart-from run.json --chart out.png``: the chart of a saved run."""
    with open(args.chart_from) as f:
        saved = json.load(f)
    summary = saved.get("summary") or summarize(saved["table"])
    print_table(summary)
    draw_chart(summary, saved.get("info", []), args.chart or "bench.png")
    return 0


def run_profile(args: argparse.Namespace) -> int:
    scenario = args.profile
    if scenario not in PROFILED:
        raise SystemExit("--profile supports: " + ", ".join(PROFILED))
    config = QUICK if args.quick else FULL
    tmpdir = tempfile.mkdtemp(prefix="snakezmq-bench-", dir=args.tmpdir)
    for line in machine_info():
        print(line)
    backend = args.profile_backend
    try:
        params = case_params(config[scenario], args, scenario, backend, tmpdir, "profile")
        params["profile"] = True
        params["timeout"] *= 3
        result = Case(backend, scenario, params).run()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    total = params["count"] * params["senders"]
    if scenario.startswith("rpc"):
        print("\n%s %s under cProfile: %d calls, %.0f calls/s (profiling slows it down; loop "
              "threads only)\n" % (backend, scenario, params["count"], result["value"]))
    elif scenario == "rtt":
        print("\n%s rtt under cProfile: %d round trips, p50 %.0f us, p99 %.0f us (profiling slows it down)\n"
              % (backend, total, result["p50"], result["p99"]))
    else:
        print("\n%s %s under cProfile: %d messages in %.3f s = %s msg/s (profiling slows it down)\n"
              % (backend, scenario, total, result["elapsed"], "{:,.0f}".format(result["msgs_per_s"])))
    for side in sorted(result.get("profiles", {}), reverse=True):
        print("=" * 30, "%s side (%s)" % ("sender" if side.startswith("send") else "receiver", side),
              "=" * 30)
        print(result["profiles"][side])
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts, 1-2 repeats (< 1 min)")
    parser.add_argument("--repeats", type=int, help="repeats for every scenario")
    parser.add_argument("--scenarios", help="comma-separated subset of: " + ",".join(SCENARIOS))
    parser.add_argument("--backends", help="comma-separated subset of: " + ",".join(BACKENDS))
    parser.add_argument("--ttl", type=float, default=None,
                        help="message ttl in seconds (default None: never expires)")
    parser.add_argument("--json", help="write raw results to this file")
    parser.add_argument("--tmpdir", help="directory for the SQLite files (default: system temp)")
    parser.add_argument("--profile", metavar="SCENARIO",
                        help="run one scenario for one backend under cProfile (sender and receiver) "
                             "and print the top 25 functions by tottime for each side")
    parser.add_argument("--profile-backend", default="snakezmq", choices=list(MESSAGING_BACKENDS))
    parser.add_argument("--baseline", metavar="DIR", help="also run backend 'base': the snakezmq "
                        "package of another checkout in DIR (A/B of a change, interleaved)")
    parser.add_argument("--chart", metavar="PNG", help="draw the ratios into this PNG file (needs "
                        "matplotlib: pip install -e \".[bench]\")")
    parser.add_argument("--chart-from", metavar="JSON", help="redraw the chart of a --json file")
    args = parser.parse_args(argv)
    if args.chart_from:
        return redraw(args)
    if args.profile:
        return run_profile(args)
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
