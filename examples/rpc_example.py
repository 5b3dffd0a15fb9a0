"""RPC on snakezmq: a server registers an object, a client calls it and sends a signal.

Both sides run in this process, each with its loop in a thread (RPC calls block
the calling thread, so the loop must run elsewhere). Uses the msgpack pickler:
the default pickle lets any peer that can connect run code on the server.
Usage: python examples/rpc_example.py
"""
import threading
import time

import snakezmq.link
import snakezmq.messaging
import snakezmq.packeter
import snakezmq.rpc


class Calculator:
    def __init__(self):
        self.notes = []

    def add(self, a, b):
        return a + b

    def divide(self, a, b):
        return a / b

    @snakezmq.rpc.as_signal
    def note(self, text):
        self.notes.append(text)


def stack(ident):
    link = snakezmq.link.Link()
    messaging = snakezmq.messaging.Messaging(ident, "", snakezmq.packeter.Packeter(link))
    return link, snakezmq.messaging.ReceiveHook(messaging)


def main():
    server_link, server_hook = stack("calc-server")
    client_link, client_hook = stack("calc-client")
    server = snakezmq.rpc.RpcServer(server_hook, pickler=snakezmq.rpc.msgpack_pickler)
    calculator = Calculator()
    server.register_object(calculator, "calc")
    client = snakezmq.rpc.RpcClient(client_hook, pickler=snakezmq.rpc.msgpack_pickler)
    client_link.add_connector(server_link.add_listener(("127.0.0.1", 0)))
    loops = [threading.Thread(target=link.loop, daemon=True) for link in (server_link, client_link)]
    for loop in loops:
        loop.start()
    try:
        calc = client.get_proxy("calc-server", "calc")
        calc.add.set_timeout(5)
        print("add(2, 3) =", calc.add(2, 3))
        try:
            calc.divide(1, 0)
        except ZeroDivisionError as exc:
            print("divide(1, 0) raised remotely:", repr(exc))
        calc.note.as_signal(10)
        calc.note("a signal returns at once")
        deadline = time.monotonic() + 5
        while not calculator.notes and time.monotonic() < deadline:
            time.sleep(0.01)
        print("server received signal:", calculator.notes)
    finally:
        for link in (server_link, client_link):
            link.stop()
        for loop in loops:
            loop.join(5)
        for link in (server_link, client_link):
            link.cleanup()


if __name__ == "__main__":
    main()
