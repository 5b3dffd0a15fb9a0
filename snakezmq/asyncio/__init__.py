"""snakezmq for asyncio: a Link driven by the running event loop, awaitable sends, async RPC.

::

    link = snakezmq.link.Link()
    packeter = snakezmq.packeter.Packeter(link)
    messaging = snakezmq.messaging.Messaging("client", "", packeter)
    link.add_connector(("localhost", 4000))
    async with LinkDriver(link):              # no thread: add_reader + call_at
        am = AsyncMessaging(messaging)
        await am.send("server", Message(b"hello", ttl=60))   # resolved by the peer's ack
        async for received in am:                             # Received(conn_id, ident, message)
            ...

- :class:`LinkDriver` runs ``link``'s passes from the event loop (``Link.poll_fds``,
  ``Link.next_timeout``, ``Link.run_once``); every callback runs in the loop's thread.
- :class:`AsyncMessaging`: ``await send(ident, message)`` resolves when the peer
  acknowledged the message and raises :class:`MessageDropped` when it was dropped;
  ``async for`` / ``await receive()`` give the received messages.
- :class:`AsyncRpcClient`: ``await proxy.method(...)`` against a ``snakezmq.rpc.RpcServer``.

The delivery guarantees are Messaging's, unchanged. Works with asyncio's own loops
and with uvloop (any loop with ``add_reader``; not Windows' proactor loop).
"""
from __future__ import annotations

from ..exceptions import MessageDropped
from ._driver import LinkDriver
from ._messaging import AsyncMessaging, Received
from ._rpc import AsyncRemoteMethod, AsyncRpcClient, AsyncRpcInstProxy

__all__ = ["LinkDriver", "AsyncMessaging", "Received", "MessageDropped", "AsyncRpcClient",
           "AsyncRpcInstProxy", "AsyncRemoteMethod"]
