#!/usr/bin/env python3
"""snakemq 1.6's ``tests/performance/packeter_connections.py``, ported to Python 3.

A high number of parallel connections: ``--procs`` client processes with
``--threads`` threads each, every thread a Link with one connector and a
Packeter. In ``on_connect`` each thread waits (spinning, as the original) until
every client is connected, then queues ``--count`` packets of 5 B; it stops when
the server closes. The server times from the moment the last client connected
until it has received every packet, then stops and cleans up.

Changes from the original (David Siroky, MIT License): Python 3, the backend
is chosen on the command line (``--backend snakemq`` imports snakemq 1.6,
``--backend snakezmq`` the checkout this file sits in), the counts are
parameters (defaults: the original's 10 x 20 x 1,000), the port is a free
one, and the result is also printed as one ``RESULT {json}`` line for
``snakemq_scripts.py``. ``--profile DIR`` writes cProfile data of the server's
``loop()``.

    python benchmarks/packeter_connections.py --backend snakezmq
"""
from __future__ import annotations

import argparse
import cProfile
import json
import logging
import multiprocessing
import os
import random
import sys
import threading
import time
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the snakezmq checkout this script sits in

from snakemq_scripts import free_port, import_backend  # noqa: E402 (this folder)

DATA_SIZE = 5
CLI_PROC_COUNT = 10
CLI_THR_COUNT = 20
PACKETS_COUNT = 1000


class Params:
    def __init__(self, backend: str, port: int, procs: int, threads: int, count: int,
                 barrier: Any) -> None:
        self.backend, self.port, self.barrier = backend, port, barrier
        self.procs, self.threads, self.count = procs, threads, count
        self.clients = procs * threads


def check_barrier(p: Params) -> None:
    p.barrier.acquire()
    p.barrier.value += 1
    p.barrier.release()

    while p.barrier.value < p.clients:
        pass


def srv(p: Params, profile: Optional[str]) -> Dict[str, Any]:
    link_mod, packeter_mod = import_backend(p.backend)
    s = link_mod.Link()
    container: Dict[str, Any] = {"start_time": None, "cli_count": 0, "count": 0}

    def on_connect(conn_id: str) -> None:
        container["cli_count"] += 1
        if container["cli_count"] == p.clients:
            container["start_time"] = time.time()
            print("all connected")

    def on_packet_recv(conn_id: str, packet: bytes) -> None:
        assert len(packet) == DATA_SIZE
        container["count"] += 1
        if container["count"] >= p.count * p.clients:
            s.stop()

    s.add_listener(("", p.port))
    tr = packeter_mod.Packeter(s)
    tr.on_connect = on_connect
    tr.on_packet_recv = on_packet_recv
    if profile is None:
        s.loop()
    else:
        cProfile.runctx("s.loop()", globals(), {"s": s}, profile)
    s.cleanup()

    diff = time.time() - container["start_time"]
    count = container["count"]
    print("flow: %.02f MBps, total %i pkts, %i pkts/s" % (
          DATA_SIZE * count / diff / 1024**2, count, count / diff))
    return {"pkts_per_s": count / diff, "received": count, "count": p.count * p.clients,
            "ok": count == p.count * p.clients}


def cli(p: Params) -> None:
    link_mod, packeter_mod = import_backend(p.backend)
    s = link_mod.Link()

    def on_connect(conn_id: str) -> None:
        check_barrier(p)
        for _ in range(p.count):
            tr.send_packet(conn_id, b"x" * DATA_SIZE)

    def on_disconnect(conn_id: str) -> None:
        s.stop()

    # listen queue on the server is short so the reconnect interval needs to be
    # short because all clients are trying to connect almost at the same time
    s.add_connector(("localhost", p.port), reconnect_interval=0.3)
    # spread the connections
    time.sleep(random.randint(0, 1000) / 1000.0)

    tr = packeter_mod.Packeter(s)
    tr.on_connect = on_connect
    tr.on_disconnect = on_disconnect
    s.loop()
    s.cleanup()


def cli_proc(p: Params) -> None:
    logging.getLogger(p.backend).setLevel(logging.ERROR)
    thrs: List[threading.Thread] = []
    for _ in range(p.threads):
        thr = threading.Thread(target=cli, args=(p,))
        thrs.append(thr)
        thr.start()

    for thr in thrs:
        thr.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("snakemq", "snakezmq"), default="snakezmq")
    parser.add_argument("--procs", type=int, default=CLI_PROC_COUNT)
    parser.add_argument("--threads", type=int, default=CLI_THR_COUNT)
    parser.add_argument("--count", type=int, default=PACKETS_COUNT, help="packets per client")
    parser.add_argument("--profile", metavar="DIR", help="write srv.prof here")
    args = parser.parse_args()
    # avoid logging overhead
    logging.getLogger(args.backend).setLevel(logging.ERROR)
    ctx = multiprocessing.get_context("fork")  # the original's default on Linux
    p = Params(args.backend, free_port(), args.procs, args.threads, args.count, ctx.Value("i", 0))
    procs = []
    for _ in range(p.procs):
        proc = ctx.Process(target=cli_proc, args=(p,))
        procs.append(proc)
        proc.start()

    result = srv(p, os.path.join(args.profile, "srv.prof") if args.profile else None)

    for proc in procs:
        proc.join()
    result["backend"] = args.backend
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
