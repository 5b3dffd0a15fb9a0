"""A throwaway PostgreSQL server for tests and benchmarks.

``initdb`` into a temporary directory, ``postgres`` on a free port of
127.0.0.1 (no Unix socket outside that directory), stopped and removed by
``stop()``. PostgreSQL refuses to run as root, so as root (CI) the server runs
as the ``postgres`` user (Debian's package creates it), else ``nobody``.
The binaries are found on PATH or in Debian's ``/usr/lib/postgresql/<version>/bin``;
``.ci/run`` installs Debian's ``postgresql`` package when they are missing.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

START_TIMEOUT = 60.0  #: seconds for initdb, and again for the server to accept connections
STOP_TIMEOUT = 30.0
USER = "snakezmq"  #: the database superuser initdb creates (trust authentication, loopback only)


class Unavailable(Exception):
    """No PostgreSQL server can be had here; the message says why."""


def find_binary(name: str) -> Optional[str]:
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob("/usr/lib/postgresql/*/bin/" + name)
    return max(candidates, key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit()
               else 0) if candidates else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> Optional[pwd.struct_passwd]:
    """Whom to run the server as: None (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise Unavailable("running as root and there is neither a 'postgres' nor a 'nobody' user "
                      "to run PostgreSQL as (it refuses to run as root)")


class PostgresServer:
    """One PostgreSQL server in a temporary directory. ``url`` is for SQLAlchemy (psycopg 3)."""

    def __init__(self) -> None:
        self.directory: Optional[str] = None
        self.port = 0
        self._pg_ctl: Optional[str] = None
        self._prefix: List[str] = []

    @property
    def url(self) -> str:
        return "postgresql+psycopg://%s@127.0.0.1:%d/postgres" % (USER, self.port)

    @property
    def data(self) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, "data")

    def start(self) -> "PostgresServer":
        """Raises Unavailable (with the reason) when no server can be started here."""
        initdb, self._pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if initdb is None or self._pg_ctl is None:
            raise Unavailable("PostgreSQL is not installed (no initdb / pg_ctl on PATH or in "
                              "/usr/lib/postgresql/*/bin); .ci/run installs Debian's postgresql "
                              "package (apt-get install postgresql)")
        user = _server_user()
        if user is not None:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise Unavailable("running as root without runuser to start PostgreSQL as %s" % user.pw_name)
            self._prefix = [runuser, "-u", user.pw_name, "--"]
        self.directory = tempfile.mkdtemp(prefix="snakezmq-pg-")
        try:
            if user is not None:
                os.chown(self.directory, user.pw_uid, user.pw_gid)
            self._run([initdb, "-D", self.data, "-U", USER, "--auth=trust", "-E", "UTF8",
                       "--no-sync", "--no-instructions"], START_TIMEOUT)
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self) -> None:
        assert self._pg_ctl is not None and self.directory is not None
        for _ in range(3):  # the free port may be taken between free_port() and the bind
            self.port = free_port()
            options = "-p %d -c listen_addresses=127.0.0.1 -k %s" % (self.port, self.directory)
            try:
                self._run([self._pg_ctl, "-D", self.data, "-l", os.path.join(self.directory, "log"),
                           "-w", "-t", str(int(START_TIMEOUT)), "-o", options, "start"], START_TIMEOUT + 10)
                return
            except Unavailable as exc:
                error = exc
        raise error

    def _run(self, command: List[str], timeout: float) -> None:
        try:
            result = subprocess.run(self._prefix + command, capture_output=True, text=True,
                                    timeout=timeout, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable("%s failed: %s" % (os.path.basename(command[0]), exc)) from exc
        if result.returncode != 0:
            raise Unavailable("%s failed (exit %d): %s%s" % (
                os.path.basename(command[0]), result.returncode, result.stderr.strip()[-800:],
                self._log_tail()))

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.directory or "", "log"), encoding="utf-8", errors="replace") as log:
                return "\nserver log: " + log.read()[-800:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (fast shutdown; killed if it does not stop in time) and remove its files."""
        if self.directory is None:
            return
        if self._pg_ctl is not None and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            try:
                self._run([self._pg_ctl, "-D", self.data, "-m", "fast", "-w", "-t",
                           str(int(STOP_TIMEOUT)), "stop"], STOP_TIMEOUT + 10)
            except Unavailable:
                self._kill()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def _kill(self) -> None:
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as pid_file:
                pid = int(pid_file.readline())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.05)
