"""The package type-checks: ``mypy snakezmq`` with pyproject.toml's ``[tool.mypy]`` (strict)."""
from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MYPY_TIMEOUT = 50  # seconds; a cold run takes a few


def test_mypy_strict_passes(tmp_path: pathlib.Path) -> None:
    # Not a skip: mypy is in the ``test`` extra (pip install -e ".[test]"), so a missing
    # mypy is a broken test environment and must not pass silently.
    assert importlib.util.find_spec("mypy") is not None, (
        "mypy is not installed: install the test extra (pip install -e \".[test]\")")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy_cache"), "snakezmq"],
        cwd=ROOT, capture_output=True, text=True, timeout=MYPY_TIMEOUT)
    assert result.returncode == 0, "mypy snakezmq failed:\n%s%s" % (result.stdout, result.stderr)
