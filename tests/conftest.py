"""Shared fixtures for snakezmq's own tests: Link tracking, pump(), subprocess peers.

No fixed sleeps: ``pump`` runs the loops until a condition holds or a deadline passes.
Test modules use the fixtures (``links``, ``peers``) and never ``import conftest``:
compat_tests/ has a conftest.py too, and which one ``import conftest`` finds depends
on the order pytest loaded them.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import pytest

from compat_tests.compat_helpers import pump, pump_for

PEER_SCRIPT = os.path.join(os.path.dirname(__file__), "integration", "peer.py")


class Links:
    """Creates snakezmq Links (or whole stacks), pumps them, cleans them all up at the end."""

    def __init__(self) -> None:
        self.created: List[Any] = []
        self.live: List[Any] = []  #: the links ``pump`` runs (not yet retired)
        self.storages: List[Any] = []  #: closed after the links (an open database is a leak)

    def new(self) -> Any:
        import snakezmq.link

        link = snakezmq.link.Link()
        self.created.append(link)
        self.live.append(link)
        return link

    def stack(self, ident: str, storage: Any = None) -> tuple:
        """Link + Packeter + Messaging, the usual snakemq stack."""
        import snakezmq.messaging
        import snakezmq.packeter

        link = self.new()
        packeter = snakezmq.packeter.Packeter(link)
        messaging = snakezmq.messaging.Messaging(ident, "", packeter, storage)
        if storage is not None:
            self.storages.append(storage)
        return link, packeter, messaging

    def record(self, messaging: Any) -> "Recorder":
        return Recorder(messaging)

    def retire(self, link: Any) -> None:
        """``link.cleanup()``, and stop pumping it."""
        link.cleanup()
        if link in self.live:
            self.live.remove(link)

    def pump(self, until: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        """Run every live link's loop until ``until()`` holds; fail after ``timeout`` seconds."""
        pump(self.live, until, timeout, what)

    def pump_for(self, seconds: float) -> None:
        pump_for(self.live, seconds)

    def cleanup_all(self) -> None:
        """Clean up every link, even if one cleanup raises (a user callback); then re-raise."""
        errors = []
        for link in self.created:
            try:
                link.cleanup()  # idempotent in snakezmq
            except Exception as exc:
                errors.append(exc)
        self.created.clear()
        self.live.clear()
        for storage in self.storages:
            storage.close()  # idempotent
        self.storages.clear()
        if errors:
            raise errors[0]


@pytest.fixture
def links() -> Iterable[Links]:
    tracker = Links()
    yield tracker
    tracker.cleanup_all()




class Recorder:
    """Records a Messaging's callbacks as tuples in ``events``."""

    def __init__(self, messaging: Any) -> None:
        self.events: List[tuple] = []
        messaging.on_connect.add(lambda c, i: self.events.append(("connect", c, i)))
        messaging.on_disconnect.add(lambda c, i: self.events.append(("disconnect", c, i)))
        messaging.on_message_recv.add(lambda c, i, m: self.events.append(("recv", c, i, m)))
        messaging.on_error.add(lambda c, e: self.events.append(("error", c, e)))

    def of(self, kind: str) -> List[tuple]:
        return [e for e in self.events if e[0] == kind]

    def connected(self, ident: str) -> bool:
        return any(e[2] == ident for e in self.of("connect"))

    def received(self) -> List[bytes]:
        return [e[3].data for e in self.of("recv")]


class Peer:
    """A snakezmq peer in a subprocess (tests/integration/peer.py), events as JSON lines."""

    def __init__(self, args: List[str], prefix: Sequence[str] = (), script: str = PEER_SCRIPT) -> None:
        """``prefix``: a command that runs the rest, e.g. ``ip netns exec NAME`` (it must exec);
        ``script``: peer.py, or another peer script (pattern_peer.py)."""
        import snakezmq

        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(snakezmq.__file__)))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([*prefix, sys.executable, "-u", script] + args, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events: List[Dict[str, Any]] = []
        self._queue: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        self._stderr: List[str] = []
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            try:
                self._queue.put(json.loads(line))
            except ValueError:
                self._stderr.append("stdout: " + line)
        self._queue.put(None)

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self._stderr.append(line)

    def _drain(self) -> None:
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                return
            if event is not None:
                self.events.append(event)

    def of(self, kind: str) -> List[Dict[str, Any]]:
        self._drain()
        return [e for e in self.events if e["event"] == kind]

    def drain(self) -> List[Dict[str, Any]]:
        """Every event so far (``events``, after reading what arrived)."""
        self._drain()
        return self.events

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, predicate: Callable[[List[Dict[str, Any]]], Any], links: Any = (),
                 timeout: float = 10.0, what: str = "peer event") -> Any:
        """Pump ``links`` (a ``Links`` tracker or a list) until ``predicate(self.events)`` holds."""
        result: List[Any] = []

        def done() -> bool:
            self._drain()
            value = predicate(self.events)
            if value:
                result.append(value)
                return True
            if self.proc.poll() is not None and self._queue.empty():
                self._drain()
                raise AssertionError("peer exited (%s) before %s; stderr:\n%s"
                                     % (self.proc.returncode, what, "".join(self._stderr)))
            return False

        links = list(links.live if isinstance(links, Links) else links)
        if links:
            pump(links, done, timeout, what)
        else:
            deadline = time.monotonic() + timeout
            while not done():
                if time.monotonic() > deadline:
                    raise AssertionError("timed out after %.1fs waiting for %s; stderr:\n%s"
                                         % (timeout, what, "".join(self._stderr)))
                time.sleep(0.01)
        return result[0]

    def wait_event(self, kind: str, links: Any = (), timeout: float = 10.0,
                   **fields: Any) -> Dict[str, Any]:
        def find(events: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
            for event in events:
                if event["event"] == kind and all(event.get(k) == v for k, v in fields.items()):
                    return event
            return None
        return self.wait_for(find, links, timeout, "peer event %s %r" % (kind, fields))

    def command(self, **cmd: Any) -> None:
        """Send a JSON command line (see peer.py) to the peer's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to say goodbye. Returns once everything it
        printed before has been read (its stdout reader reached the end)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._threads[0].join(10)

    def close(self) -> None:
        """Kill if still running, wait, close the pipes."""
        self.kill()
        for thread in self._threads:
            thread.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def stderr(self) -> str:
        return "".join(self._stderr)


@pytest.fixture
def peers() -> Iterable[Callable[..., Peer]]:
    """``peers(*args, prefix=(), script=PEER_SCRIPT)`` starts tests/integration/peer.py (or
    ``script``); every peer is killed and waited at the end."""
    started: List[Peer] = []

    def start(*args: str, prefix: Sequence[str] = (), script: str = PEER_SCRIPT) -> Peer:
        peer = Peer(list(args), prefix, script)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.close()


#: set by .ci/run once PostgreSQL is installed: then a server that does not start fails the tests
REQUIRE_POSTGRES = "SNAKEZMQ_REQUIRE_POSTGRES"


@pytest.fixture(scope="session")
def postgres_url() -> Iterable[str]:
    """SQLAlchemy URL of a PostgreSQL server started for this session (tests/pgserver.py).

    Skipped, with the reason in pytest's summary, when no server can be had here;
    a failure instead when ``SNAKEZMQ_REQUIRE_POSTGRES=1`` (so CI cannot skip silently).
    """
    from tests.pgserver import PostgresServer, Unavailable

    server = PostgresServer()
    try:
        server.start()
    except Unavailable as exc:
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail("PostgreSQL is required (%s=1) but cannot be started: %s" % (REQUIRE_POSTGRES, exc))
        pytest.skip("no PostgreSQL server for the SQLAlchemy storage tests: %s" % exc)
    try:
        yield server.url
    finally:
        server.stop()
