"""The lossy scenario (tests/faults/soak.py): once with a fixed schedule, or as a soak.

    SNAKEZMQ_SOAK=50 python -m pytest -s tests/faults/test_soak.py   # 50 runs
    SNAKEZMQ_SOAK=10m python -m pytest -s tests/faults/test_soak.py  # 10 minutes

Soak runs draw random schedules (base seed from SNAKEZMQ_SOAK_SEED, else the time; each
run's seed is printed, so a failure replays with SNAKEZMQ_SOAK=1 SNAKEZMQ_SOAK_SEED=seed).
"""
from __future__ import annotations

import faulthandler
import os
import sys
import time
from typing import List, Optional, Tuple

import pytest

from .netns import unavailable
from .soak import soak

CI_SEED = 26  #: without SNAKEZMQ_SOAK: one run, always the same schedule


def _soak_settings() -> Tuple[List[int], Optional[float]]:
    """(seeds, monotonic end time or None) from SNAKEZMQ_SOAK / SNAKEZMQ_SOAK_SEED."""
    setting = os.environ.get("SNAKEZMQ_SOAK", "").strip()
    if not setting:
        return [CI_SEED], None
    base = int(os.environ.get("SNAKEZMQ_SOAK_SEED", "0")) or int(time.time())
    if setting.endswith("m"):
        return list(range(base, base + 100000)), time.monotonic() + 60 * float(setting[:-1])
    return list(range(base, base + int(setting))), None


def test_lossy_scenario(peers, capsys):
    reason = unavailable()
    if reason is not None:
        pytest.skip("network fault suite: %s" % reason)
    seeds, until = _soak_settings()
    if len(seeds) > 1:
        faulthandler.cancel_dump_traceback_later()  # pytest's per-test timeout dump: a soak is long

    def report(line: str) -> None:
        with capsys.disabled():
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    summary = soak(peers, seeds, until, report)
    report(summary.text())
    assert not summary.failures, summary.failures
