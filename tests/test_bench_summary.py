"""benchmarks/bench.py's table logic: pairwise ratios, targets, the peer curve (no processes)."""
from __future__ import annotations

import importlib.util
import pathlib
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_under_test", ROOT / "benchmarks" / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = load_bench()


def test_ratios_are_medians_of_ratios_within_each_repeat():
    table = {"rpc": [{"snakemq": 100.0, "zmq": 1000.0, "snakezmq": 160.0},
                     {"snakemq": 200.0, "zmq": 1000.0, "snakezmq": 260.0},
                     {"snakemq": 100.0, "zmq": None, "snakezmq": 140.0}]}
    (entry,) = bench.summarize(table)
    assert entry["medians"]["snakezmq"] == 160.0
    assert entry["vs_snakemq"]["ratio"] == 1.4  # of 1.6, 1.3 and 1.4, not 160 / 100
    assert entry["vs_snakemq"]["verdict"] == ">=1.5x NOT met"
    assert entry["vs_zmq"]["ratio"] == (0.16 + 0.26) / 2  # a failed case leaves its repeat out


def test_time_rows_are_met_when_lower():
    table = {"rtt p50": [{"snakemq": 200.0, "zmq": 100.0, "snakezmq": 120.0}]}
    (entry,) = bench.summarize(table)
    assert entry["vs_snakemq"]["verdict"] == "<=1x met"
    assert entry["vs_zmq"]["verdict"] == "<=1.3x met"


def test_the_peer_curve_compares_the_most_peers_with_the_fewest():
    table = {}
    for peers, cpu in ((10, 2.0), (100, 2.5), (1000, 3.2)):
        table["peers-%d cpu" % peers] = [{"snakemq": 5.0, "zmq": 3.0, "snakezmq": cpu}]
    lines = bench.peer_curve(bench.summarize(table))
    assert lines == ["peer curve, CPU per message from 10 to 1000 peers: snakemq 1.00x, zmq 1.00x, "
                     "snakezmq 1.60x (<=1.5x: NOT met)"]


def test_the_rpc_floor_says_whether_the_api_s_thread_shape_can_meet_the_target():
    floor = bench.LOOP_FLOOR
    table = {"rpc": [{"snakemq": 100.0, "zmq": 1000.0, floor: 140.0, "snakezmq": 90.0},
                     {"snakemq": 200.0, "zmq": 1000.0, floor: 300.0, "snakezmq": 150.0}]}
    (entry,) = bench.summarize(table)
    assert entry["floor_vs_snakemq"]["ratio"] == (1.4 + 1.5) / 2
    assert entry["floor_vs_snakemq"]["verdict"] == ">=1.5x NOT met"  # the target lies above the floor
    assert entry["vs_" + floor]["ratio"] == (90 / 140 + 0.5) / 2


def test_the_rpc_floor_runs_in_the_rpc_scenarios_only():
    chosen = list(bench.BACKENDS)
    assert bench.LOOP_FLOOR in bench.backends_for("rpc-8", chosen)
    assert bench.backends_for("small", chosen) == ["snakemq", "zmq", "snakezmq"]
    assert bench.backends_for("persistent", chosen) == ["snakemq", "snakezmq"]
