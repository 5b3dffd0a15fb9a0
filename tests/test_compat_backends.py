"""$SNAKEZMQ_COMPAT_BACKENDS picks the compat battery's backends; a typo is an error, not a skip."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from compat_tests.compat_helpers import BACKENDS, BACKENDS_VARIABLE, selected_backends

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_unset_means_every_backend() -> None:
    assert selected_backends(None) == BACKENDS == ["snakemq", "snakezmq"]


@pytest.mark.parametrize("setting, expected", [
    ("snakezmq", ["snakezmq"]),
    ("snakemq", ["snakemq"]),
    ("snakezmq,snakemq", ["snakemq", "snakezmq"]),  # BACKENDS' order, whatever the setting's
    (" snakezmq , snakezmq ", ["snakezmq"]),
])
def test_a_setting_names_a_subset(setting: str, expected: list) -> None:
    assert selected_backends(setting) == expected


@pytest.mark.parametrize("setting", ["snakzmq", "snakezmq,snakemq1.6", "", " , "])
def test_an_unknown_name_or_none_at_all_is_an_error(setting: str) -> None:
    with pytest.raises(ValueError, match=BACKENDS_VARIABLE):
        selected_backends(setting)


def test_pytest_stops_with_a_usage_error_on_an_unknown_name() -> None:
    env = dict(os.environ, **{BACKENDS_VARIABLE: "snakezmq,snakmq"})
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "--collect-only", "compat_tests/test_packeter.py"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "unknown backend 'snakmq'" in done.stdout + done.stderr
