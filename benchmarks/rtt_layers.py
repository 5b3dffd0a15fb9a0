"""Where a round trip's time goes: the same echo at each layer, side by side.

    python benchmarks/rtt_layers.py [--repeats N] [--count N]

Each variant runs a requester and an echoing responder in two processes on
loopback and reports the median round trip (p50 of ``--count`` round trips,
then the median over ``--repeats`` interleaved runs):

- ``zmq``: raw pyzmq as in bench.py (DEALER send, blocking recv; ROUTER echo).
- ``zmq+monitor``: the same, but each side polls its socket together with a
  socket monitor, as snakezmq's Link does.
- ``wire``: snakezmq's wire format over raw pyzmq, with no Link, Packeter or
  Messaging: a DATA header frame plus a MESSAGES packet encoded and decoded
  with ``snakezmq._core.wire``, and a Message made per message.
- ``link``: snakezmq's Link echoing raw bytes (``on_recv`` -> ``send``).
- ``messaging``: the full stack, as bench.py's rtt scenario.

On a virtual machine the numbers depend on how the guest idles: with the
cpuidle driver ``haltpoll`` and ``guest_halt_poll_ns`` 0 (the machine the README's
numbers come from), every idle vCPU halts and every thread wake-up is a VM exit,
so a round trip through ZeroMQ's I/O threads (six wake-ups) costs about twice
what it costs with halt polling on, and a variant that works longer between two
messages can lose more than its CPU time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the snakezmq checkout this script sits in

VARIANTS = ["zmq", "zmq+monitor", "wire", "link", "messaging"]
RUN_TIMEOUT = 60.0


def responder(variant: str, port_file: str, seconds: float) -> None:
    """Echo until ``seconds`` pass; the bound port goes to ``port_file``."""
    if variant in ("link", "messaging"):
        return stack_responder(variant, port_file, seconds)
    import zmq
    from snakezmq._core import wire
    from snakezmq.message import Message, received_message

    router: Any = zmq.Context.instance().socket(zmq.ROUTER)
    publish_port(port_file, router.bind_to_random_port("tcp://127.0.0.1"))
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    if variant != "zmq":
        poller.register(router.get_monitor_socket(), zmq.POLLIN)
    header, seq, end = wire.encode_link(wire.LinkKind.DATA), 0, time.monotonic() + seconds
    while time.monotonic() < end:
        for sock, _ in poller.poll(100):
            frames = sock.recv_multipart(zmq.NOBLOCK)
            if sock is not router:
                continue  # a monitor event
            if variant == "wire":
                batch = wire.decode_messages(wire.decode_link(frames[1:]).body[0])
                received = list(map(received_message, batch.datas, batch.ttls, batch.flags, batch.uuids))
                seq += 1
                frames = [frames[0], header, wire.encode_messages(
                    seq, [Message(received[0].data, ttl=None)], [None], batch.first_seq)]
            send_frames(router, frames)


def send_frames(sock: Any, frames: List[bytes]) -> None:
    """Frame by frame with int flags, as snakezmq's Link sends."""
    last = len(frames) - 1
    for index, frame in enumerate(frames):
        sock.send(frame, 1 if index == last else 3)  # NOBLOCK (| SNDMORE)


def stack_responder(variant: str, port_file: str, seconds: float) -> None:
    from snakezmq import link, message, messaging, packeter

    responder_link = link.Link()
    if variant == "link":
        responder_link.on_recv.add(lambda conn_id, data: responder_link.send(conn_id, data))
    else:
        stack = messaging.Messaging("responder", "", packeter.Packeter(responder_link))
        stack.on_message_recv.add(lambda conn_id, ident, msg: stack.send_message(
            ident, message.Message(msg.data, ttl=None)))
    address = responder_link.add_listener(("127.0.0.1", 0))
    assert isinstance(address, tuple)
    publish_port(port_file, address[1])
    try:
        responder_link.loop(runtime=seconds)
    finally:
        responder_link.cleanup()


def publish_port(port_file: str, port: int) -> None:
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)


def requester(variant: str, port: int, count: int) -> float:
    """p50 of ``count`` round trips (after 50 not counted), in microseconds."""
    rtts: List[float] = []
    if variant in ("link", "messaging"):
        stack_requester(variant, port, count + 50, rtts)
    else:
        zmq_requester(variant, port, count + 50, rtts)
    return statistics.median(rtts[50:]) * 1e6


def zmq_requester(variant: str, port: int, total: int, rtts: List[float]) -> None:
    import zmq

    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    sockets = [dealer]
    try:
        dealer.rcvtimeo = 10000  # a lost reply fails the run instead of hanging it
        dealer.connect("tcp://127.0.0.1:%d" % port)
        poller = zmq.Poller()
        poller.register(dealer, zmq.POLLIN)
        if variant != "zmq":
            sockets.append(dealer.get_monitor_socket())
            poller.register(sockets[-1], zmq.POLLIN)
        zmq_round_trips(variant, dealer, sockets[-1], poller, total, rtts)
    finally:
        for sock in sockets:
            sock.close(linger=0)
        context.term()


def zmq_round_trips(variant: str, dealer: Any, monitor: Any, poller: Any, total: int,
                    rtts: List[float]) -> None:
    import zmq
    from snakezmq._core import wire
    from snakezmq.message import Message, received_message

    header, ack, payload = wire.encode_link(wire.LinkKind.DATA), 0, b"x" * 100
    for seq in range(1, total + 1):
        start = time.perf_counter()
        if variant == "wire":
            send_frames(dealer, [header, wire.encode_messages(seq, [Message(payload, ttl=None)], [None], ack)])
        else:
            dealer.send(payload)
        if variant == "zmq":
            frames = dealer.recv_multipart()
        else:
            while dealer not in dict(poller.poll(10000)):
                monitor.recv_multipart()  # (a connection event)
            frames = dealer.recv_multipart(zmq.NOBLOCK)
        if variant == "wire":
            batch = wire.decode_messages(wire.decode_link(frames).body[0])
            list(map(received_message, batch.datas, batch.ttls, batch.flags, batch.uuids))
            ack = batch.first_seq
        rtts.append(time.perf_counter() - start)


def stack_requester(variant: str, port: int, total: int, rtts: List[float]) -> None:
    from snakezmq import link, message, messaging, packeter

    requester_link = link.Link()
    state: Dict[str, Any] = {"start": 0.0, "conn_id": None}
    payload = b"x" * 100

    def answered(*args: Any) -> None:
        rtts.append(time.perf_counter() - state["start"])
        if len(rtts) == total:
            requester_link.stop()
            return
        state["start"] = time.perf_counter()
        send()

    if variant == "link":
        send: Callable[[], None] = lambda: requester_link.send(state["conn_id"], payload)
        requester_link.on_connect.add(lambda conn_id: state.update(conn_id=conn_id))
        requester_link.on_recv.add(answered)
    else:
        stack = messaging.Messaging("requester", "", packeter.Packeter(requester_link))
        send = lambda: stack.send_message("responder", message.Message(payload, ttl=None))
        stack.on_connect.add(lambda conn_id, ident: state.update(conn_id=conn_id))
        stack.on_message_recv.add(answered)
    requester_link.add_connector(("127.0.0.1", port))
    try:
        deadline = time.monotonic() + 10
        while state["conn_id"] is None and time.monotonic() < deadline:
            requester_link.loop(runtime=0.01)
        requester_link.loop(runtime=0.1)  # the responder sees us connected too
        state["start"] = time.perf_counter()
        send()
        requester_link.loop(runtime=RUN_TIMEOUT / 2)
    finally:
        requester_link.cleanup()
    if len(rtts) < total:
        raise RuntimeError("%s: only %d of %d round trips" % (variant, len(rtts), total))


def run(variant: str, count: int) -> float:
    """One requester/responder pair; the responder is always killed and reaped."""
    port_file = os.path.join("/tmp", "rtt-layers-%d-%s" % (os.getpid(), variant.replace("+", "-")))
    proc = subprocess.Popen([sys.executable, __file__, "--responder", variant, port_file])
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("%s: the responder did not start" % variant)
            time.sleep(0.01)
        with open(port_file) as f:
            port = int(f.read())
        return requester(variant, port, count)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if os.path.exists(port_file):
            os.unlink(port_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--responder", nargs=2, metavar=("VARIANT", "PORT_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.responder:
        return responder(args.responder[0], args.responder[1], RUN_TIMEOUT)
    results: Dict[str, List[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:  # interleaved, so machine noise hits every variant alike
            results[variant].append(run(variant, args.count))
    print("round trip p50, median of %d runs of %d (us):" % (args.repeats, args.count))
    base = statistics.median(results["zmq"])
    for variant in VARIANTS:
        median = statistics.median(results[variant])
        print("  %-12s %6.0f   %.2fx zmq   runs: %s" % (variant, median, median / base,
                                                      " ".join("%.0f" % r for r in results[variant])))


if __name__ == "__main__":
    main()
