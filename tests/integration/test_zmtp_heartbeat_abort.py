"""No process abort inside libzmq: snakezmq's sockets survive the path that aborts with
ZMTP heartbeats on (issue 17; libzmq issues 4364, 4841; docs/protocol.md, "Liveness").

Each case runs zmtp_abort.py in a subprocess (an abort takes the whole process). The two
other cases show that the reproduction is real: on libzmq 4.3.5 the same steps abort with
heartbeats on, and a peer that sends a ZMTP PING can abort a ROUTER whatever its options.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import zmq

import snakezmq

SCRIPT = os.path.join(os.path.dirname(__file__), "zmtp_abort.py")
KNOWN_BAD = zmq.zmq_version_info() <= (4, 3, 5)  # the fixes (4377, 4852) were never merged


def _run(mode: str) -> subprocess.CompletedProcess:
    root = os.path.dirname(os.path.dirname(os.path.abspath(snakezmq.__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, SCRIPT, mode], capture_output=True, text=True,
                          timeout=60, env=env)


def test_snakezmq_sockets_survive_a_reset_while_input_is_stopped():
    done = _run("snakezmq")
    assert done.returncode == 0 and "survived" in done.stdout, (done.returncode, done.stderr)


@pytest.mark.parametrize("mode", ["heartbeats", "peer-ping"])
def test_the_reproduction_aborts_libzmq_4_3_5(mode):
    done = _run(mode)
    if not KNOWN_BAD:
        print("libzmq %s, %s: exit %s (no longer known to abort)" % (zmq.zmq_version(), mode,
                                                                     done.returncode))
        return
    assert done.returncode == -signal.SIGABRT, (done.returncode, done.stdout, done.stderr)
    assert "!_io_error" in done.stderr, done.stderr
