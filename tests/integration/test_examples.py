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


def assert_example_prints(args: tuple, *expected: str) -> None:
    """``examples/args[0]`` (with the rest of ``args``) exits 0 and prints each of ``expected``."""
    result = run_example(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    for text in expected:
        assert text in result.stdout, "%r not printed:\n%s%s" % (text, result.stdout, result.stderr)


def test_seed_scenario_exchanges_both_messages():
    assert_example_prints(("run_seed.py", "--runtime", "3"), "seed scenario: both messages exchanged")


def test_rpc_example_calls_raises_and_signals():
    assert_example_prints(("rpc_example.py",), "add(2, 3) = 5", "ZeroDivisionError", "a signal returns at once")


def test_asyncio_example_awaits_acks_replies_and_rpc():
    assert_example_prints(("asyncio_example.py",), "acknowledged: three", "reply from server: got three",
                          "rpc: hello, asyncio", "asyncio example: done")


def test_workqueue_example_completes_every_job_once_despite_a_killed_worker():
    assert_example_prints(("workqueue.py",), "killing worker-1 in the middle of its job",
                          "producer: 12 of 12 jobs done, each once")


def test_pubsub_example_delivers_every_price_to_the_subscriber_that_left():
    assert_example_prints(("pubsub.py",), "all-desk: leaving after 5 prices",
                          "received: {'eur-desk': 20, 'all-desk': 30}")
