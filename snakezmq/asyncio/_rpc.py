"""AsyncRpcClient: ``await proxy.method(...)`` against a ``snakezmq.rpc.RpcServer``.

The same requests, replies and rules as ``snakezmq.rpc.RpcClient`` (it is one):
the request goes out when the server is connected, again after each reconnect,
and a timeout raises ``NotConnected`` (never sent) or ``PartialCall`` (sent).
Only the wait is different: the calling coroutine awaits, nothing blocks.
"""
from __future__ import annotations

import asyncio
import os
import pickle
import threading
from typing import Any, Dict, Optional

from .. import rpc
from .._rpc_calls import PendingCall as _PendingCall
from ..rpc import NotConnected, PartialCall, RemoteMethod, RpcClient, RpcInstProxy


class _Wake:
    """Stands in for a pending call's condition: ``notify()`` (under the client's lock,
    from any thread) wakes the coroutine waiting on ``event``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self.event = asyncio.Event()

    def notify(self) -> None:
        if threading.get_ident() == self._thread:
            self.event.set()
        else:
            self._loop.call_soon_threadsafe(self.event.set)


class AsyncRemoteMethod(RemoteMethod):
    """A remote method whose call returns a coroutine (``await proxy.add(2, 40)``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs)

    async def _call(self, args: Any, kwargs: Any) -> Any:
        client: AsyncRpcClient = self.iproxy._client
        params = {"command": "call" if self.signal_timeout is None else "signal",
                  "object": self.iproxy._name, "method": self.name, "args": args, "kwargs": kwargs}
        try:
            if self.signal_timeout is not None:
                client.call_signal(self.iproxy._remote_ident, self, params)
                return None
            return await client.call_async(self.iproxy._remote_ident, self, params)
        except Exception as exc:
            client.call_failed(exc)
            return None

    def clone(self) -> "AsyncRemoteMethod":
        method = AsyncRemoteMethod(self.iproxy, self.name)
        method.call_timeout, method.signal_timeout = self.call_timeout, self.signal_timeout
        return method


class AsyncRpcInstProxy(RpcInstProxy):
    """A remote object whose methods are :class:`AsyncRemoteMethod`."""

    def __getattr__(self, name: str) -> RemoteMethod:
        method = super().__getattr__(name)
        if type(method) is RemoteMethod:  # made by the base class: replace it once
            with self._client.lock:
                method = self._methods[name] = AsyncRemoteMethod(self, name)
        return method


class AsyncRpcClient(RpcClient):
    """``RpcClient`` whose proxies' methods are awaited. Make it in the event loop's thread.

    ``get_proxy(ident, name).method(...)`` returns a coroutine; ``set_timeout`` and
    ``as_signal`` work as in ``RpcClient`` (a signal's coroutine returns None at once).
    """

    def __init__(self, receive_hook: Any, pickler: Any = pickle) -> None:
        super().__init__(receive_hook, pickler)
        self._loop = asyncio.get_running_loop()

    def get_proxy(self, remote_ident: str, name: str) -> RpcInstProxy:
        return AsyncRpcInstProxy(self, remote_ident, name)

    async def call_async(self, remote_ident: str, method: RemoteMethod, params: Dict[str, Any]) -> Any:
        """``call_regular``, awaiting the reply instead of blocking."""
        req_id = params.setdefault("req_id", os.urandom(16))
        raw = self.pickler.dumps(params)
        call = _PendingCall(remote_ident, self.lock)
        wake = _Wake(self._loop)
        call.ready = wake  # type: ignore[assignment]  # what the base class notifies
        deadline = None if method.call_timeout is None else rpc.get_time() + method.call_timeout
        with self.lock:
            self._calls[req_id] = call
        try:
            reply = await self._await_reply_async(call, wake, raw, deadline)
        finally:
            with self.lock:
                del self._calls[req_id]
        return self._unpack_reply(reply)

    async def _await_reply_async(self, call: _PendingCall, wake: _Wake, raw: bytes,
                                 deadline: Optional[float]) -> Dict[str, Any]:
        while True:
            wake.event.clear()  # before looking: a notify from now on is seen
            with self.lock:
                reply, send = call.reply, call.reply is None and self._take_send_turn(call)
            if reply is not None:
                return reply
            if send:
                self._send_request(call.ident, raw, 0)
                continue
            await _wait(wake, call, deadline)


async def _wait(wake: _Wake, call: _PendingCall, deadline: Optional[float]) -> None:
    """Wait for a reply or a connection change; raise at the deadline."""
    if deadline is None:
        await wake.event.wait()
        return
    remaining = deadline - rpc.get_time()
    if remaining <= 0:
        raise NotConnected() if call.sent_on is None else PartialCall()
    try:
        await asyncio.wait_for(wake.event.wait(), remaining)
    except asyncio.TimeoutError:
        pass
