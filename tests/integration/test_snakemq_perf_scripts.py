"""snakemq's own performance scripts (benchmarks/packeter_*.py) run on snakezmq and
pass their own checks: every packet sent arrives (issue 19, point 4).

``packeter_multiple_small.py`` once received fewer packets than it sent: its client
exits right after ``cleanup()``. Small counts here; nothing is timed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "benchmarks")
DEADLINE = 120.0  #: seconds for one run on a busy machine
TRIES = 3


def run_script(name: str, args: List[str]) -> Dict[str, Any]:
    proc = subprocess.run([sys.executable, os.path.join(BENCHMARKS, name), "--backend", "snakezmq",
                           *args], capture_output=True, text=True, timeout=DEADLINE)
    results = [line[len("RESULT "):] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and results, "%s exited %d\nstdout:\n%s\nstderr:\n%s" % (
        name, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    result: Dict[str, Any] = json.loads(results[0])
    return result


@pytest.mark.parametrize("name, args", [
    ("packeter_multiple_small.py", ["--count", "20000"]),
    ("packeter_connections.py", ["--procs", "2", "--threads", "4", "--count", "500"]),
], ids=["multiple_small", "connections"])
def test_every_packet_arrives(name: str, args: List[str]) -> None:
    for _ in range(TRIES):
        result = run_script(name, args)
        assert result["ok"] and result["received"] == result["count"], result
