"""Remote procedure calls over Messaging, with snakemq 1.6's API and payload format.

A server registers objects under names; a client gets a proxy for
``(remote_ident, name)`` and calls its methods as if they were local. Requests
are Messaging messages whose data is ``b"rpcreq" + pickler.dumps(params)``,
replies are ``b"rpcrep" + pickler.dumps(result)``, as in snakemq.

Security: the default ``pickler=pickle`` lets **any peer that can connect run
code of its choice** in the receiving process (unpickling executes code). Use
``pickler=MsgpackPickler()`` on both sides to exchange plain data only, and
restrict who can connect (CurveZMQ, see ``zmq.auth``).

Threads: server methods run in their own daemon thread (a slow method never
holds up the loop or other calls); regular client calls block the calling
thread, so the Link loop must run in another thread.
"""
from __future__ import annotations

import logging
import pickle
import threading
import time
import warnings
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

from ._msgpack_pickler import MsgpackPickleError as MsgpackPickleError  # re-exported
from ._msgpack_pickler import MsgpackPickler as MsgpackPickler  # re-exported
from ._msgpack_pickler import msgpack_pickler as msgpack_pickler  # re-exported
from ._msgpack_pickler import register_exceptions as _register_exceptions
from ._msgpack_pickler import safe_str as _safe_str
from ._msgpack_pickler import type_name as _type_name
from ._rpc_calls import PendingCall as _PendingCall
from ._rpc_calls import format_traceback as _format_traceback
from ._rpc_calls import request_problem as _request_problem
from ._rpc_workers import Workers as _Workers
from .message import Message, new_uuid

REQUEST_PREFIX = b"rpcreq"
REPLY_PREFIX = b"rpcrep"
#: snakemq's attribute name (sic), so objects decorated by either library work with both
METHOD_RPC_AS_SIGNAL_ATTR = "__snakemw_rpc_as_signal"
REMOTE_TRACEBACK_ATTR = "__remote_traceback__"

get_time = time.monotonic  #: the clock of call timeouts (a module attribute, as in snakemq, for patching)

F = TypeVar("F", bound=Callable[..., Any])


class Error(Exception):
    pass


class NoInstanceError(Error):
    """No object is registered under the requested name."""


class NoMethodError(Error):
    """The registered object has no such method."""


class SignalCallWarning(Warning):
    """A signal method was called normally, or a regular method as a signal."""


class CallError(Error):
    pass


class NotConnected(CallError):
    """The call timed out before the request could be sent: the peer never connected."""


class PartialCall(CallError):
    """The call timed out after the request was sent (slow method, or the peer disconnected).

    The remote method may or may not have run.
    """


class RemoteError(Error):
    """A remote exception that cannot be re-created as its own class on this side.

    ``type_name`` is the remote class (``module.QualName``), ``message`` its ``str()``.
    """

    def __init__(self, type_name: str, message: str = "") -> None:
        super().__init__(type_name, message)
        self.type_name = type_name
        self.message = message

    def __str__(self) -> str:
        return "%s: %s" % (self.type_name, self.message) if self.message else self.type_name


# MsgpackPickler re-creates these by name; any other exception arrives as RemoteError
_register_exceptions([Error, NoInstanceError, NoMethodError, CallError, NotConnected, PartialCall],
                     RemoteError)


def as_signal(method: F) -> F:
    """Mark a server method as a signal (no reply; the client uses ``method.as_signal(ttl)``).

    Put it on top of other decorators: it marks the function with an attribute.
    """
    setattr(method, METHOD_RPC_AS_SIGNAL_ATTR, True)
    return method


# -- server -------------------------------------------------------------------------------------

class RpcServer:
    """Calls methods of registered objects on request of RpcClients.

    Each request runs in a daemon thread of its own (an idle one is reused), so a
    slow method never blocks the loop or other calls (a bounded pool could deadlock
    methods that wait for each other). Registering and unregistering are not
    synchronised with running calls, as in snakemq.

    With the default ``pickler=pickle`` any peer that can connect can run
    arbitrary code here; see the module docstring and :class:`MsgpackPickler`.
    """

    def __init__(self, receive_hook: Any, pickler: Any = pickle) -> None:
        self.log = logging.getLogger("snakezmq.rpc.server")
        self.receive_hook = receive_hook
        self.pickler = pickler
        self.instances: Dict[str, Any] = {}
        #: send exceptions of regular calls back to the client (else: log them, reply a generic Error)
        self.transfer_exceptions = True
        self._workers = _Workers(self._run_request)
        receive_hook.register(REQUEST_PREFIX, self.on_recv)

    def register_object(self, instance: Any, name: str) -> None:
        self.instances[name] = instance

    def unregister_object(self, name: str) -> None:
        """Raises KeyError if nothing is registered under ``name``."""
        del self.instances[name]

    def get_registered_objects(self) -> Dict[str, Any]:
        """The registry itself (``{name: instance}``), as in snakemq."""
        return self.instances

    def on_recv(self, dummy_conn_id: str, ident: str, message: Message) -> None:
        """ReceiveHook callback: decode a request and hand it to a thread."""
        try:
            params = self.pickler.loads(message.data[len(REQUEST_PREFIX):])
        except Exception as exc:  # codec boundary: pickle raises almost anything on garbage
            self.log.error("ident=%r sent an undecodable request: %r", ident, exc)
            return
        problem = _request_problem(params)
        if problem:
            self.log.error("ident=%r sent a malformed request (%s)", ident, problem)
            return
        self._workers.submit(ident, params)

    def _run_request(self, ident: str, params: Dict[str, Any]) -> None:
        try:
            self.call_method(ident, params)
        except Exception:  # e.g. the Link was cleaned up meanwhile: log, never kill the thread noisily
            self.log.exception("request %s.%s from ident=%r: cannot send the reply",
                               params["object"], params["method"], ident)

    def call_method(self, ident: str, params: Dict[str, Any]) -> None:
        """Run one request (in a worker thread) and send the reply of a regular call."""
        is_call = params["command"] == "call"
        self.log.debug("%s ident=%r obj=%r method=%r", params["command"], ident,
                       params["object"], params["method"])
        try:
            method = self._find_method(params["object"], params["method"])
            if is_call == hasattr(method, METHOD_RPC_AS_SIGNAL_ATTR):
                warnings.warn("wrong command match for %r" % method, SignalCallWarning)
            result = method(*params["args"], **params["kwargs"])
        except Exception as exc:
            self._method_failed(ident, params, exc)
            return
        if is_call:
            try:
                self.send_return(ident, params["req_id"], result)
            except self.pickler.PickleError as exc:  # unencodable result: the client gets this
                self.send_exception(ident, params["req_id"], exc)

    def _find_method(self, object_name: str, method_name: str) -> Callable[..., Any]:
        try:
            instance = self.instances[object_name]
        except KeyError:
            raise NoInstanceError(object_name) from None
        try:
            method: Callable[..., Any] = getattr(instance, method_name)
        except AttributeError:
            raise NoMethodError(method_name) from None
        return method

    def _method_failed(self, ident: str, params: Dict[str, Any], exc: Exception) -> None:
        where = "%s.%s from ident=%r" % (params["object"], params["method"], ident)
        if params["command"] != "call":
            self.log.error("signal %s raised", where, exc_info=exc)
        elif self.transfer_exceptions:
            self.send_exception(ident, params["req_id"], exc)
        else:
            self.log.error("call %s raised", where, exc_info=exc)
            self.send_exception(ident, params["req_id"], Error(
                "the remote method raised an exception; the server does not transfer "
                "exceptions (RpcServer.transfer_exceptions is False)"))

    def send_exception(self, ident: str, req_id: bytes, exc: BaseException) -> None:
        """Reply with ``exc``; one that cannot be encoded is sent as :class:`RemoteError`."""
        reply = {"req_id": req_id, "ok": False, "exception": exc,
                 "exception_format": _format_traceback(exc)}
        try:
            data = self.pickler.dumps(reply)
            self.pickler.loads(data)  # e.g. a pickled exception whose __init__ needs other args
        except Exception:
            self.log.warning("exception %s cannot be sent as it is: sending it as RemoteError",
                             _type_name(type(exc)))
            reply["exception"] = RemoteError(_type_name(type(exc)), _safe_str(exc))
            data = self.pickler.dumps(reply)
        self._send_data(ident, data)

    def send_return(self, ident: str, req_id: bytes, res: Any) -> None:
        self.send(ident, {"ok": True, "return": res, "req_id": req_id})

    def send(self, ident: str, data: Dict[str, Any]) -> None:
        """Encode and send a reply. Raises ``pickler.PickleError`` if it cannot be encoded."""
        try:
            raw = self.pickler.dumps(data)
        except self.pickler.PickleError:
            raise
        except Exception as exc:  # pickle raises TypeError, AttributeError, ... for unpicklables
            raise self.pickler.PickleError("cannot encode the reply: %r" % exc) from exc
        self._send_data(ident, raw)

    def _send_data(self, ident: str, raw: bytes) -> None:
        self.receive_hook.messaging.send_message(ident, Message(data=REPLY_PREFIX + raw))


# -- client -------------------------------------------------------------------------------------

class RemoteMethod:
    """A method of a remote object; calling it calls the remote method."""

    def __init__(self, iproxy: Any, name: str) -> None:
        self.iproxy = iproxy
        self.name = name
        self.call_timeout: Optional[float] = None
        self.signal_timeout: Optional[float] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the remote method: its result, or None for a signal.

        Raises the remote exception (with ``__remote_traceback__``) unless the
        client has an ``exception_handler``; CallError always propagates.
        """
        client = self.iproxy._client
        params = {"command": "call" if self.signal_timeout is None else "signal",
                  "object": self.iproxy._name, "method": self.name,
                  "args": args, "kwargs": kwargs}
        try:
            return client.remote_request(self.iproxy._remote_ident, self, params)
        except Exception as exc:
            client.call_failed(exc)
            return None

    def as_signal(self, timeout: Optional[float] = 0) -> None:
        """Call this method as a signal: no reply, the message lives ``timeout`` seconds.

        ``timeout`` is the message TTL (0: delivered only if connected now);
        None makes the method regular again.
        """
        self.signal_timeout = timeout

    def set_timeout(self, timeout: Optional[float]) -> None:
        """Time budget of a regular call, in seconds (None: wait forever).

        Raises:
            ValueError: ``timeout`` is not None and not > 0.
        """
        if timeout is not None and not timeout > 0:
            raise ValueError("call timeout must be None or > 0 seconds, not %r" % (timeout,))
        self.call_timeout = timeout

    def clone(self) -> "RemoteMethod":
        method = RemoteMethod(self.iproxy, self.name)
        method.call_timeout = self.call_timeout
        method.signal_timeout = self.signal_timeout
        return method


class RpcInstProxy:
    """The remote object registered as ``name`` on ``remote_ident``; attributes are RemoteMethods."""

    def __init__(self, client: "RpcClient", remote_ident: str, name: str) -> None:
        self._client = client
        self._remote_ident = remote_ident
        self._name = name
        self._methods: Dict[str, RemoteMethod] = {}

    def __getattr__(self, name: str) -> RemoteMethod:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # copy, pickle, mock... probe dunders: not remote methods
        if "_client" not in self.__dict__:
            raise AttributeError(name)  # not initialised (e.g. copy.copy): no remote methods yet
        with self._client.lock:
            method = self._methods.get(name)
            if method is None:
                method = self._methods[name] = RemoteMethod(self, name)
            return method

    def __repr__(self) -> str:
        return "<%s 0x%x remote_ident=%r name=%r>" % (
            type(self).__name__, id(self), self._remote_ident, self._name)


class RpcClient:
    """Calls methods of objects registered on remote RpcServers.

    Thread-safe: any number of threads may call at once; each waits for its
    own reply. Create it before the Link connects: it learns who is connected
    from Messaging's ``on_connect``/``on_disconnect``.

    With the default ``pickler=pickle`` the server can run arbitrary code here
    through its replies; see :class:`MsgpackPickler`.
    """

    def __init__(self, receive_hook: Any, pickler: Any = pickle) -> None:
        self.log = logging.getLogger("snakezmq.rpc.client")
        self.receive_hook = receive_hook
        self.pickler = pickler
        #: ``func(exception)``: receives exceptions of calls (except CallError); the call returns None
        self.exception_handler: Optional[Callable[[Exception], Any]] = None
        self.lock = threading.Lock()
        self._connections: Dict[str, Tuple[str, int]] = {}  #: ident: (conn_id, connection number)
        self._connection_count = 0
        self._calls: Dict[bytes, _PendingCall] = {}  #: req_id: call
        receive_hook.register(REPLY_PREFIX, self.on_recv)
        receive_hook.messaging.on_connect.add(self.on_connect)
        receive_hook.messaging.on_disconnect.add(self.on_disconnect)

    def get_proxy(self, remote_ident: str, name: str) -> RpcInstProxy:
        """A proxy for the object registered as ``name`` on the peer ``remote_ident``."""
        return RpcInstProxy(self, remote_ident, name)

    def on_connect(self, dummy_conn_id: str, ident: str) -> None:
        with self.lock:
            self._connection_count += 1
            self._connections[ident] = (dummy_conn_id, self._connection_count)
            self._wake_calls(ident)

    def on_disconnect(self, dummy_conn_id: str, ident: str) -> None:
        with self.lock:
            connection = self._connections.get(ident)
            if connection is not None and connection[0] == dummy_conn_id:
                del self._connections[ident]
                self._wake_calls(ident)

    def _wake_calls(self, ident: str) -> None:
        for call in self._calls.values():
            if call.ident == ident:
                call.ready.notify()

    def on_recv(self, dummy_conn_id: str, dummy_ident: str, message: Message) -> None:
        """ReceiveHook callback: hand a reply to its waiting call (late replies are dropped)."""
        ident = dummy_ident  # snakemq's parameter name, kept for signature parity
        try:
            reply = self.pickler.loads(message.data[len(REPLY_PREFIX):])
        except Exception as exc:  # codec boundary: pickle raises almost anything on garbage
            self.log.error("ident=%r sent an undecodable reply: %r", ident, exc)
            return
        if not (isinstance(reply, dict) and isinstance(reply.get("req_id"), bytes)):
            self.log.error("ident=%r sent a malformed reply", ident)
            return
        with self.lock:
            call = self._calls.get(reply["req_id"])
            if call is not None and call.reply is None:
                call.reply = reply
                call.ready.notify()
        if call is None:
            self.log.debug("ident=%r reply req_id=%r: nobody waits for it", ident, reply["req_id"])

    def call_failed(self, exc: Exception) -> None:
        """A call raised ``exc``: raise it again (a CallError always), or hand it to
        ``exception_handler`` (the call then returns None)."""
        if isinstance(exc, CallError) or self.exception_handler is None:
            raise exc
        self.exception_handler(exc)

    def remote_request(self, remote_ident: str, method: RemoteMethod,
                       params: Dict[str, Any]) -> Any:
        if method.signal_timeout is None:
            return self.call_regular(remote_ident, method, params)
        self.call_signal(remote_ident, method, params)
        return None

    def call_signal(self, remote_ident: str, method: RemoteMethod, params: Dict[str, Any]) -> None:
        self.log.debug("signal ident=%r obj=%r method=%r", remote_ident, params["object"],
                       params["method"])
        self.send_params(remote_ident, params, method.signal_timeout)

    def call_regular(self, remote_ident: str, method: RemoteMethod, params: Dict[str, Any]) -> Any:
        """Send the request once connected (again after each reconnect) and wait for the reply.

        Raises:
            NotConnected: the timeout passed and the request was never sent.
            PartialCall: the timeout passed after the request was sent.
        """
        req_id = params.setdefault("req_id", new_uuid())  # (unique per process run, no system call)
        raw = self.pickler.dumps(params)
        call = _PendingCall(remote_ident, self.lock)
        deadline = None if method.call_timeout is None else get_time() + method.call_timeout
        self.log.debug("call ident=%r obj=%r method=%r req_id=%r", remote_ident,
                       params["object"], params["method"], req_id)
        with self.lock:
            self._calls[req_id] = call
        try:
            reply = self._await_reply(call, raw, deadline)
        finally:
            with self.lock:
                del self._calls[req_id]
        return self._unpack_reply(reply)

    def _await_reply(self, call: _PendingCall, raw: bytes,
                     deadline: Optional[float]) -> Dict[str, Any]:
        while True:
            with self.lock:
                while call.reply is None and not self._take_send_turn(call):
                    _wait(call, deadline)
                if call.reply is not None:
                    return call.reply
            self._send_request(call.ident, raw, 0)  # outside the lock: Messaging has its own

    def _take_send_turn(self, call: _PendingCall) -> bool:
        """(Lock held.) True, and noted, if the request has not yet gone out on the current connection."""
        connection = self._connections.get(call.ident)
        if connection is None or connection[1] == call.sent_on:
            return False
        call.sent_on = connection[1]
        return True

    def _unpack_reply(self, reply: Dict[str, Any]) -> Any:
        if reply.get("ok") is True:
            return reply.get("return")
        exc = reply.get("exception")
        if not isinstance(exc, BaseException):
            exc = Error("malformed reply: no exception in a failed call's reply")
        traceb = reply.get("exception_format")
        self.raise_remote_exception(exc, traceb if isinstance(traceb, str) else "")

    def raise_remote_exception(self, exc: BaseException, traceb: str) -> None:
        setattr(exc, REMOTE_TRACEBACK_ATTR, traceb)
        raise exc

    def send_params(self, remote_ident: str, params: Dict[str, Any], ttl: Optional[float]) -> None:
        self._send_request(remote_ident, self.pickler.dumps(params), ttl)

    def _send_request(self, remote_ident: str, raw: bytes, ttl: Optional[float]) -> None:
        message = Message(data=REQUEST_PREFIX + raw, ttl=ttl)
        self.receive_hook.messaging.send_message(remote_ident, message)


def _wait(call: _PendingCall, deadline: Optional[float]) -> None:
    """Wait (lock held) for a reply or a connection change; raise at the deadline."""
    if deadline is None:
        call.ready.wait()
        return
    remaining = deadline - get_time()
    if remaining <= 0:
        raise NotConnected() if call.sent_on is None else PartialCall()
    call.ready.wait(remaining)
