"""snakezmq with asyncio: no loop thread, awaited sends, received messages and RPC as coroutines.

A server and a client run in this process, both driven by the asyncio event loop
(snakezmq.asyncio.LinkDriver). The client awaits each send until the server
acknowledged it, reads the server's replies with ``async for``, and awaits an RPC
call. Runs on uvloop when it is installed and ``--uvloop`` is given.
Usage: python examples/asyncio_example.py [--uvloop]
"""
import asyncio
import sys

import snakezmq.link
import snakezmq.messaging
import snakezmq.packeter
import snakezmq.rpc
from snakezmq.asyncio import AsyncMessaging, AsyncRpcClient, LinkDriver
from snakezmq.message import Message


class Greeter:
    def greet(self, name):
        return "hello, %s" % name


def stack(ident):
    link = snakezmq.link.Link()
    return link, snakezmq.messaging.Messaging(ident, "", snakezmq.packeter.Packeter(link))


async def serve(inbox):
    """Reply to every message that is not an RPC request."""
    async for received in inbox:
        if not received.message.data.startswith(snakezmq.rpc.REQUEST_PREFIX):
            inbox.send_message(received.ident, Message(b"got " + received.message.data, ttl=30))


async def main():
    server_link, server = stack("server")
    client_link, client = stack("client")
    hook = snakezmq.messaging.ReceiveHook(server)
    snakezmq.rpc.RpcServer(hook, pickler=snakezmq.rpc.msgpack_pickler).register_object(Greeter(), "greeter")
    client_link.add_connector(server_link.add_listener(("127.0.0.1", 0)))

    async with LinkDriver(server_link) as server_driver, LinkDriver(client_link) as client_driver:
        inbox, outbox = AsyncMessaging(server), AsyncMessaging(client)
        rpc = AsyncRpcClient(snakezmq.messaging.ReceiveHook(client), pickler=snakezmq.rpc.msgpack_pickler)
        server_task = asyncio.ensure_future(serve(inbox))

        for text in (b"one", b"two", b"three"):
            await outbox.send("server", Message(text, ttl=30))  # returns once acknowledged
            print("acknowledged:", text.decode())
        for _ in range(3):
            reply = await outbox.receive()
            print("reply from %s: %s" % (reply.ident, reply.message.data.decode()))
        greeter = rpc.get_proxy("server", "greeter")
        greeter.greet.set_timeout(10)
        print("rpc:", await greeter.greet("asyncio"))

        inbox.close()
        await server_task
        await client_driver.cleanup()  # link.cleanup() in a worker thread
        await server_driver.cleanup()
    print("asyncio example: done")


if __name__ == "__main__":
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.run(main())
    else:
        asyncio.run(main())
