"""Publish/subscribe: one publisher and two subscribers, each its own process.

    python examples/pubsub.py

The publisher publishes 30 prices on topics "prices.eur" and "prices.usd", one every
0.05 s. Subscriber "eur-desk" subscribes to the prefix "prices.eur", "all-desk" to
"prices.". All-desk leaves after 5 prices and is started again (same ident) 0.5 s later:
its durable subscription kept what was published meanwhile, so it still gets every
price, in order. The roles are plain functions below:
``python examples/pubsub.py publisher PORT`` and
``python examples/pubsub.py subscriber PORT IDENT PREFIX 0`` run one by hand.
"""
import subprocess
import sys
import threading
import time

import snakezmq.link
import snakezmq.messaging
import snakezmq.packeter
from snakezmq.pubsub import Publisher, Subscriber

PRICES = 30


def stack(ident):
    link = snakezmq.link.Link()
    messaging = snakezmq.messaging.Messaging(ident, "", snakezmq.packeter.Packeter(link))
    return link, messaging


def publisher(port):
    link, messaging = stack("ticker")
    prices = Publisher(messaging, ttl=60, max_backlog=1000)  # keep 60 s / 1,000 for the absent
    subscribed = set()
    prices.on_subscribe.add(lambda ident, prefixes: subscribed.add(ident))
    prices.on_message_drop.add(lambda ident, uuid: print("publisher: %s will miss one" % ident))
    link.add_listener(("127.0.0.1", port))
    while len(subscribed) < 2:  # (so that both get everything from the first price on)
        link.loop(runtime=0.1)
    for n in range(PRICES):
        currency = "eur" if n % 3 else "usd"
        prices.publish("prices." + currency, b"%s %d.%02d" % (currency.encode(), 100 + n, n))
        link.loop(runtime=0.05)
    print("publisher: published %d prices" % PRICES, flush=True)
    link.loop(runtime=30)  # (until the launcher stops it: a subscriber may still be away)


def subscriber(port, ident, prefix, leave_after):
    """Print what arrives; leave after ``leave_after`` prices (the launcher stops it anyway)."""
    link, messaging = stack(ident)
    prices = Subscriber(messaging, [prefix])
    received = []

    def on_message_recv(publisher_ident, topic, message):
        received.append(message.data)
        print("%s: %s %s" % (ident, topic, message.data.decode()), flush=True)
        if len(received) == leave_after:
            print("%s: leaving after %d prices" % (ident, leave_after), flush=True)
            link.stop()

    prices.on_message_recv.add(on_message_recv)
    link.add_connector(("127.0.0.1", port))
    link.loop(runtime=30)
    link.cleanup()


def main():
    """Start the publisher and both subscribers; all-desk leaves for a while in the middle."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    me = [sys.executable, "-u", __file__]
    run = lambda *args: subprocess.Popen(me + list(args), stdout=subprocess.PIPE, text=True)  # noqa: E731
    lines = []
    lead = run("publisher", port)
    eur = run("subscriber", port, "eur-desk", "prices.eur", "0")
    everything = run("subscriber", port, "all-desk", "prices.", "5")  # leaves after 5 prices...
    processes = [lead, eur]
    for process in (lead, eur, everything):
        threading.Thread(target=collect, args=(process, lines), daemon=True).start()
    everything.wait(30)
    time.sleep(0.5)
    print("---- all-desk starts again (same ident) ----", flush=True)
    everything = run("subscriber", port, "all-desk", "prices.", "0")  # ...and comes back
    processes.append(everything)
    threading.Thread(target=collect, args=(everything, lines), daemon=True).start()
    expected = {"eur-desk": sum(1 for n in range(PRICES) if n % 3), "all-desk": PRICES}
    deadline = time.monotonic() + 30
    while received(lines) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        process.kill()
        process.wait(10)
    print("received:", received(lines), "expected:", expected)
    return 0 if received(lines) == expected else 1


def received(lines):
    return {ident: sum(1 for line in list(lines) if line.startswith(ident + ": prices"))
            for ident in ("eur-desk", "all-desk")}


def collect(process, lines):
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "publisher":
        publisher(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "subscriber":
        subscriber(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(main())
