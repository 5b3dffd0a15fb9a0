"""snakezmq.rpc beyond snakemq: the msgpack pickler, thread safety, fixed snakemq problems.

The shared RPC behaviour is in compat_tests/test_rpc.py (both backends).
"""
from __future__ import annotations

import logging
import pickle
import random
import threading
import time
import warnings
from typing import Any, Callable, Dict, List

import pytest

import snakezmq.messaging
from compat_tests.compat_helpers import WAIT, BlockedCalls, LoopSide
from snakezmq import rpc
from snakezmq.message import Message
from snakezmq.messaging import ReceiveHook

PICKLERS = [pytest.param(pickle, id="pickle"), pytest.param(rpc.MsgpackPickler(), id="msgpack")]


class Service:
    def __init__(self) -> None:
        self.blocked = BlockedCalls()
        self.started = self.blocked.started
        self.signals: List[Any] = []

    def echo(self, *args: Any) -> Any:
        return list(args)

    def where(self) -> bool:
        return threading.current_thread().daemon

    def fail(self, text: str) -> None:
        raise ValueError(text)

    def fail_unpicklable(self) -> None:
        raise NeedsTwoArgs("a", "b")

    def fail_custom(self) -> None:
        raise CustomError("mine")

    def slow(self) -> str:
        self.blocked.entered()
        return "slow"

    def regular(self, value: Any) -> None:
        self.signals.append(value)


class CustomError(Exception):
    pass


class NeedsTwoArgs(Exception):
    """Pickles, but cannot be unpickled (``__init__`` needs two args, ``args`` holds one)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__("%s+%s" % (a, b))


class Pair:
    def __init__(self, links: Any, pickler: Any = pickle) -> None:
        self.server = LoopSide(snakezmq.messaging, links, "server")
        self.client = LoopSide(snakezmq.messaging, links, "client")
        self.rpc_server = rpc.RpcServer(self.server.hook, pickler=pickler)
        self.rpc_client = rpc.RpcClient(self.client.hook, pickler=pickler)
        self.service = Service()
        self.rpc_server.register_object(self.service, "service")
        self.service.blocked.watch(self.server.messaging)
        self.proxy = self.rpc_client.get_proxy("server", "service")
        address = self.server.link.add_listener(("127.0.0.1", 0))
        self.client.link.add_connector(address, reconnect_interval=0.1)
        self.server.start()
        self.client.start()
        self.client.wait_peer("server")
        self.server.wait_peer("client")

    def method(self, name: str, timeout: float = WAIT) -> rpc.RemoteMethod:
        method = getattr(self.proxy, name)
        method.set_timeout(timeout)
        return method

    def stop(self) -> None:
        self.service.blocked.release_and_wait()  # its reply goes out before the links are cleaned up
        self.client.stop()
        self.server.stop()


@pytest.fixture
def make_pair(links):
    made: List[Pair] = []

    def make(pickler: Any = pickle) -> Pair:
        made.append(Pair(links, pickler))
        return made[-1]

    yield make
    for pair in made:
        pair.stop()


# -- MsgpackPickler --------------------------------------------------------------------------

PLAIN = [None, True, False, 0, -1, 2 ** 63, -(2 ** 63), 1.5, float("inf"), "", "žluťoučký",
         b"", b"\x00\xff", [], [1, [2, [3]]], {}, {"a": 1, 2: "b", b"c": None, 1.5: [], None: 0},
         {"nested": {"list": [b"x", {"k": None}]}}]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_msgpack_round_trips_plain_data(value):
    pickler = rpc.MsgpackPickler()
    assert pickler.loads(pickler.dumps(value)) == value


def test_msgpack_turns_tuples_into_lists():
    pickler = rpc.MsgpackPickler()
    assert pickler.loads(pickler.dumps((1, (2, 3), {"t": ()}))) == [1, [2, 3], {"t": []}]


@pytest.mark.parametrize("exc", [ValueError("v"), KeyError("k"), FileNotFoundError(2, "gone"),
                                 ZeroDivisionError(), rpc.NoMethodError("m"), rpc.PartialCall(),
                                 rpc.RemoteError("x.Y", "why")], ids=repr)
def test_msgpack_recreates_allowlisted_exceptions(exc):
    back = rpc.msgpack_pickler.loads(rpc.msgpack_pickler.dumps({"exception": exc}))["exception"]
    assert type(back) is type(exc)
    assert back.args == exc.args


def test_msgpack_sends_other_exceptions_as_remote_error():
    back = rpc.msgpack_pickler.loads(rpc.msgpack_pickler.dumps(CustomError("mine", 1)))
    assert type(back) is rpc.RemoteError
    assert back.type_name == "%s.CustomError" % __name__
    assert back.message == "('mine', 1)"
    assert str(back) == "%s.CustomError: ('mine', 1)" % __name__


def test_msgpack_keeps_the_message_of_exceptions_with_non_plain_args():
    back = rpc.msgpack_pickler.loads(rpc.msgpack_pickler.dumps(ValueError(object)))
    assert type(back) is ValueError
    assert back.args == (str(ValueError(object)),)


@pytest.mark.parametrize("value", [object(), {1, 2}, frozenset(), {(1, 2): "tuple key"},
                                   2 ** 64, CustomError, len, Service(), [1, object()],
                                   {"deep": [{"x": threading.Lock()}]}], ids=repr)
def test_msgpack_refuses_non_plain_data(value):
    with pytest.raises(rpc.MsgpackPickler.PickleError):
        rpc.msgpack_pickler.dumps(value)


def test_msgpack_pickle_error_is_a_pickle_error():
    assert issubclass(rpc.MsgpackPickler.PickleError, pickle.PickleError)
    assert rpc.msgpack_pickler.PickleError is rpc.MsgpackPickler.PickleError


class Boom:
    def __reduce__(self) -> Any:
        return (exec, ("raise SystemExit('pickle ran code')",))


@pytest.mark.parametrize("data", [pickle.dumps(Boom()), b"", b"\xc1", b"\x92\x01",
                                  b"\xc7\x01\x05a", b"\xc7\x03\x01\x92\xa1a", b"\xd4\x01\x00"],
                         ids=repr)
def test_msgpack_refuses_garbage_and_never_runs_code(data):
    with pytest.raises(rpc.MsgpackPickler.PickleError):
        rpc.msgpack_pickler.loads(data)


@pytest.mark.parametrize("seed", range(20))
def test_msgpack_loads_raises_only_pickle_error_on_mutated_input(seed):
    rnd = random.Random(seed)
    valid = bytearray(rpc.msgpack_pickler.dumps(
        {"req_id": b"0123456789abcdef", "ok": False, "exception": KeyError("k"), "n": [1, 2.5]}))
    for _ in range(200):
        data = bytearray(valid)
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        try:
            rpc.msgpack_pickler.loads(bytes(data[:rnd.randint(0, len(data))]))
        except rpc.MsgpackPickler.PickleError:
            pass


# -- concurrency -------------------------------------------------------------------------------

@pytest.mark.parametrize("pickler", PICKLERS)
def test_many_threads_each_get_their_own_answers(make_pair, pickler):
    pair = make_pair(pickler)
    echo = pair.method("echo")
    results: Dict[int, List[Any]] = {}
    errors: List[BaseException] = []

    def worker(number: int) -> None:
        try:
            results[number] = [echo(number, call, "t%d-%d" % (number, call)) for call in range(200)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(number,), daemon=True) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a calling thread did not finish"
    assert errors == []
    for number in range(8):
        assert results[number] == [[number, call, "t%d-%d" % (number, call)] for call in range(200)]


# -- the msgpack pickler end to end ---------------------------------------------------------------

def test_msgpack_pickler_end_to_end(make_pair):
    pair = make_pair(rpc.MsgpackPickler())
    assert pair.method("echo")((1, 2), {"k": b"v"}) == [[1, 2], {"k": b"v"}]
    with pytest.raises(ValueError, match="boom") as info:
        pair.method("fail")("boom")
    assert "ValueError: boom" in info.value.__remote_traceback__
    with pytest.raises(rpc.RemoteError) as remote:
        pair.method("fail_custom")()
    assert remote.value.type_name == "%s.CustomError" % __name__
    assert "CustomError: mine" in remote.value.__remote_traceback__
    with pytest.raises(rpc.NoMethodError):
        pair.method("missing")()
    for value in (object(), {1, 2}):
        with pytest.raises(rpc.MsgpackPickler.PickleError):
            pair.method("echo")(value)  # refused on the client, nothing sent
    assert pair.method("echo")("after") == ["after"]


# -- problems of snakemq that snakezmq fixes ------------------------------------------------------

def test_server_runs_methods_in_daemon_threads_without_warnings(make_pair):
    pair = make_pair()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pair.method("where")() is True


def test_disconnect_mid_call_raises_partial_call(make_pair):
    pair = make_pair()
    outcome: List[Any] = []
    slow = pair.method("slow", 1.0)

    def call() -> None:
        try:
            outcome.append(slow())
        except rpc.CallError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert pair.service.started.wait(WAIT)
    pair.server.stop()
    pair.server.link.close(pair.server.peers["client"])
    pair.client.wait_peer("server", connected=False)
    thread.join(WAIT)
    assert not thread.is_alive()
    assert type(outcome[0]) is rpc.PartialCall  # snakemq 1.6: NotConnected


def test_unpicklable_exception_arrives_as_remote_error(make_pair):
    pair = make_pair()
    with pytest.raises(rpc.RemoteError) as info:
        pair.method("fail_unpicklable")()
    assert info.value.type_name == "%s.NeedsTwoArgs" % __name__
    assert info.value.message == "a+b"
    assert "NeedsTwoArgs: a+b" in info.value.__remote_traceback__


def test_transfer_exceptions_off_answers_with_a_generic_error(make_pair, caplog):
    pair = make_pair()
    pair.rpc_server.transfer_exceptions = False
    with caplog.at_level(logging.ERROR, logger="snakezmq.rpc.server"):
        with pytest.raises(rpc.Error) as info:
            pair.method("fail")("secret")
    assert type(info.value) is rpc.Error
    assert "secret" not in str(info.value)
    assert "transfer_exceptions" in str(info.value)
    logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert [(type(exc), str(exc)) for exc in logged] == [(ValueError, "secret")]


def test_regular_method_called_as_signal_warns_on_the_server(make_pair):
    pair = make_pair()
    regular = pair.proxy.regular
    regular.as_signal(WAIT)
    with warnings.catch_warnings(record=True) as caught:  # process-wide: sees the server thread
        warnings.simplefilter("always")
        assert regular("sig") is None
        wait_until(lambda: pair.service.signals == ["sig"])
    assert [w.category for w in caught] == [rpc.SignalCallWarning]


def test_malformed_requests_and_replies_are_logged_and_ignored(make_pair, caplog):
    pair = make_pair()
    garbage = [rpc.REQUEST_PREFIX + b"not a pickle", rpc.REQUEST_PREFIX + pickle.dumps([1, 2]),
               rpc.REQUEST_PREFIX + pickle.dumps({"command": "call", "object": "service",
                                                  "method": "echo", "args": [], "kwargs": {}})]
    with caplog.at_level(logging.ERROR, logger="snakezmq.rpc"):
        for data in garbage:
            pair.client.messaging.send_message("server", Message(data, ttl=WAIT))
        pair.server.messaging.send_message("client", Message(rpc.REPLY_PREFIX + b"\x00junk", ttl=WAIT))
        pair.server.messaging.send_message("client", Message(rpc.REPLY_PREFIX + pickle.dumps(5), ttl=WAIT))
        assert pair.method("echo")("still works") == ["still works"]
        wait_until(lambda: len(caplog.records) >= 5)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("undecodable request" in text for text in messages) == 1
    assert sum("malformed request" in text for text in messages) == 2
    assert sum("undecodable reply" in text for text in messages) == 1
    assert sum("malformed reply" in text for text in messages) == 1


def test_set_timeout_refuses_non_positive_values(make_pair):
    pair = make_pair()
    method = pair.proxy.echo
    for bad in (0, -1):
        with pytest.raises(ValueError):
            method.set_timeout(bad)
    method.set_timeout(None)
    assert method.call_timeout is None


def test_proxy_does_not_turn_dunders_into_remote_methods(make_pair):
    pair = make_pair()
    assert not hasattr(pair.proxy, "__deepcopy__")
    assert isinstance(pair.proxy._private, rpc.RemoteMethod)
    assert pair.proxy.echo is pair.proxy.echo
    clone = pair.proxy.echo.clone()
    assert clone is not pair.proxy.echo and clone.name == "echo"


# -- the server's threads: one per running request, reused when idle ---------------------------------

def idle_workers(workers: Any, count: int) -> Callable[[], bool]:
    return lambda: len(workers._idle) == count


def test_workers_reuse_an_idle_thread():
    ran: List[int] = []
    workers = rpc._Workers(lambda ident, params: ran.append(threading.get_ident()))
    for number in range(3):
        workers.submit("client", {"object": "o", "method": "m%d" % number})
        wait_until(idle_workers(workers, 1))
    assert len(ran) == 3 and len(set(ran)) == 1


def test_workers_start_a_thread_for_each_request_while_none_is_idle():
    """Methods that wait for each other never deadlock: no bound on the threads."""
    both = threading.Barrier(2, timeout=WAIT)
    threads: List[int] = []

    def run(ident: str, params: Dict[str, Any]) -> None:
        both.wait()  # returns only once the two requests run at the same time
        threads.append(threading.get_ident())

    workers = rpc._Workers(run)
    workers.submit("a", {"object": "o", "method": "first"})
    workers.submit("b", {"object": "o", "method": "second"})
    wait_until(idle_workers(workers, 2))
    assert len(set(threads)) == 2


def test_an_idle_worker_ends_after_its_idle_time(monkeypatch):
    monkeypatch.setattr(rpc._Workers, "IDLE_SECONDS", 0.05)
    ran: List[threading.Thread] = []
    workers = rpc._Workers(lambda ident, params: ran.append(threading.current_thread()))
    workers.submit("client", {"object": "service", "method": "echo"})
    wait_until(lambda: bool(ran))
    assert ran[0].name == "rpc:service.echo"
    wait_until(lambda: not ran[0].is_alive())
    assert workers._idle == []
    workers.submit("client", {"object": "service", "method": "again"})  # a new thread again
    wait_until(lambda: len(ran) == 2)
    assert ran[1] is not ran[0] and ran[1].name == "rpc:service.again"


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``predicate`` until it holds; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached within %.1fs" % timeout
        time.sleep(0.01)
