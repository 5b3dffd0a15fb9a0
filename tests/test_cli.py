"""The ``snakezmq`` command, run as a subprocess: listen, send, ping, keys, bench."""
from __future__ import annotations

import base64
import json
import os
import pty
import queue
import socket
import subprocess
import sys
import threading
from typing import Any, Dict, Iterator, List, Optional

import pytest

import snakezmq

from .processes import stop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(snakezmq.__file__)))
WAIT = 20.0
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def cli(*args: str, stdin: Optional[bytes] = None, timeout: float = WAIT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakezmq", *args], input=stdin, capture_output=True,
                          timeout=timeout, env=ENV)


def events(result: subprocess.CompletedProcess) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


class Background:
    """A ``snakezmq`` subprocess whose JSON lines are read as they come; reaped at the end."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "snakezmq", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=ENV, text=True)
        self.lines: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        self.seen: List[Dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self, kind: str) -> Dict[str, Any]:
        while True:
            event = self.lines.get(timeout=WAIT)
            assert event is not None, "exited: %s" % self.stop()
            self.seen.append(event)
            if event["event"] == kind:
                return event

    def wait(self) -> int:
        return self.proc.wait(timeout=WAIT)

    def stop(self) -> str:
        return stop(self.proc)


@pytest.fixture
def listener(request: Any) -> Iterator[Any]:
    """Start ``snakezmq listen 127.0.0.1:0 --json ...``; yields (process, address)."""
    started: List[Background] = []

    def start(*extra: str) -> Any:
        proc = Background("listen", "127.0.0.1:0", "--json", *extra)
        started.append(proc)
        return proc, proc.next("listening")["address"]

    yield start
    for proc in started:
        proc.stop()


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % sock.getsockname()[1]


def test_help_shows_examples_and_exit_codes(capsys):
    result = cli("--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    assert "examples:" in text and "exit codes:" in text and "snakezmq send" in text
    from snakezmq._cli import main

    for command in ("listen", "send", "ping", "keys", "bench"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text and "--server-key" in text and "exit codes:" in text, command


def test_the_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "snakezmq")
    assert os.path.exists(script), "pip install -e . installs the snakezmq command"
    assert subprocess.run([script, "--version"], capture_output=True, timeout=WAIT, env=ENV).returncode == 0


def test_send_is_acknowledged_and_the_listener_prints_it_intact(listener):
    proc, address = listener("--ident", "server", "--count", "3")
    result = cli("send", address, "--ident", "me", "--to", "server", "--ttl", "30", "--count", "2",
                 "--json", "héllo")
    assert result.returncode == 0, result.stderr
    done = events(result)[-1]
    assert done["event"] == "done" and done["acknowledged"] == 2 and done["exit"] == 0
    binary = bytes(range(256))
    assert cli("send", address, "--ident", "me", "--to", "server", "-", stdin=binary).returncode == 0
    messages = [proc.next("message") for _ in range(3)]
    assert [m["data"] for m in messages[:2]] == ["héllo", "héllo"] and messages[0]["ttl"] in (29.0, 30.0)
    assert messages[2]["data_base64"] == base64.b64encode(binary).decode()
    assert proc.wait() == 0  # --count 3 reached


def test_send_failures_have_their_own_exit_codes(listener, tmp_path):
    assert cli("send", free_address(), "--ident", "me", "--to", "server", "--timeout", "1", "x").returncode == 3
    result = cli("send", free_address(), "--ident", "me", "--to", "server", "--ttl", "0.2", "x")
    assert result.returncode == 6 and b"TTL ran out" in result.stderr
    _, address = listener("--ident", "server")
    result = cli("send", address, "--ident", "me", "--to", "sever", "x")
    assert result.returncode == 9 and b"'server', not 'sever'" in result.stderr


def test_persistent_messages_wait_for_the_next_run(listener, tmp_path):
    db = str(tmp_path / "queue.db")
    nowhere = free_address()
    result = cli("send", nowhere, "--ident", "me", "--to", "server", "--persistent", db, "--timeout", "0.5",
                 "kept")
    assert result.returncode == 3 and b"1 messages stay in" in result.stderr
    proc, address = listener("--ident", "server", "--count", "2")
    result = cli("send", address, "--ident", "me", "--to", "server", "--persistent", db, "--json", "new")
    assert result.returncode == 0, result.stderr
    assert events(result)[-1]["acknowledged"] == 2
    assert sorted(proc.next("message")["data"] for _ in range(2)) == ["kept", "new"]


def test_send_with_an_ident_already_connected(links, listener):
    _, address = listener("--ident", "server")
    host, port = address[len("tcp://"):].rsplit(":", 1)
    link, _, messaging = links.stack("taken")
    connected: List[str] = []
    messaging.on_connect.add(lambda conn_id, ident: connected.append(ident))
    link.add_connector((host, int(port)))
    links.pump(lambda: connected == ["server"], WAIT, "the first 'taken' connected")
    proc = subprocess.Popen([sys.executable, "-m", "snakezmq", "ping", address, "--ident", "taken"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        links.pump(lambda: proc.poll() is not None, WAIT, "ping to finish")
    finally:
        out, _ = proc.communicate(timeout=WAIT)
    assert proc.returncode == 5 and b"ident 'taken' is taken" in out


def test_ping_reports_what_is_there(listener):
    _, address = listener("--ident", "server")
    result = cli("ping", address, "--json")
    assert result.returncode == 0, result.stdout
    final = events(result)[-1]
    assert final["ok"] and final["ident"] == "server" and final["messaging_version"] == 2
    assert final["rtt_ms"] > 0 and final["curve"] is False
    result = cli("ping", free_address())
    assert result.returncode == 3 and b"nothing listens there" in result.stdout


def test_ping_tells_a_foreign_service_apart(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(64)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        result = cli("ping", "127.0.0.1:%d" % server.getsockname()[1])
        thread.join(WAIT)
    assert result.returncode == 8 and b"not ZeroMQ" in result.stdout and b"HTTP/1.1" in result.stdout


def test_keys_then_curve_everywhere(listener, tmp_path):
    keys = str(tmp_path / "keys")
    result = cli("keys", keys, "alice", "--json")
    assert result.returncode == 0 and os.path.exists(os.path.join(keys, "clients", "alice.key_secret"))
    assert cli("keys", keys, "alice").returncode == 1  # never overwrites by surprise
    proc, address = listener("--ident", "server", "--curve", keys)
    result = cli("ping", address)
    assert result.returncode == 4 and b"requires CurveZMQ" in result.stdout
    result = cli("ping", address, "--curve", keys, "--ident", "alice", "--json")
    assert result.returncode == 0 and events(result)[-1]["curve"] is True
    result = cli("send", address, "--curve", keys, "--ident", "alice", "--to", "server", "secret")
    assert result.returncode == 0, result.stderr
    assert proc.next("message")["data"] == "secret"
    result = cli("send", address, "--ident", "alice", "--to", "server", "--timeout", "5", "plain")
    # ("requires CurveZMQ", or "may require CurveZMQ" when the listener hung up first)
    assert result.returncode == 4 and b"require" in result.stderr and b"CurveZMQ" in result.stderr


def test_progress_bar_on_a_terminal(listener):
    _, address = listener("--ident", "server")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "snakezmq", "send", address, "--ident", "me",
                                 "--to", "server", "--count", "2000", "x"],
                                stdout=subprocess.PIPE, stderr=slave, env=ENV)
        out, _ = proc.communicate(timeout=WAIT)
        os.close(slave)
        slave = -1
        terminal = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0 and b"2000 messages acknowledged" in out
    assert b"2000/2000 acknowledged" in terminal and b"[###" in terminal


def test_bench_runs_side_by_side():
    result = cli("bench", "--count", "300", "--rtt", "10", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    names = [e["name"] for e in events(result) if e["event"] == "result"]
    assert names[:3] == ["snakezmq tcp", "snakezmq tcp+CurveZMQ", "snakezmq ipc"]
    assert all(e["msg_per_s"] > 0 for e in events(result) if e["event"] == "result")
