"""AsyncMessaging: awaitable sends (resolved by the peer's acknowledgement) and received
messages as an async iterator, over a ``snakezmq.messaging.Messaging``.

Built on Messaging's public callbacks (``on_message_sent`` / ``on_message_drop``
keyed by uuid, ``on_message_recv``, ``on_connect``), so the delivery guarantees
are Messaging's own. The callbacks may run in the event loop's thread (a
``LinkDriver``) or in a thread running ``link.loop()``: either works.
"""
from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any, Callable, Deque, Dict, NamedTuple, Optional

from ..exceptions import MessageDropped
from ..message import Message


class Received(NamedTuple):
    """One received message and who sent it."""
    conn_id: str
    ident: str
    message: Message


_CLOSED: Any = object()


class AsyncMessaging:
    """``await am.send(ident, message)`` and ``async for received in am`` over ``messaging``.

    Make it in the event loop's thread (or pass ``loop``) before the peers connect:
    messages received from then on wait in ``am`` until read. A message is
    acknowledged to its sender when ``on_message_recv`` hands it to ``am``, as for
    any callback; one that is never read is lost with the process, as in a
    callback that drops it.
    """

    def __init__(self, messaging: Any, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self.messaging = messaging
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        #: the loop's thread, if known: callbacks there need no call_soon_threadsafe
        self._thread = threading.get_ident() if loop is None else None
        self._waiting: Dict[bytes, Deque["asyncio.Future[None]"]] = {}
        self._received: "asyncio.Queue[Any]" = asyncio.Queue()
        self._connected: Dict[str, str] = {}  #: ident: conn_id of connected peers
        self._connect_waiters: Deque["asyncio.Future[str]"] = collections.deque()
        self.closed = False  #: ``close()`` was called: nothing more is received
        messaging.on_message_sent.add(self._on_sent)
        messaging.on_message_drop.add(self._on_drop)
        messaging.on_message_recv.add(self._on_recv)
        messaging.on_connect.add(self._on_connect)
        messaging.on_disconnect.add(self._on_disconnect)

    # -- sending ------------------------------------------------------------------------------

    def send(self, ident: str, message: Message) -> "asyncio.Future[None]":
        """Queue ``message`` for ``ident`` now; the future resolves when the peer has
        acknowledged it and fails with ``MessageDropped`` when it is dropped (TTL).

        Raises at once what ``send_message`` raises (``PacketTooLarge``, ``TypeError``).
        Cancelling the future does not take the message back.
        """
        future: "asyncio.Future[None]" = self._loop.create_future()
        waiting = self._waiting.setdefault(message.uuid, collections.deque())
        waiting.append(future)
        try:
            self.messaging.send_message(ident, message)
        except BaseException:
            self._forget(message.uuid, future)
            raise
        future.add_done_callback(lambda done: self._forget(message.uuid, done))
        return future

    def send_message(self, ident: str, message: Message) -> None:
        """``Messaging.send_message``: queue without waiting for anything."""
        self.messaging.send_message(ident, message)

    def _forget(self, uuid: bytes, future: "asyncio.Future[None]") -> None:
        waiting = self._waiting.get(uuid)
        if waiting is not None and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._waiting[uuid]

    def _settle(self, uuid: bytes, error: Optional[BaseException]) -> None:
        waiting = self._waiting.get(uuid)
        if not waiting:
            return
        future = waiting.popleft()  # one report per queued copy of this uuid
        if not waiting:
            del self._waiting[uuid]
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    # -- receiving ----------------------------------------------------------------------------

    async def receive(self) -> Received:
        """The next received message (waits for one). Raises ``EOFError`` once closed."""
        item = await self._received.get()
        if item is _CLOSED:
            self._received.put_nowait(_CLOSED)  # for every other reader too
            raise EOFError("AsyncMessaging is closed")
        result: Received = item
        return result

    def __aiter__(self) -> "AsyncMessaging":
        return self

    async def __anext__(self) -> Received:
        try:
            return await self.receive()
        except EOFError:
            raise StopAsyncIteration from None

    async def wait_connected(self, ident: str) -> str:
        """Wait until the peer ``ident`` is connected (Messaging's ``on_connect``); its conn_id."""
        while ident not in self._connected:
            future: "asyncio.Future[str]" = self._loop.create_future()
            self._connect_waiters.append(future)
            try:
                await future
            finally:
                if future in self._connect_waiters:
                    self._connect_waiters.remove(future)
        return self._connected[ident]

    def close(self) -> None:
        """Receive no more: iterators end once they read what came before. Sends still
        resolve (their acknowledgements may come later)."""
        if not self.closed:
            self.closed = True
            self._in_loop(self._received.put_nowait, _CLOSED)

    # -- Messaging's callbacks (loop thread or not) -------------------------------------------

    def _in_loop(self, func: Callable[..., None], *args: Any) -> None:
        if self._thread == threading.get_ident():
            func(*args)
        else:
            self._loop.call_soon_threadsafe(func, *args)

    def _on_sent(self, conn_id: str, ident: str, uuid: bytes) -> None:
        if uuid in self._waiting:
            self._in_loop(self._settle, uuid, None)

    def _on_drop(self, ident: str, uuid: bytes) -> None:
        if uuid in self._waiting:
            self._in_loop(self._settle, uuid, MessageDropped(ident, uuid))

    def _on_recv(self, conn_id: str, ident: str, message: Message) -> None:
        if self.closed:
            return
        self._in_loop(self._received.put_nowait, Received(conn_id, ident, message))

    def _on_connect(self, conn_id: str, ident: str) -> None:
        self._in_loop(self._peer_changed, ident, conn_id)

    def _on_disconnect(self, conn_id: str, ident: str) -> None:
        self._in_loop(self._peer_changed, ident, None)

    def _peer_changed(self, ident: str, conn_id: Optional[str]) -> None:
        if conn_id is None:
            self._connected.pop(ident, None)
            return
        self._connected[ident] = conn_id
        while self._connect_waiters:
            waiter = self._connect_waiters.popleft()
            if not waiter.done():
                waiter.set_result(ident)
