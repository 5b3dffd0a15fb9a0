"""The README's examples run and show what they promise."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", args[0]), *args[1:]],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_seed_scenario_exchanges_both_messages():
    result = run_example("run_seed.py", "--runtime", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seed scenario: both messages exchanged" in result.stdout


def test_rpc_example_calls_raises_and_signals():
    result = run_example("rpc_example.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "add(2, 3) = 5" in result.stdout
    assert "ZeroDivisionError" in result.stdout
    assert "a signal returns at once" in result.stdout


def test_asyncio_example_awaits_acks_replies_and_rpc():
    result = run_example("asyncio_example.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "acknowledged: three" in result.stdout and "reply from server: got three" in result.stdout
    assert "rpc: hello, asyncio" in result.stdout and "asyncio example: done" in result.stdout
