"""The package type-checks: ``mypy snakezmq`` with pyproject.toml's ``[tool.mypy]`` (strict)."""
from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MYPY_TIMEOUT = 50  # seconds; a cold run takes a few


@pytest.mark.skipif(sys.version_info < (3, 10),
                    reason="mypy 2.4 needs Python 3.10, so the test extra installs it only "
                           "from 3.10 on (pyproject.toml)")
def test_mypy_strict_passes(tmp_path: pathlib.Path) -> None:
    # Not a skip from 3.10 on: mypy is in the ``test`` extra there (pip install -e
    # ".[test]"), so a missing mypy is a broken test environment and must not pass silently.
    assert importlib.util.find_spec("mypy") is not None, (
        "mypy is not installed: install the test extra (pip install -e \".[test]\")")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy_cache"), "snakezmq"],
        cwd=ROOT, capture_output=True, text=True, timeout=MYPY_TIMEOUT)
    assert result.returncode == 0, "mypy snakezmq failed:\n%s%s" % (result.stdout, result.stderr)
