"""One battery, two backends: every test runs against real snakemq 1.6 and snakezmq.

Tests touch only the public API, through the ``backend`` namespace.
``SNAKEZMQ_COMPAT_BACKENDS=snakezmq`` runs the battery against snakezmq alone (./run-tests'
version matrix does); a name that is not a backend is a usage error.
"""
from __future__ import annotations

import importlib
import os
import threading
import types
from typing import Callable, Iterable, List, Optional, Tuple

import pytest

from compat_helpers import BACKENDS, BACKENDS_VARIABLE, Peer, RawEnd, pump, pump_for, selected_backends

try:
    SELECTED = selected_backends(os.environ.get(BACKENDS_VARIABLE))
    SELECTION_ERROR = None
except ValueError as exc:
    SELECTED, SELECTION_ERROR = list(BACKENDS), str(exc)


def pytest_configure(config: pytest.Config) -> None:
    if SELECTION_ERROR is not None:
        raise pytest.UsageError(SELECTION_ERROR)


class Backend:
    """``backend.link``, ``backend.messaging``, ...: the backend's modules, imported on use.

    A missing backend fails loudly (never skips: a skipped backend is a test
    that cannot fail).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, module: str) -> types.ModuleType:
        if module.startswith("__"):
            raise AttributeError(module)
        try:
            loaded = importlib.import_module("%s.%s" % (self.name, module))
        except ImportError as exc:
            raise RuntimeError("backend %r: cannot import %s.%s (%s); run: pip install -e .[test]"
                               % (self.name, self.name, module, exc)) from exc
        setattr(self, module, loaded)
        return loaded


@pytest.fixture(params=SELECTED)
def backend(request: pytest.FixtureRequest) -> Backend:
    return Backend(request.param)


class Links:
    """Creates Links and cleans them all up at the end of a test."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.created: List[object] = []

    def new(self):
        link = self.backend.link.Link()
        self.created.append(link)
        return link

    def stack(self, ident: str, storage=None):
        """Link + Packeter + Messaging, the usual snakemq stack."""
        link = self.new()
        packeter = self.backend.packeter.Packeter(link)
        messaging = self.backend.messaging.Messaging(ident, "", packeter, storage)
        return link, packeter, messaging

    def cleanup(self, link) -> None:
        """``link.cleanup()`` now, and no pumping or second cleanup of it afterwards."""
        self.created.remove(link)
        link.cleanup()

    def raw(self) -> "RawEnd":
        return RawEnd(self)

    def peer(self, ident: str, storage=None) -> "Peer":
        return Peer(self, ident, storage)

    def pair(self, server: str = "server", client: str = "client") -> "Tuple[Peer, Peer]":
        """A listening and a connecting Messaging peer, connected to each other."""
        listener, connector = self.peer(server), self.peer(client)
        connector.connect(listener.listen())
        self.pump(lambda: client in listener.connected and server in connector.connected,
                  what="%s and %s to connect" % (server, client))
        return listener, connector

    def pump(self, until: Callable[[], bool], timeout: float = 5.0, what: str = "condition",
             only: Optional[Iterable[object]] = None) -> None:
        """``pump()`` over ``only`` or every link this test created and did not clean up."""
        pump(self.created if only is None else only, until, timeout, what)

    def pump_for(self, seconds: float, only: Optional[Iterable[object]] = None) -> None:
        pump_for(self.created if only is None else only, seconds)

    def cleanup_all(self) -> None:
        for link in self.created:
            try:
                link.cleanup()
            except Exception:  # already cleaned up by the test, or snakemq's second-cleanup OSError
                pass
        self.created.clear()


@pytest.fixture
def links(backend, monkeypatch):
    tracker = Links(backend)
    if backend.name == "snakemq":
        leaked = close_snakemq_connector_sockets(monkeypatch, backend.link)
    yield tracker
    tracker.cleanup_all()
    if backend.name == "snakemq":
        for sock in leaked:
            sock.close()


def close_snakemq_connector_sockets(monkeypatch: pytest.MonkeyPatch, link_module) -> List[object]:
    """The sockets snakemq 1.6 leaks, to be closed at the end of the test.

    Its ``LinkSocket.close()`` gives a connector a fresh socket for the next attempt,
    and ``del_connector`` / ``cleanup`` drop that one unclosed (a ResourceWarning in
    its finalizer, which pytest turns into an error in whichever test runs then).
    """
    made: List[object] = []
    close = link_module.LinkSocket.close

    def close_and_note(sock) -> None:
        close(sock)
        if sock.is_connector:
            made.append(sock.sock)

    monkeypatch.setattr(link_module.LinkSocket, "close", close_and_note)
    return made




def run_thread(target: Callable[[], None], timeout: float = 10.0) -> threading.Thread:
    """Start ``target`` in a thread; the caller joins it with ``join_thread``."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def join_thread(thread: threading.Thread, timeout: float = 10.0) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), "thread did not finish within %.1fs" % timeout
