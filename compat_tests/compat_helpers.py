"""Helpers for the compat battery (importable from test modules; conftest.py builds on them)."""
from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple

if TYPE_CHECKING:
    from conftest import Links

BACKENDS = ["snakemq", "snakezmq"]  #: what every compat test runs against (conftest.py)
#: a subset of BACKENDS to run, comma-separated (unset: all); ./run-tests sets it to snakezmq
#: for the version matrix, where snakemq 1.6 on another Python proves nothing about snakezmq
BACKENDS_VARIABLE = "SNAKEZMQ_COMPAT_BACKENDS"


def selected_backends(setting: Optional[str]) -> List[str]:
    """The backends named by ``setting`` (the value of $SNAKEZMQ_COMPAT_BACKENDS), in
    BACKENDS' order; all of them when it is None (unset). ValueError for a name not in
    BACKENDS or a setting that names none: a typo must not skip a backend silently."""
    if setting is None:
        return list(BACKENDS)
    names = [name for name in re.split(r"[\s,]+", setting) if name]
    unknown = [name for name in names if name not in BACKENDS]
    if unknown or not names:
        raise ValueError("%s=%r: %s (the backends: %s; comma-separated, unset means all)" % (
            BACKENDS_VARIABLE, setting, "unknown backend %s" % ", ".join(map(repr, unknown))
            if unknown else "it names no backend", ", ".join(BACKENDS)))
    return [name for name in BACKENDS if name in names]


def pump(links: Iterable[Any], until: Callable[[], bool], timeout: float = 5.0,
         what: str = "condition") -> None:
    """Run each link's loop in turn (public API only) until ``until()`` holds; fail at the
    deadline. tests/ uses it too (``from compat_tests.compat_helpers import pump``)."""
    links = list(links)
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        for link in links:
            link.loop(poll_timeout=0.01, runtime=0.01)


def pump_for(links: Iterable[Any], seconds: float) -> None:
    """Run the loops for a fixed time (for 'nothing else happens' checks only)."""
    links = list(links)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for link in links:
            link.loop(poll_timeout=0.01, runtime=0.01)


def record(obj: object, *names: str) -> Dict[str, List[tuple]]:
    """Subscribe to callback attributes with ``.add``; returns name: [args of each call]."""
    events: Dict[str, List[tuple]] = {}
    for name in names:
        calls: List[tuple] = []
        events[name] = calls
        getattr(obj, name).add(lambda *args, _calls=calls: _calls.append(args))
    return events


def live(connects: List[tuple], disconnects: List[tuple]) -> List[tuple]:
    """Connect events not followed by a disconnect of the same conn id."""
    gone = [args[0] for args in disconnects]
    return [args for args in connects if args[0] not in gone]


class RawEnd:
    """A bare Link that records its callbacks and sends whole buffers despite partial writes."""

    def __init__(self, links: Links) -> None:
        self.link = links.new()
        self.events = record(self.link, "on_connect", "on_disconnect", "on_recv")
        self._unsent: Dict[Any, bytes] = {}
        self.link.on_ready_to_send.add(self._ready_to_send)

    @property
    def conns(self) -> List[Any]:
        return [args[0] for args in live(self.events["on_connect"], self.events["on_disconnect"])]

    def received(self, conn_id: Any) -> bytes:
        return b"".join(data for conn, data in self.events["on_recv"] if conn == conn_id)

    def send(self, conn_id: Any, data: bytes) -> None:
        self._unsent[conn_id] = data
        self.link.send(conn_id, data)

    def _ready_to_send(self, conn_id: Any, last_send_size: int) -> None:
        rest = self._unsent.pop(conn_id, b"")[last_send_size:]
        if rest:
            self.send(conn_id, rest)


class Peer:
    """Link + Packeter + Messaging with recorded Messaging callbacks."""

    def __init__(self, links: Links, ident: str, storage=None) -> None:
        self.backend = links.backend
        self.ident = ident
        self.address: Optional[Tuple[str, int]] = None
        self.link, self.packeter, self.messaging = links.stack(ident, storage)
        self.events = record(self.messaging, "on_connect", "on_disconnect", "on_message_recv",
                             "on_message_sent", "on_message_drop", "on_error")

    @property
    def connected(self) -> Dict[str, Any]:
        """ident: conn_id of the connections that are up now."""
        return {ident: conn for conn, ident in live(self.events["on_connect"],
                                                    self.events["on_disconnect"])}

    def received(self, ident: Optional[str] = None) -> List[Any]:
        return [message for _, sender, message in self.events["on_message_recv"]
                if ident is None or sender == ident]

    def data(self, ident: Optional[str] = None) -> List[bytes]:
        return [message.data for message in self.received(ident)]

    def listen(self) -> Tuple[str, int]:
        """Listen on a free port of 127.0.0.1; the address is also kept in ``self.address``."""
        self.address = self.link.add_listener(("127.0.0.1", 0))
        return self.address

    def connect(self, address: Tuple[str, int], reconnect_interval: float = 0.2):
        return self.link.add_connector(address, reconnect_interval=reconnect_interval)

    def send(self, ident: str, data: bytes = b"x", ttl: Optional[float] = 600, flags: int = 0,
             uuid: Optional[bytes] = None):
        message = self.backend.message.Message(data, ttl=ttl, flags=flags, uuid=uuid)
        self.messaging.send_message(ident, message)
        return message


class LoopThread:
    """Runs ``link.loop()`` in a background thread until ``stop()``; re-raises loop errors."""

    def __init__(self, link: Any, poll_timeout: float = 0.05) -> None:
        self.link = link
        self.poll_timeout = poll_timeout
        self.errors: List[BaseException] = []
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.link.loop(poll_timeout=self.poll_timeout, runtime=0.2)
        except BaseException as exc:  # reported by stop()
            self.errors.append(exc)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and wake until the thread ends (snakemq ignores a stop() before loop())."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        while self.thread.is_alive() and time.monotonic() < deadline:
            self.link.stop()
            self.link.wakeup_poll()
            self.thread.join(0.05)
        assert not self.thread.is_alive(), "loop thread did not stop within %.1fs" % timeout
        if self.errors:
            raise self.errors[0]


def wait_for(until: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait (without pumping: loops run in threads) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(0.01)


WAIT = 10.0  #: deadline for waiting on events


class BlockedCalls:
    """Server methods that block until released, and whether their replies went out.

    A blocking method calls ``entered()``; ``watch(messaging)`` notes each thread that hands
    a message to the server's Messaging. ``release_and_wait()`` lets the methods return and
    waits until each one's thread sent its reply or ended, so the reply goes out before the
    links are cleaned up. (Not joining the thread: snakezmq reuses it for later requests.)
    """

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.threads: List[threading.Thread] = []  #: threads that ran a blocking method
        self._replied: List[threading.Thread] = []
        self._changed = threading.Condition()

    def entered(self) -> None:
        """In a blocking method: note its thread, then wait for ``release``."""
        with self._changed:
            self.threads.append(threading.current_thread())
        self.started.set()
        self.release.wait(WAIT)

    def watch(self, messaging: Any) -> None:
        send_message = messaging.send_message

        def sending(ident: str, message: Any) -> None:
            send_message(ident, message)
            with self._changed:
                self._replied.append(threading.current_thread())
                self._changed.notify_all()

        messaging.send_message = sending

    def release_and_wait(self) -> None:
        self.release.set()
        with self._changed:
            done = self._changed.wait_for(lambda: all(
                thread in self._replied or not thread.is_alive() for thread in self.threads), WAIT)
        assert done, "a server method did not finish"


class LoopSide:
    """One peer: Link + Packeter + Messaging + ReceiveHook, its loop in a background thread
    (RPC tests: a call blocks its thread until the reply). ``messaging_module``: the
    backend's messaging module (for ReceiveHook)."""

    def __init__(self, messaging_module: Any, links: Any, ident: str) -> None:
        self.link, self.packeter, self.messaging = links.stack(ident)
        self.hook = messaging_module.ReceiveHook(self.messaging)
        self.peers: Dict[str, str] = {}  #: connected ident: conn_id
        self._changed = threading.Condition()
        self.messaging.on_connect.add(self._on_connect)
        self.messaging.on_disconnect.add(self._on_disconnect)
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self._error: List[BaseException] = []

    def _on_connect(self, conn_id: str, ident: str) -> None:
        with self._changed:
            self.peers[ident] = conn_id
            self._changed.notify_all()

    def _on_disconnect(self, conn_id: str, ident: str) -> None:
        with self._changed:
            if self.peers.get(ident) == conn_id:
                del self.peers[ident]
            self._changed.notify_all()

    def wait_peer(self, ident: str, connected: bool = True) -> None:
        with self._changed:
            ok = self._changed.wait_for(lambda: (ident in self.peers) == connected, WAIT)
        assert ok, "%s: %s did not %s" % (self.messaging.identifier, ident,
                                           "connect" if connected else "disconnect")

    def start(self) -> None:
        """Run the loop in a thread (in short slices: snakemq ignores a stop() before loop())."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="loop-%s" % self.messaging.identifier)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.link.loop(poll_timeout=0.02, runtime=0.1)
        except BaseException as exc:
            self._error.append(exc)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self.link.stop()
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "loop thread did not stop"
        self._thread = None
        if self._error:
            raise self._error.pop()
