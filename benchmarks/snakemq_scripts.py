#!/usr/bin/env python3
"""snakemq 1.6's own performance scripts on snakemq and on snakezmq, interleaved.

Runs ``packeter_multiple_small.py`` and ``packeter_connections.py`` (this folder:
snakemq's ``tests/performance`` scripts ported to Python 3, the backend chosen on
the command line) as snakemq, snakezmq, snakemq, snakezmq, ... and prints, per
script, the median packets per second of each backend and the median of the
snakezmq/snakemq ratios taken pair by pair (one pair per repeat). A run that
fails its own check (every packet received) or its deadline is FAILED, and its
pair is left out of the ratios.

    python benchmarks/snakemq_scripts.py                # snakemq's counts, 7 repeats
    python benchmarks/snakemq_scripts.py --quick        # smaller counts, 3 repeats
    python benchmarks/snakemq_scripts.py --scripts multiple_small --repeats 15
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("snakemq", "snakezmq")
SCRIPTS = {  # name: (file, arguments in full mode, arguments with --quick)
    "multiple_small": ("packeter_multiple_small.py", ["--count", "100000"], ["--count", "30000"]),
    "connections": ("packeter_connections.py", ["--procs", "10", "--threads", "20", "--count", "1000"],
                    ["--procs", "4", "--threads", "10", "--count", "500"]),
}
RUN_DEADLINE = 300.0  #: seconds one run may take before it is killed


def import_backend(backend: str) -> Tuple[Any, Any]:
    """The ``link`` and ``packeter`` modules of ``snakemq`` or ``snakezmq`` (the scripts'
    only difference between the two backends)."""
    return importlib.import_module(backend + ".link"), importlib.import_module(backend + ".packeter")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_once(script: str, backend: str, args: List[str]) -> Optional[float]:
    """Packets per second of one run, or None if it failed (printed) or timed out."""
    cmd = [sys.executable, os.path.join(HERE, script), "--backend", backend, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=RUN_DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        print("    %s %s: TIMED OUT after %.0f s" % (script, backend, RUN_DEADLINE))
        return None
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            if result["ok"]:
                return float(result["pkts_per_s"])
            print("    %s %s: FAILED, received %d of %d packets" % (
                script, backend, result["received"], result["count"]))
            return None
    print("    %s %s: FAILED (exit %d)\n%s" % (script, backend, proc.returncode, err[-1500:]))
    return None


def load() -> str:
    return "%.2f %.2f %.2f" % os.getloadavg()


def measure(names: List[str], repeats: int, quick: bool) -> Dict[str, Dict[str, List[Optional[float]]]]:
    results: Dict[str, Dict[str, List[Optional[float]]]] = {
        name: {backend: [] for backend in BACKENDS} for name in names}
    for repeat in range(repeats):
        for name in names:
            script, full_args, quick_args = SCRIPTS[name]
            for backend in BACKENDS:
                value = run_once(script, backend, quick_args if quick else full_args)
                results[name][backend].append(value)
                print("  repeat %d %-15s %-8s %s pkts/s (load %s)" % (
                    repeat + 1, name, backend, "FAILED" if value is None else "{:,.0f}".format(value),
                    load()), flush=True)
    return results


def summary(results: Dict[str, Dict[str, List[Optional[float]]]]) -> List[Dict[str, Any]]:
    rows = []
    for name, by_backend in results.items():
        pairs = [(a, b) for a, b in zip(by_backend["snakemq"], by_backend["snakezmq"])
                 if a is not None and b is not None]
        medians = {backend: statistics.median(v for v in values if v is not None)
                   if any(v is not None for v in values) else None
                   for backend, values in by_backend.items()}
        rows.append({"script": name, "values": by_backend,
                     "snakemq": medians["snakemq"], "snakezmq": medians["snakezmq"],
                     "ratio": statistics.median(b / a for a, b in pairs) if pairs else None,
                     "pairs": len(pairs), "failed": {backend: sum(v is None for v in values)
                                                     for backend, values in by_backend.items()}})
    return rows


def print_table(rows: List[Dict[str, Any]]) -> None:
    def fmt(value: Optional[float]) -> str:
        return "-" if value is None else "{:,.0f} pkts/s".format(value)

    print("\n| script | snakemq 1.6 | snakezmq | snakezmq / snakemq (median of %s pairs) | failed runs |"
          % "/".join(str(row["pairs"]) for row in rows))
    print("|---|---|---|---|---|")
    for row in rows:
        ratio = "-" if row["ratio"] is None else "%.2fx" % row["ratio"]
        failed = ", ".join("%s %d" % kv for kv in row["failed"].items())
        print("| %s | %s | %s | %s | %s |" % (SCRIPTS[row["script"]][0], fmt(row["snakemq"]),
                                              fmt(row["snakezmq"]), ratio, failed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scripts", default=",".join(SCRIPTS), help="comma-separated: %s" % ", ".join(SCRIPTS))
    parser.add_argument("--repeats", type=int, help="interleaved pairs per script (7, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--json", help="write the medians here")
    args = parser.parse_args()
    names = [name for name in args.scripts.split(",") if name]
    repeats = args.repeats or (3 if args.quick else 7)
    started = time.time()
    print("load average at the start: %s; %d repeats of %s" % (load(), repeats, ", ".join(names)))
    rows = summary(measure(names, repeats, args.quick))
    print("load average at the end: %s; %.0f s" % (load(), time.time() - started))
    print_table(rows)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
