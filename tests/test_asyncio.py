"""snakezmq.asyncio: Links driven by a running event loop (no thread), awaitable sends,
received messages as an async iterator, async RPC. Each test runs on asyncio's own loop
and on uvloop (when installed: it is in the test extra)."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable, List, Tuple

import pytest

import snakezmq.messaging
import snakezmq.rpc
from snakezmq.asyncio import AsyncMessaging, AsyncRpcClient, LinkDriver, MessageDropped
from snakezmq.message import FLAG_PERSISTENT, Message

WAIT = 10.0


def run_asyncio(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def run_uvloop(coro: Awaitable[Any]) -> Any:
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (pip install uvloop)")
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@pytest.fixture(params=[run_asyncio, run_uvloop], ids=["asyncio", "uvloop"])
def run(request: Any) -> Callable[[Awaitable[Any]], Any]:
    return request.param  # type: ignore[no-any-return]


def pair(links: Any) -> Tuple[Any, Any, Any, Any]:
    """A server and a client stack, connected (when driven)."""
    server_link, _, server = links.stack("server")
    client_link, _, client = links.stack("client")
    client_link.add_connector(server_link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.1)
    return server_link, server, client_link, client


def test_send_resolves_on_ack_and_messages_arrive_intact(links, run):
    server_link, server, client_link, client = pair(links)
    threads = threading.active_count()

    async def main() -> List[Any]:
        async with LinkDriver(server_link), LinkDriver(client_link):
            inbox, outbox = AsyncMessaging(server), AsyncMessaging(client)
            sent = [Message(bytes(range(256)) * 4, ttl=30, flags=7), Message(b"", ttl=None)]
            await asyncio.wait_for(asyncio.gather(*(outbox.send("server", m) for m in sent)), WAIT)
            assert threading.active_count() == threads  # no thread was started
            received = [await asyncio.wait_for(inbox.receive(), WAIT) for _ in sent]
            return [(r.ident, r.message.data, r.message.ttl, r.message.flags, r.message.uuid)
                    for r in received] + [[(m.data, m.uuid) for m in sent]]

    *received, sent = run(main())
    assert [(r[1], r[4]) for r in received] == sent
    assert received[0][0] == "client" and received[0][2] in (29.0, 30.0) and received[0][3] == 7
    assert received[1][2] is None


def test_send_raises_message_dropped_when_the_ttl_runs_out(links, run):
    link, _, messaging = links.stack("lonely")
    link.add_connector(("127.0.0.1", 1), reconnect_interval=0.1)  # nobody listens there

    async def main() -> None:
        async with LinkDriver(link):
            outbox = AsyncMessaging(messaging)
            with pytest.raises(MessageDropped) as caught:
                await asyncio.wait_for(outbox.send("nobody", Message(b"x", ttl=0.2)), WAIT)
            assert caught.value.ident == "nobody"

    run(main())


def test_async_iterator_and_a_reply_from_the_callback(links, run):
    server_link, server, client_link, client = pair(links)

    async def main() -> List[bytes]:
        async with LinkDriver(server_link), LinkDriver(client_link):
            inbox, outbox = AsyncMessaging(server), AsyncMessaging(client)

            async def echo() -> None:
                async for received in inbox:
                    await inbox.send(received.ident, Message(b"re: " + received.message.data, ttl=30))

            task = asyncio.ensure_future(echo())
            for i in range(5):
                outbox.send_message("server", Message(b"%d" % i, ttl=30))
            replies = [(await asyncio.wait_for(outbox.receive(), WAIT)).message.data for _ in range(5)]
            inbox.close()
            await asyncio.wait_for(task, WAIT)  # the iterator ends once closed
            return replies

    assert run(main()) == [b"re: %d" % i for i in range(5)]


def test_reconnect_new_sockets_are_watched(links, run):
    """A connector makes new sockets after a reconnect: the driver watches those."""
    server_link, server, client_link, client = pair(links)

    async def main() -> None:
        async with LinkDriver(server_link), LinkDriver(client_link):
            inbox, outbox = AsyncMessaging(server), AsyncMessaging(client)
            conn_id = await asyncio.wait_for(inbox.wait_connected("client"), WAIT)
            server_link.close(conn_id)  # the client reconnects with a new DEALER
            for i in range(3):
                await asyncio.wait_for(outbox.send("server", Message(b"after %d" % i, ttl=60)), WAIT)
            got = [(await asyncio.wait_for(inbox.receive(), WAIT)).message.data for _ in range(3)]
            assert got == [b"after 0", b"after 1", b"after 2"]

    run(main())


def test_send_message_from_another_thread_wakes_the_driver(links, run):
    server_link, server, client_link, client = pair(links)

    async def main() -> bytes:
        async with LinkDriver(server_link), LinkDriver(client_link):
            inbox = AsyncMessaging(server)
            await asyncio.wait_for(AsyncMessaging(client).wait_connected("server"), WAIT)
            sender = threading.Thread(target=client.send_message,
                                      args=("server", Message(b"from a thread", ttl=30)))
            sender.start()
            sender.join(WAIT)
            return (await asyncio.wait_for(inbox.receive(), WAIT)).message.data

    assert run(main()) == b"from a thread"


def test_a_raising_callback_goes_to_the_exception_handler(links, run):
    server_link, server, client_link, client = pair(links)
    reported: List[BaseException] = []

    def explode(conn_id: str, ident: str, message: Message) -> None:
        if message.data == b"boom":
            raise RuntimeError("user callback")

    server.on_message_recv.add(explode)

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: reported.append(context["exception"]))
        async with LinkDriver(server_link), LinkDriver(client_link):
            inbox, outbox = AsyncMessaging(server), AsyncMessaging(client)
            await asyncio.wait_for(outbox.send("server", Message(b"boom", ttl=30)), WAIT)
            await asyncio.wait_for(outbox.send("server", Message(b"after", ttl=30)), WAIT)
            assert [(await inbox.receive()).message.data for _ in range(2)] == [b"boom", b"after"]

    run(main())
    assert [str(e) for e in reported] == ["user callback"]


class Calculator:
    def add(self, a: int, b: int) -> int:
        return a + b

    def divide(self, a: int, b: int) -> float:
        return a / b


def test_async_rpc_calls(links, run):
    server_link, server, client_link, client = pair(links)
    rpc_server = snakezmq.rpc.RpcServer(snakezmq.messaging.ReceiveHook(server),
                                        pickler=snakezmq.rpc.msgpack_pickler)
    rpc_server.register_object(Calculator(), "calc")

    async def main() -> None:
        async with LinkDriver(server_link), LinkDriver(client_link):
            rpc = AsyncRpcClient(snakezmq.messaging.ReceiveHook(client), pickler=snakezmq.rpc.msgpack_pickler)
            calc = rpc.get_proxy("server", "calc")
            calc.add.set_timeout(WAIT)
            results = await asyncio.gather(calc.add(2, 40), calc.add(1, 1))
            assert results == [42, 2]
            with pytest.raises(ZeroDivisionError):
                await calc.divide(1, 0)
            absent = rpc.get_proxy("nobody", "calc")
            absent.add.set_timeout(0.2)
            with pytest.raises(snakezmq.rpc.NotConnected):
                await absent.add(1, 2)

    run(main())


def test_persistent_flag_and_storage_are_unchanged(links, run, tmp_path):
    """A persistent message through AsyncMessaging is stored, acknowledged, then deleted."""
    from snakezmq.storage.sqlite import SqliteQueuesStorage

    storage = SqliteQueuesStorage(str(tmp_path / "q.db"))
    server_link, _, server = links.stack("server")
    client_link, _, client = links.stack("client", storage)
    client_link.add_connector(server_link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.1)

    async def main() -> None:
        async with LinkDriver(server_link), LinkDriver(client_link):
            outbox = AsyncMessaging(client)
            sent = outbox.send("server", Message(b"durable", ttl=None, flags=FLAG_PERSISTENT))
            assert [m.data for m in storage.get_items("server")] == [b"durable"]
            await asyncio.wait_for(sent, WAIT)
            assert storage.get_items("server") == []

    try:
        run(main())
    finally:
        storage.close()
