#!/usr/bin/env python3
"""Side-by-side benchmark: snakemq 1.6, raw pyzmq and snakezmq (issue 6).

One run measures the three backends interleaved (snakemq, zmq, snakezmq;
snakemq, zmq, snakezmq; ...), with the sender(s) and the receiver in separate
processes on loopback, and prints per-scenario medians and the ratios
snakezmq/snakemq and snakezmq/zmq, each computed pair by pair within one
repeat (then the median of those ratios), next to the issue's targets.

Backends:
  snakemq   real snakemq 1.6 through its Messaging API
  zmq       naive raw pyzmq: a DEALER sends one frame per message, a ROUTER
            does one recv_multipart per message (same counts and sizes)
  snakezmq  the same Messaging code as the snakemq backend, imports swapped
            (``load_api(package)`` below is the only difference)

Scenarios (full mode):
  small       50,000 x 100 B one-way; first send (sender clock) to last
              receive (receiver clock, CLOCK_MONOTONIC is system-wide); the
              senders start only after the receiver saw every sender connect
  large       20 x 8 MiB one-way, same timing
  rtt         2,000 sequential request/response round trips (after 20 warm-up
              ones), p50 and p99, measured by the requester
  persistent  5,000 FLAG_PERSISTENT messages, SqliteQueuesStorage on the
              sender (durable when send_message returns); until all received
  fan-in      20 sender processes x 2,000 messages to one receiver
  memory      RSS growth per message with 1,000,000 x 100 B (distinct payload
              objects) queued for a peer that never connects; raw zmq: a
              DEALER with SNDHWM=0 connected to a port nobody listens on

Every case has a deadline; its processes are always stopped (stop event, then
terminate, then kill). Messages use ttl=None by default (``--ttl`` to change),
so snakezmq keeps all its delivery guarantees (acks are always on).

Usage:
  python benchmarks/bench.py               # full mode (~3-5 min on 2 cores)
  python benchmarks/bench.py --quick       # under a minute
  python benchmarks/bench.py --profile small   # cProfile snakezmq's sender and receiver
  python benchmarks/bench.py --scenarios small,rtt --repeats 3 --json out.json
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import datetime
import gc
import importlib
import io
import json
import logging
import multiprocessing as mp
import os
import platform
import pstats
import queue as queue_module
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import types
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # also runs in spawned children (they re-import this file)

BACKENDS = ["snakemq", "zmq", "snakezmq"]
MESSAGING_BACKENDS = ("snakemq", "snakezmq")
SCENARIOS = ["small", "large", "rtt", "persistent", "fan-in", "memory"]
RECV_IDENT = "bench-recv"
ABSENT_IDENT = "bench-absent"
MiB = 1024 * 1024

FULL = {
    "small": dict(count=50000, size=100, senders=1, timeout=90),
    "large": dict(count=20, size=8 * MiB, senders=1, timeout=90),
    "rtt": dict(count=2000, warmup=20, size=100, senders=1, timeout=90),
    "persistent": dict(count=5000, size=100, senders=1, timeout=180),
    "fan-in": dict(count=2000, size=100, senders=20, timeout=150),
    "memory": dict(count=1000000, size=100, timeout=240),
}
QUICK = {
    "small": dict(count=20000, size=100, senders=1, timeout=40),
    "large": dict(count=10, size=8 * MiB, senders=1, timeout=40),
    "rtt": dict(count=500, warmup=20, size=100, senders=1, timeout=40),
    "persistent": dict(count=300, size=100, senders=1, timeout=60),
    "fan-in": dict(count=1000, size=100, senders=10, timeout=60),
    "memory": dict(count=200000, size=100, timeout=60),
}
FULL_REPEATS = {"small": 7, "large": 7, "rtt": 7, "persistent": 3, "fan-in": 5, "memory": 2}
QUICK_REPEATS = {"small": 2, "large": 2, "rtt": 2, "persistent": 2, "fan-in": 2, "memory": 1}

# (row, unit, higher_is_better, target vs snakemq, target vs zmq); a target is (op, ratio)
ROWS = [
    ("small", "msg/s", True, (">=", 7.0), (">=", 1.0)),
    ("large", "MB/s", True, (">=", 4.0), (">=", 0.8)),
    ("rtt p50", "us", False, ("<=", 0.6), ("<=", 1.5)),
    ("rtt p99", "us", False, None, None),
    ("persistent", "msg/s", True, (">=", 30.0), None),
    ("fan-in", "msg/s", True, (">=", 5.0), (">=", 0.8)),
    ("memory", "B/msg*", False, None, None),
]
MEMORY_TARGET = 400.0  #: snakezmq bytes per queued 100 B message beyond the payload, at most


class CaseFailed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Worker side (runs in spawned processes)
# ---------------------------------------------------------------------------------------------

class Ctx:
    """What one worker process knows: its role, parameters and the parent's channels."""

    def __init__(self, role: str, backend: str, scenario: str, params: Dict[str, Any], idx: int,
                 port: Optional[int], q: Any, go: Any, stop: Any, deadline: float) -> None:
        self.role, self.backend, self.scenario, self.p = role, backend, scenario, params
        self.idx, self.port, self.q, self.go, self.stop, self.deadline = idx, port, q, go, stop, deadline

    def put(self, kind: str, data: Any = None) -> None:
        self.q.put((kind, self.role, self.idx, data))

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise TimeoutError("%s %s %s%d: deadline passed while %s"
                               % (self.backend, self.scenario, self.role, self.idx, what))


class Profiler:
    """cProfile around the measured part only (``start``/``stop`` may be called from callbacks)."""

    def __init__(self, enabled: bool) -> None:
        self.prof = cProfile.Profile() if enabled else None
        self.running = False
        self.t_start = self.t_stop = 0.0

    def start(self) -> None:
        if self.prof is not None and not self.running:
            self.running = True
            self.t_start = time.perf_counter()
            self.prof.enable()

    def stop(self) -> None:
        if self.prof is not None and self.running:
            self.prof.disable()
            self.t_stop = time.perf_counter()
            self.running = False

    def report(self, messages: int) -> str:
        assert self.prof is not None
        out = io.StringIO()
        stats = pstats.Stats(self.prof, stream=out)
        total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
        wall = self.t_stop - self.t_start
        out.write("profiled wall time %.3f s, total tottime %.3f s, %d messages: %.2f us tottime per message"
                  " (profiler overhead included)\n" % (wall, total, messages, total / messages * 1e6))
        by_file: Dict[str, float] = collections.defaultdict(float)
        for (filename, _line, _func), row in stats.stats.items():  # type: ignore[attr-defined]
            by_file[_short_file(filename)] += row[2]
        out.write("tottime by file (us per message):\n")
        for name, tt in sorted(by_file.items(), key=lambda kv: -kv[1])[:12]:
            out.write("  %8.2f us  %5.1f%%  %s\n" % (tt / messages * 1e6, 100 * tt / total, name))
        stats.sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(int(os.environ.get("BENCH_PROFILE_TOP", "25")))
        return out.getvalue()


def _short_file(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3", ROOT + "/"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" and "/" in tail else tail
    return filename


def load_api(package: str) -> types.SimpleNamespace:
    """The one place the two Messaging backends differ: ``snakemq`` or ``snakezmq`` modules."""
    names = ("link", "packeter", "messaging", "message")
    return types.SimpleNamespace(**{n: importlib.import_module(package + "." + n) for n in names})


def run_loop_until(link: Any, done: Callable[[], bool], c: Ctx, what: str, slice_s: float = 0.1) -> None:
    while not done():
        c.check(what)
        link.loop(poll_timeout=0.05, runtime=slice_s)


def messaging_setup(c: Ctx, ident: str, storage: Any = None) -> Any:
    api = load_api(c.backend)
    link = api.link.Link()
    packeter = api.packeter.Packeter(link)
    messaging = api.messaging.Messaging(ident, "", packeter, storage)
    return api, link, messaging


def messaging_receiver(c: Ctx) -> None:
    api, link, messaging = messaging_setup(c, RECV_IDENT)
    Message = api.message.Message
    ttl = c.p["ttl"]
    address = link.add_listener(("127.0.0.1", 0))
    c.put("ready", {"port": address[1]})
    expected = c.p["senders"]
    total = c.p["count"] * expected
    idents = set()
    st = {"n": 0, "bytes": 0}
    prof = Profiler(c.p.get("profile", False))

    def on_connect(conn_id: str, ident: str) -> None:
        idents.add(ident)
        if len(idents) == expected and not c.go.is_set():
            if c.scenario != "rtt":
                prof.start()
            c.go.set()

    def on_recv_count(conn_id: str, ident: str, message: Any) -> None:
        st["n"] += 1
        st["bytes"] += len(message.data)
        if st["n"] == total + 1:
            c.put("error", "received more than the %d messages sent (duplicates)" % total)
        if st["n"] == total:
            t_last = time.monotonic()
            prof.stop()
            c.put("result", {"t_last": t_last, "count": st["n"], "bytes": st["bytes"]})
            if prof.prof is not None:
                c.put("profile", prof.report(total))

    def on_recv_echo(conn_id: str, ident: str, message: Any) -> None:
        messaging.send_message(ident, Message(message.data, ttl=ttl))
        st["n"] += 1
        if st["n"] == c.p["warmup"]:
            prof.start()
        elif st["n"] == c.p["warmup"] + c.p["count"] and prof.prof is not None:
            prof.stop()
            c.put("profile", prof.report(c.p["count"]))

    messaging.on_connect.add(on_connect)
    messaging.on_message_recv.add(on_recv_echo if c.scenario == "rtt" else on_recv_count)
    try:
        run_loop_until(link, c.stop.is_set, c, "receiving")
    finally:
        link.cleanup()


def messaging_sender(c: Ctx) -> None:
    storage = None
    flags = 0
    if c.scenario == "persistent":
        sqlite_mod = importlib.import_module(c.backend + ".storage.sqlite")
        storage = sqlite_mod.SqliteQueuesStorage(c.p["db"])
    api, link, messaging = messaging_setup(c, "bench-send-%d" % c.idx, storage)
    if storage is not None:
        flags = api.message.FLAG_PERSISTENT
    Message = api.message.Message
    ttl = c.p["ttl"]
    payload = b"x" * c.p["size"]
    count = c.p["count"]
    st = {"connected": False, "sent": 0}
    prof = Profiler(c.p.get("profile", False))

    def on_connect(conn_id: str, ident: str) -> None:
        st["connected"] = True

    def on_sent(conn_id: str, ident: str, uuid: bytes) -> None:
        st["sent"] += 1
        if st["sent"] == count:
            link.stop()

    messaging.on_connect.add(on_connect)
    messaging.on_message_sent.add(on_sent)
    link.add_connector(("127.0.0.1", c.port))
    try:
        # Keep the loop running while waiting, so the receiver sees a live peer.
        while not (st["connected"] and c.go.is_set()):
            c.check("connecting")
            link.loop(poll_timeout=0.002, runtime=0.002)
        if c.scenario == "rtt":
            rtt_client(c, messaging, link, Message, payload, prof)
        else:
            prof.start()
            t_first = time.monotonic()
            for _ in range(count):
                messaging.send_message(RECV_IDENT, Message(payload, ttl=ttl, flags=flags))
            t_queued = time.monotonic()
            # snakemq: on_message_sent = written to the socket; snakezmq: acknowledged by the peer
            run_loop_until(link, lambda: st["sent"] >= count, c, "sending")
            t_sent = time.monotonic()
            prof.stop()
            c.put("sent", {"t_first": t_first, "t_queued": t_queued, "t_sent": t_sent})
            if prof.prof is not None:
                c.put("profile", prof.report(count))
        run_loop_until(link, c.stop.is_set, c, "waiting for stop")
    finally:
        link.cleanup()
        if storage is not None:
            storage.close()


def rtt_client(c: Ctx, messaging: Any, link: Any, Message: Any, payload: bytes,
               prof: Profiler) -> None:
    ttl = c.p["ttl"]
    n_total = c.p["warmup"] + c.p["count"]
    rtts: List[float] = []
    st = {"t0": 0.0}

    def on_reply(conn_id: str, ident: str, message: Any) -> None:
        rtts.append(time.perf_counter() - st["t0"])
        if len(rtts) == c.p["warmup"]:
            prof.start()
        if len(rtts) < n_total:
            st["t0"] = time.perf_counter()
            messaging.send_message(RECV_IDENT, Message(payload, ttl=ttl))
        else:
            link.stop()

    messaging.on_message_recv.add(on_reply)
    st["t0"] = time.perf_counter()
    messaging.send_message(RECV_IDENT, Message(payload, ttl=ttl))
    run_loop_until(link, lambda: len(rtts) >= n_total, c, "round trips")
    prof.stop()
    c.put("result", {"rtts": rtts[c.p["warmup"]:]})
    if prof.prof is not None:
        c.put("profile", prof.report(c.p["count"]))


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def make_payloads(count: int, size: int) -> Any:
    """Distinct payload objects (so the payload is really stored once per message)."""
    prefix = b"p" * (size - 8)
    for i in range(count):
        yield prefix + i.to_bytes(8, "little")


def messaging_memory(c: Ctx) -> None:
    api, link, messaging = messaging_setup(c, "bench-mem")
    logging.getLogger(c.backend + ".messaging").setLevel(logging.ERROR)  # "nobody has that ident"
    Message = api.message.Message
    ttl = c.p["ttl"]
    count = c.p["count"]
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.monotonic()
    send = messaging.send_message
    for i, data in enumerate(make_payloads(count, c.p["size"])):
        send(ABSENT_IDENT, Message(data, ttl=ttl))
        if i % 5000 == 4999:
            # snakemq's wake-up pipe blocks send_message after ~65,000 calls unless the loop drains it
            link.loop(poll_timeout=0, runtime=0.005)
            c.check("queueing")
    t1 = time.monotonic()
    gc.collect()
    rss1 = rss_bytes()
    c.put("result", {"rss0": rss0, "rss1": rss1, "count": count, "queue_s": t1 - t0})
    link.cleanup()


@contextlib.contextmanager
def zmq_socket(kind: int) -> Iterator[Any]:
    """A socket of its own context, closed without lingering (raw pyzmq backend)."""
    import zmq
    ctx = zmq.Context()
    sock = ctx.socket(kind)
    sock.linger = 0
    try:
        yield sock
    finally:
        sock.close(0)
        ctx.term()


def zmq_receiver(c: Ctx) -> None:
    import zmq
    with zmq_socket(zmq.ROUTER) as sock:
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        c.put("ready", {"port": port})
        expected = c.p["senders"]
        seen: "set[bytes]" = set()
        sock.rcvtimeo = 100
        while len(seen) < expected:  # one hello per sender: everybody is connected
            c.check("connecting")
            try:
                seen.add(sock.recv_multipart()[0])
            except zmq.Again:
                pass
        c.go.set()
        if c.scenario == "rtt":
            while not c.stop.is_set():
                c.check("echoing")
                try:
                    frames = sock.recv_multipart()
                except zmq.Again:
                    continue
                sock.send_multipart(frames)
            return
        total = c.p["count"] * expected
        sock.rcvtimeo = max(1, int(c.left() * 1000))
        recv = sock.recv_multipart
        n = nbytes = 0
        while n < total:
            frames = recv()
            n += 1
            nbytes += len(frames[-1])
        t_last = time.monotonic()
        c.put("result", {"t_last": t_last, "count": n, "bytes": nbytes})
        c.stop.wait(max(0.0, c.left()))


def zmq_sender(c: Ctx) -> None:
    import zmq
    with zmq_socket(zmq.DEALER) as sock:
        sock.sndtimeo = sock.rcvtimeo = max(1, int(c.left() * 1000))
        sock.connect("tcp://127.0.0.1:%d" % (c.port or 0))
        sock.send(b"hello")
        if not c.go.wait(max(0.0, c.left())):
            c.check("connecting")
        payload = b"x" * c.p["size"]
        count = c.p["count"]
        if c.scenario == "rtt":
            rtts = []
            send, recv, clock = sock.send, sock.recv, time.perf_counter
            for _ in range(c.p["warmup"] + count):
                t0 = clock()
                send(payload)
                recv()
                rtts.append(clock() - t0)
            c.put("result", {"rtts": rtts[c.p["warmup"]:]})
        else:
            send = sock.send
            t_first = time.monotonic()
            for _ in range(count):
                send(payload)
            t_queued = time.monotonic()
            c.put("sent", {"t_first": t_first, "t_queued": t_queued, "t_sent": t_queued})
        c.stop.wait(max(0.0, c.left()))


def zmq_memory(c: Ctx) -> None:
    import zmq
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there
    with zmq_socket(zmq.DEALER) as sock:
        sock.sndhwm = 0  # no limit: queue everything in the pipe
        sock.connect("tcp://127.0.0.1:%d" % port)
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.monotonic()
        count = c.p["count"]
        for i, data in enumerate(make_payloads(count, c.p["size"])):
            sock.send(data, zmq.NOBLOCK)
            if i % 5000 == 4999:
                c.check("queueing")
        t1 = time.monotonic()
        gc.collect()
        rss1 = rss_bytes()
        c.put("result", {"rss0": rss0, "rss1": rss1, "count": count, "queue_s": t1 - t0})


WORKERS = {
    ("messaging", "recv"): messaging_receiver,
    ("messaging", "send"): messaging_sender,
    ("messaging", "mem"): messaging_memory,
    ("zmq", "recv"): zmq_receiver,
    ("zmq", "send"): zmq_sender,
    ("zmq", "mem"): zmq_memory,
}


def worker_main(role: str, backend: str, scenario: str, params: Dict[str, Any], idx: int,
                port: Optional[int], q: Any, go: Any, stop: Any, deadline: float) -> None:
    logging.basicConfig(level=logging.WARNING,
                        format="[%(processName)s] %(name)s %(levelname)s %(message)s")
    c = Ctx(role, backend, scenario, params, idx, port, q, go, stop, deadline)
    kind = "zmq" if backend == "zmq" else "messaging"
    try:
        WORKERS[(kind, role)](c)
    except BaseException:
        c.put("error", traceback.format_exc())
        sys.exit(1)


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

    def start(self, role: str, idx: int = 0, port: Optional[int] = None) -> None:
        proc = self.ctx.Process(
            target=worker_main, name="%s-%s-%s%d" % (self.backend, self.scenario, role, idx),
            args=(role, self.backend, self.scenario, self.p, idx, port, self.q, self.go,
                  self.stop, self.deadline), daemon=True)
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
        for idx in range(p["senders"]):
            self.start("send", idx, port)
        want_profiles = 2 if p.get("profile") else 0
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
        for kind, role, idx, text in self.found("profile"):
            result.setdefault("profiles", {})["%s%d" % (role, idx)] = text
        return result


def case_params(base: Dict[str, Any], args: argparse.Namespace, scenario: str,
                backend: str, tmpdir: str, tag: str) -> Dict[str, Any]:
    params = dict(base)
    params["ttl"] = args.ttl
    if scenario == "persistent":
        params["db"] = os.path.join(tmpdir, "%s-%s.sqlite" % (backend, tag))
    return params


def backends_for(scenario: str, chosen: List[str]) -> List[str]:
    return [b for b in chosen if not (scenario == "persistent" and b == "zmq")]


def values_of(scenario: str, result: Dict[str, Any]) -> Dict[str, float]:
    if scenario == "rtt":
        return {"rtt p50": result["p50"], "rtt p99": result["p99"]}
    return {scenario: result["value"]}


def fmt_value(row: str, value: Optional[float]) -> str:
    if value is None:
        return "-"
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


def pairwise_ratio(per_repeat: List[Dict[str, Optional[float]]], other: str) -> Optional[float]:
    """Median over repeats of snakezmq's value divided by ``other``'s value in the same repeat."""
    ratios = []
    for rep in per_repeat:
        mine, theirs = rep.get("snakezmq"), rep.get(other)
        if mine is not None and theirs:
            ratios.append(mine / theirs)
    return statistics.median(ratios) if ratios else None


def print_table(table: Dict[str, List[Dict[str, Optional[float]]]], backends: List[str]) -> None:
    header = ("%-11s %-7s %12s %12s %12s  %-9s %-14s  %-9s %-14s"
              % ("scenario", "unit", "snakemq", "zmq", "snakezmq", "szmq/smq", "target",
                 "szmq/zmq", "target"))
    print(header)
    print("-" * len(header))
    for row, unit, _higher, target_smq, target_zmq in ROWS:
        reps = table.get(row)
        if not reps:
            continue
        meds = {}
        for b in BACKENDS:
            vals = [v for v in (rep.get(b) for rep in reps) if v is not None]
            meds[b] = statistics.median(vals) if vals else None
        r_smq = pairwise_ratio(reps, "snakemq")
        r_zmq = pairwise_ratio(reps, "zmq")
        t_zmq = check(target_zmq, r_zmq)
        if row == "memory":
            v = meds["snakezmq"]
            t_zmq = "<=%.0f B %s" % (MEMORY_TARGET, "?" if v is None else
                                     ("met" if v <= MEMORY_TARGET else "NOT met"))
        print("%-11s %-7s %12s %12s %12s  %-9s %-14s  %-9s %-14s" % (
            row, unit, fmt_value(row, meds["snakemq"]), fmt_value(row, meds["zmq"]),
            fmt_value(row, meds["snakezmq"]),
            "-" if r_smq is None else "%.2fx" % r_smq, check(target_smq, r_smq),
            "-" if r_zmq is None else "%.2fx" % r_zmq, t_zmq))
    print("ratios: medians of per-repeat ratios snakezmq/other of the row's value (for rtt a time "
          "ratio: lower is better;\n        for memory a byte ratio: lower is better). "
          "* memory: RSS growth per queued message minus the 100 B payload.")


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
    scenarios = args.scenarios.split(",") if args.scenarios else SCENARIOS
    chosen = args.backends.split(",") if args.backends else BACKENDS
    for name in scenarios:
        if name not in SCENARIOS:
            raise SystemExit("unknown scenario %r (choose from %s)" % (name, ", ".join(SCENARIOS)))
    tmpdir = tempfile.mkdtemp(prefix="snakezmq-bench-", dir=args.tmpdir)
    info = machine_info()
    print("snakezmq benchmark, %s mode; backends interleaved per repeat: %s"
          % ("quick" if args.quick else "full", " ".join(chosen)))
    for line in info:
        print(line)
    print("load average at start: %s; SQLite files in %s; ttl=%r" % (
        " ".join("%.2f" % x for x in os.getloadavg()), tmpdir, args.ttl))
    print(flush=True)
    started = time.monotonic()
    table: Dict[str, List[Dict[str, Optional[float]]]] = {}
    raw: List[Dict[str, Any]] = []
    failures = 0
    try:
        for scenario in scenarios:
            for rep in range(repeats[scenario]):
                row_vals: Dict[str, Dict[str, Optional[float]]] = {}
                for backend in backends_for(scenario, chosen):
                    params = case_params(config[scenario], args, scenario, backend, tmpdir, str(rep))
                    t0 = time.monotonic()
                    try:
                        result = Case(backend, scenario, params).run()
                    except CaseFailed as exc:
                        failures += 1
                        print("  %-10s #%d %-9s FAILED: %s" % (scenario, rep + 1, backend, exc), flush=True)
                        raw.append({"scenario": scenario, "repeat": rep, "backend": backend,
                                    "error": str(exc)})
                        for row in values_of(scenario, {"p50": None, "p99": None, "value": None}):
                            row_vals.setdefault(row, {})[backend] = None
                        continue
                    finally:
                        if "db" in params:
                            for suffix in ("", "-wal", "-shm", "-journal"):
                                try:
                                    os.remove(params["db"] + suffix)
                                except FileNotFoundError:
                                    pass
                    result.pop("profiles", None)
                    raw.append({"scenario": scenario, "repeat": rep, "backend": backend, **result})
                    for row, value in values_of(scenario, result).items():
                        row_vals.setdefault(row, {})[backend] = value
                    print("  %-10s #%d %-9s %s  (case %.1f s)" % (
                        scenario, rep + 1, backend,
                        ", ".join("%s %s" % (row, fmt_value(row, v))
                                  for row, v in values_of(scenario, result).items()),
                        time.monotonic() - t0), flush=True)
                for row, vals in row_vals.items():
                    table.setdefault(row, []).append(vals)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print()
    print_table(table, chosen)
    print()
    print("total %.0f s; load average at end: %s; %d failed case(s)" % (
        time.monotonic() - started, " ".join("%.2f" % x for x in os.getloadavg()), failures))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "quick": args.quick, "raw": raw, "table": table}, f, indent=1)
    return 1 if failures else 0


def run_profile(args: argparse.Namespace) -> int:
    scenario = args.profile
    if scenario not in ("small", "large", "rtt", "persistent", "fan-in"):
        raise SystemExit("--profile supports: small, large, rtt, persistent, fan-in")
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
    if scenario == "rtt":
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
    args = parser.parse_args(argv)
    if args.profile:
        return run_profile(args)
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
