"""Subprocesses that tests start are reaped: terminated, waited for (killed if need be), pipes closed."""
from __future__ import annotations

import subprocess

TIMEOUT = 15.0


def stop(proc: "subprocess.Popen[str]", timeout: float = TIMEOUT) -> str:
    """End ``proc`` if it still runs, wait for it, close its pipes; what it left on stderr."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
    stderr = proc.stderr.read() if proc.stderr is not None and not proc.stderr.closed else ""
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return stderr
