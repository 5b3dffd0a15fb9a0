"""RPC on both backends: calls, return values, remote exceptions, signals, timeouts.

Regular calls block the calling thread until the reply arrives, so each side's
``link.loop()`` runs in its own thread here (as in snakemq's examples), and
the test thread makes the calls. Every call that should succeed has a timeout,
so a bug fails the test instead of hanging it.
"""
from __future__ import annotations

import pickle
import queue
import threading
from typing import Any, Callable, List, Optional

import pytest

from compat_helpers import WAIT, BlockedCalls, LoopSide

CALL_TIMEOUT = 10.0  #: budget of calls that are expected to succeed
SHORT_TIMEOUT = 0.5  #: budget of calls that are expected to time out


class CustomError(Exception):
    """A user exception; module level so that pickle can re-create it on the client."""


@pytest.fixture
def sides(backend, links):
    """``sides(ident)`` makes a LoopSide; every loop thread is stopped before the links are cleaned up."""
    made: List[LoopSide] = []

    def make(ident: str) -> LoopSide:
        side = LoopSide(backend.messaging, links, ident)
        made.append(side)
        return side

    yield make
    for side in made:
        side.stop()


def connect(server: LoopSide, client: LoopSide) -> None:
    address = server.link.add_listener(("127.0.0.1", 0))
    client.link.add_connector(address, reconnect_interval=0.1)


def make_service(rpc: Any) -> Any:
    """An object to register on the server, with the backend's ``as_signal``."""

    class Service:
        def __init__(self) -> None:
            self.signals: "queue.Queue[Any]" = queue.Queue()
            self.blocked = BlockedCalls()
            self.started = self.blocked.started
            self.lock = threading.Lock()
            self.calls = 0

        def add(self, a: int, b: int) -> int:
            return a + b

        def echo(self, *args: Any, **kwargs: Any) -> Any:
            return [list(args), kwargs]

        def fail(self, text: str) -> None:
            raise ValueError(text)

        def fail_custom(self) -> None:
            raise CustomError("custom", 42)

        def unpicklable(self) -> Any:
            return threading.Lock()  # pickle raises TypeError

        def slow(self) -> str:
            self.blocked.entered()
            return "slow"

        def slow_once(self) -> str:
            """Blocks on the first call only; later calls (retries) answer at once."""
            with self.lock:
                self.calls += 1
                first = self.calls == 1
            if first:
                self.blocked.entered()
                return "first"
            return "retry"

        @rpc.as_signal
        def notify(self, value: Any) -> None:
            self.signals.put(value)

    return Service()


class Pair:
    """A server and a client with RPC on top; ``start()`` runs both loops and waits for the connection."""

    def __init__(self, backend: Any, sides: Callable[[str], LoopSide]) -> None:
        self.rpc = backend.rpc
        self.server = sides("server")
        self.client = sides("client")
        self.rpc_server = backend.rpc.RpcServer(self.server.hook)
        self.rpc_client = backend.rpc.RpcClient(self.client.hook)
        self.service = make_service(backend.rpc)
        self.service.blocked.watch(self.server.messaging)
        self.rpc_server.register_object(self.service, "service")
        self.proxy = self.rpc_client.get_proxy("server", "service")
        connect(self.server, self.client)

    def start(self) -> "Pair":
        self.server.start()
        self.client.start()
        self.client.wait_peer("server")
        self.server.wait_peer("client")
        return self

    def method(self, name: str, timeout: Optional[float] = CALL_TIMEOUT) -> Any:
        method = getattr(self.proxy, name)
        method.set_timeout(timeout)
        return method


@pytest.fixture
def pair(backend, sides):
    pair = Pair(backend, sides)
    yield pair
    pair.service.blocked.release_and_wait()  # before the loops stop and the links are cleaned up


def in_thread(func: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``func`` in a thread now; the returned ``result()`` joins it and returns or raises."""
    outcome: List[Any] = []

    def run() -> None:
        try:
            outcome.append((True, func()))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def result() -> Any:
        thread.join(WAIT + CALL_TIMEOUT)
        assert not thread.is_alive(), "call did not finish"
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    result.thread = thread  # type: ignore[attr-defined]
    return result


def test_call_returns_value(pair):
    pair.start()
    assert pair.method("add")(1, 2) == 3
    assert pair.method("add")("a", "b") == "ab"
    assert pair.method("echo")() == [[], {}]


def test_call_passes_args_and_kwargs(pair):
    pair.start()
    value = {"nested": [1, 2.5, None, True], "bytes": b"\x00\xff"}
    assert pair.method("echo")(1, "two", b"3", value, key="word", other=None) == [
        [1, "two", b"3", value], {"key": "word", "other": None}]


def test_remote_exception_is_reraised_with_remote_traceback(pair):
    pair.start()
    with pytest.raises(ValueError, match="boom") as info:
        pair.method("fail")("boom")
    remote = getattr(info.value, pair.rpc.REMOTE_TRACEBACK_ATTR)
    assert info.value.__remote_traceback__ is remote
    assert isinstance(remote, str)
    assert "Traceback (most recent call last)" in remote
    assert "raise ValueError(text)" in remote
    assert "ValueError: boom" in remote


def test_user_exception_class_is_reraised(pair):
    pair.start()
    with pytest.raises(CustomError) as info:
        pair.method("fail_custom")()
    assert info.value.args == ("custom", 42)


def test_unpicklable_return_value_raises_pickle_error(pair):
    pair.start()
    with pytest.raises(pickle.PickleError):
        pair.method("unpicklable")()
    assert pair.method("add")(2, 2) == 4


def test_unknown_object_raises_no_instance_error(pair):
    pair.start()
    method = pair.rpc_client.get_proxy("server", "nothing").add
    method.set_timeout(CALL_TIMEOUT)
    with pytest.raises(pair.rpc.NoInstanceError) as info:
        method(1, 2)
    assert isinstance(info.value, pair.rpc.Error)
    assert not isinstance(info.value, pair.rpc.CallError)
    assert "nothing" in str(info.value)
    assert isinstance(info.value.__remote_traceback__, str)


def test_unknown_method_raises_no_method_error(pair):
    pair.start()
    with pytest.raises(pair.rpc.NoMethodError, match="no_such_method"):
        pair.method("no_such_method")()


def test_signal_is_delivered_and_returns_none(pair):
    pair.start()
    notify = pair.proxy.notify
    notify.as_signal(5)
    assert notify("hello") is None
    assert pair.service.signals.get(timeout=WAIT) == "hello"
    assert notify.signal_timeout == 5
    notify.as_signal(None)  # a regular method again
    assert notify.signal_timeout is None


def test_signal_sent_before_connection_is_delivered(pair):
    pair.client.start()  # server loop not running yet: the client is not connected
    notify = pair.proxy.notify
    notify.as_signal(WAIT)
    assert notify("early") is None
    pair.server.start()
    assert pair.service.signals.get(timeout=WAIT) == "early"


def test_call_waits_for_the_server_to_connect(pair):
    pair.client.start()  # the server listens but does not run its loop: nothing can connect
    result = in_thread(lambda: pair.method("add")(20, 22))
    assert result.thread.is_alive()  # type: ignore[attr-defined]
    pair.server.start()
    assert result() == 42


def test_call_without_server_raises_not_connected(backend, sides):
    client = sides("client")
    rpc_client = backend.rpc.RpcClient(client.hook)
    client.start()
    method = rpc_client.get_proxy("nobody", "service").add
    method.set_timeout(SHORT_TIMEOUT)
    assert method.call_timeout == SHORT_TIMEOUT
    with pytest.raises(backend.rpc.NotConnected):
        method(1, 2)


def test_slow_method_raises_partial_call_and_late_reply_is_discarded(pair):
    pair.start()
    with pytest.raises(pair.rpc.PartialCall):
        pair.method("slow", SHORT_TIMEOUT)()
    assert pair.service.started.is_set()
    pair.service.blocked.release.set()  # the late reply arrives and must not answer the next call
    assert pair.method("add")(1, 1) == 2
    assert pair.method("echo")("x") == [["x"], {}]


def test_slow_method_does_not_block_other_calls(pair):
    pair.start()
    slow = in_thread(pair.method("slow"))
    assert pair.service.started.wait(WAIT)
    assert pair.method("add")(3, 4) == 7
    pair.service.blocked.release.set()
    assert slow() == "slow"


def test_call_is_retried_after_the_server_reconnects(pair):
    pair.start()
    result = in_thread(pair.method("slow_once"))
    assert pair.service.started.wait(WAIT)
    pair.server.stop()
    pair.server.link.close(pair.server.peers["client"])
    pair.client.wait_peer("server", connected=False)
    pair.server.start()
    assert result() == "retry"


def test_server_disconnecting_mid_call_times_out_with_call_error(pair):
    pair.start()
    result = in_thread(pair.method("slow_once", 2.0))
    assert pair.service.started.wait(WAIT)
    pair.server.stop()
    pair.server.link.close(pair.server.peers["client"])
    pair.client.wait_peer("server", connected=False)
    # snakemq raises NotConnected here, snakezmq PartialCall (the request went out)
    with pytest.raises(pair.rpc.CallError):
        result()


def test_concurrent_calls_from_threads_get_their_own_answers(pair):
    pair.start()
    method = pair.method("echo")

    def worker(number: int) -> List[Any]:
        return [method(number, call) for call in range(25)]

    results = [in_thread(lambda number=number: worker(number)) for number in range(4)]
    for number, result in enumerate(results):
        assert result() == [[[number, call], {}] for call in range(25)]


def test_exception_handler_receives_remote_exceptions(pair):
    pair.start()
    handled: List[BaseException] = []
    pair.rpc_client.exception_handler = handled.append
    assert pair.method("fail")("handled") is None
    assert pair.method("no_such_method")() is None
    assert [type(exc) for exc in handled] == [ValueError, pair.rpc.NoMethodError]
    assert str(handled[0]) == "handled"
    assert "ValueError: handled" in handled[0].__remote_traceback__
    assert pair.method("add")(1, 2) == 3


def test_exception_handler_does_not_get_call_errors(backend, sides):
    client = sides("client")
    rpc_client = backend.rpc.RpcClient(client.hook)
    handled: List[BaseException] = []
    rpc_client.exception_handler = handled.append
    client.start()
    method = rpc_client.get_proxy("nobody", "service").add
    method.set_timeout(SHORT_TIMEOUT)
    with pytest.raises(backend.rpc.NotConnected):
        method(1, 2)
    assert handled == []


def test_registered_objects(pair):
    other = make_service(pair.rpc)
    pair.rpc_server.register_object(other, "other")
    assert pair.rpc_server.get_registered_objects() == {"service": pair.service, "other": other}
    pair.rpc_server.unregister_object("other")
    assert pair.rpc_server.get_registered_objects() == {"service": pair.service}
    with pytest.raises(KeyError):
        pair.rpc_server.unregister_object("other")
    assert pair.rpc_server.transfer_exceptions is True
    pair.start()
    method = pair.rpc_client.get_proxy("server", "other").add
    method.set_timeout(CALL_TIMEOUT)
    with pytest.raises(pair.rpc.NoInstanceError):
        method(1, 2)
    assert pair.method("add")(1, 2) == 3


def test_exception_hierarchy_and_constants(backend):
    rpc = backend.rpc
    assert issubclass(rpc.NoInstanceError, rpc.Error)
    assert issubclass(rpc.NoMethodError, rpc.Error)
    assert issubclass(rpc.CallError, rpc.Error)
    assert issubclass(rpc.NotConnected, rpc.CallError)
    assert issubclass(rpc.PartialCall, rpc.CallError)
    assert issubclass(rpc.SignalCallWarning, Warning)
    assert rpc.REQUEST_PREFIX == b"rpcreq"
    assert rpc.REPLY_PREFIX == b"rpcrep"
    assert rpc.REMOTE_TRACEBACK_ATTR == "__remote_traceback__"

    def method() -> None:
        pass

    assert rpc.as_signal(method) is method
