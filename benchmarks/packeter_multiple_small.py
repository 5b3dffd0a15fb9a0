#!/usr/bin/env python3
"""snakemq 1.6's ``tests/performance/packeter_multiple_small.py``, ported to Python 3.

Send many small packets over a single connection: the client (a forked child)
queues ``--count`` packets of 5 B with ``Packeter.send_packet`` in ``on_connect``,
stops when ``on_packet_sent`` has come for all of them, cleans up and exits.
The server times from its ``on_connect`` to its ``on_disconnect`` and checks
that it received every packet (``count == COUNT``).

Changes from the original (David Siroky, MIT License): Python 3, the backend
is chosen on the command line (``--backend snakemq`` imports snakemq 1.6,
``--backend snakezmq`` the checkout this file sits in), the count is a
parameter, the port is a free one, and the result is also printed as one
``RESULT {json}`` line for ``snakemq_scripts.py``. ``--profile DIR`` writes
cProfile data of both sides' ``loop()`` (as the original's commented-out line).

    python benchmarks/packeter_multiple_small.py --backend snakezmq --count 100000
"""
from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import sys
import time
from typing import Any, Dict, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the snakezmq checkout this script sits in

from snakemq_scripts import free_port, import_backend  # noqa: E402 (this folder)

DATA_SIZE = 5
COUNT = 100000  # snakemq's own count


def run_loop(link: Any, profile: Optional[str]) -> None:
    if profile is None:
        link.loop()
    else:
        cProfile.runctx("link.loop()", globals(), {"link": link}, profile)


def srv(backend: str, port: int, count: int, profile: Optional[str]) -> Dict[str, Any]:
    link_mod, packeter_mod = import_backend(backend)
    s = link_mod.Link()
    container: Dict[str, Any] = {"start_time": None, "count": 0, "diff": None}

    def on_connect(conn_id: str) -> None:
        container["start_time"] = time.time()

    def on_packet_recv(conn_id: str, packet: bytes) -> None:
        assert len(packet) == DATA_SIZE
        container["count"] += 1

    def on_disconnect(conn_id: str) -> None:
        diff = time.time() - container["start_time"]
        container["diff"] = diff
        print("flow: %.02f MBps, %i pkts/s" % (DATA_SIZE * count / diff / 1024**2, count / diff))
        s.stop()

    s.add_listener(("", port))
    tr = packeter_mod.Packeter(s)
    tr.on_connect = on_connect
    tr.on_packet_recv = on_packet_recv
    tr.on_disconnect = on_disconnect
    run_loop(s, profile)
    s.cleanup()
    return {"pkts_per_s": count / container["diff"], "received": container["count"],
            "count": count, "ok": container["count"] == count}


def cli(backend: str, port: int, count: int, profile: Optional[str]) -> None:
    link_mod, packeter_mod = import_backend(backend)
    s = link_mod.Link()
    container = {"count": 0}

    def on_connect(conn_id: str) -> None:
        for _ in range(count):
            tr.send_packet(conn_id, b"x" * DATA_SIZE)

    def on_packet_sent(conn_id: str, packet_id: int) -> None:
        container["count"] += 1
        if container["count"] == count:
            s.stop()

    s.add_connector(("localhost", port))
    tr = packeter_mod.Packeter(s)
    tr.on_connect = on_connect
    tr.on_packet_sent = on_packet_sent
    run_loop(s, profile)
    s.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("snakemq", "snakezmq"), default="snakezmq")
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--profile", metavar="DIR", help="write srv.prof and cli.prof here")
    args = parser.parse_args()
    # avoid logging overhead
    logging.getLogger(args.backend).setLevel(logging.ERROR)
    port = free_port()
    prof = {side: os.path.join(args.profile, side + ".prof") if args.profile else None
            for side in ("srv", "cli")}
    if os.fork() > 0:
        result = srv(args.backend, port, args.count, prof["srv"])
        os.wait()
        result["backend"] = args.backend
        print("RESULT " + json.dumps(result))
        assert result["ok"], "received %d of %d packets" % (result["received"], args.count)
    else:
        cli(args.backend, port, args.count, prof["cli"])


if __name__ == "__main__":
    main()
