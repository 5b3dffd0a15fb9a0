"""The worker side of bench.py: what runs in each spawned sender, receiver or peer process.

Each function gets a ``Ctx`` (role, backend, scenario, parameters, the parent's report
queue and events) and reports with ``c.put(kind, data)``; ``worker_main`` picks the
function by backend kind and role (``WORKERS``). See bench.py for the scenarios.
"""
from __future__ import annotations

import contextlib
import collections
import cProfile
import gc
import importlib
import io
import logging
import os
import pickle
import pstats
import socket
import sys
import threading
import time
import traceback
import types
from typing import Any, Callable, Dict, Iterator, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # the snakezmq checkout this script sits in

RECV_IDENT = "bench-recv"
ABSENT_IDENT = "bench-absent"
RPC_OBJECT = "bench"  #: the RpcServer's registered name
BASELINE = "base"  #: the backend of ``--baseline DIR``: the snakezmq of another checkout
#: raw pyzmq in the thread shape of snakemq's RPC API (rpc scenarios only): its floor
LOOP_FLOOR = "zmq-loop"


class Ctx:
    """What one worker process knows: its role, parameters and the parent's channels."""

    def __init__(self, role: str, backend: str, scenario: str, params: Dict[str, Any], idx: int,
                 port: Optional[int], q: Any, go: Any, stop: Any, deadline: float) -> None:
        self.role, self.backend, self.scenario, self.p = role, backend, scenario, params
        self.idx, self.port, self.q, self.go, self.stop, self.deadline = idx, port, q, go, stop, deadline

    @property
    def package(self) -> str:
        """What a Messaging backend imports: ``base`` is snakezmq from ``--baseline``'s checkout."""
        return "snakezmq" if self.backend == BASELINE else self.backend

    def put(self, kind: str, data: Any = None) -> None:
        self.q.put((kind, self.role, self.idx, data))

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise TimeoutError("%s %s %s%d: deadline passed while %s"
                               % (self.backend, self.scenario, self.role, self.idx, what))


class Profiler:
    """cProfile around the measured part only (``start``/``stop`` may be called from callbacks)."""

    def __init__(self, enabled: bool) -> None:
        self.prof = cProfile.Profile() if enabled else None
        self.running = False
        self.t_start = self.t_stop = 0.0

    def start(self) -> None:
        if self.prof is not None and not self.running:
            self.running = True
            self.t_start = time.perf_counter()
            self.prof.enable()

    def stop(self) -> None:
        if self.prof is not None and self.running:
            self.prof.disable()
            self.t_stop = time.perf_counter()
            self.running = False

    def report(self, messages: int) -> str:
        assert self.prof is not None
        out = io.StringIO()
        stats = pstats.Stats(self.prof, stream=out)
        total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
        wall = self.t_stop - self.t_start
        out.write("profiled wall time %.3f s, total tottime %.3f s, %d messages: %.2f us tottime per message"
                  " (profiler overhead included)\n" % (wall, total, messages, total / messages * 1e6))
        by_file: Dict[str, float] = collections.defaultdict(float)
        for (filename, _line, _func), row in stats.stats.items():  # type: ignore[attr-defined]
            by_file[_short_file(filename)] += row[2]
        out.write("tottime by file (us per message):\n")
        for name, tt in sorted(by_file.items(), key=lambda kv: -kv[1])[:12]:
            out.write("  %8.2f us  %5.1f%%  %s\n" % (tt / messages * 1e6, 100 * tt / total, name))
        stats.sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(int(os.environ.get("BENCH_PROFILE_TOP", "25")))
        return out.getvalue()


def _short_file(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3", ROOT + "/"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" and "/" in tail else tail
    return filename


def load_api(package: str) -> types.SimpleNamespace:
    """The one place the two Messaging backends differ: ``snakemq`` or ``snakezmq`` modules."""
    names = ("link", "packeter", "messaging", "message")
    return types.SimpleNamespace(**{n: importlib.import_module(package + "." + n) for n in names})


def run_loop_until(link: Any, done: Callable[[], bool], c: Ctx, what: str, slice_s: float = 0.1) -> None:
    while not done():
        c.check(what)
        link.loop(poll_timeout=0.05, runtime=slice_s)


def messaging_setup(c: Ctx, ident: str, storage: Any = None) -> Any:
    api = load_api(c.package)
    link = api.link.Link()
    packeter = api.packeter.Packeter(link)
    messaging = api.messaging.Messaging(ident, "", packeter, storage)
    return api, link, messaging


def messaging_receiver(c: Ctx) -> None:
    api, link, messaging = messaging_setup(c, RECV_IDENT)
    Message = api.message.Message
    ttl = c.p["ttl"]
    address = link.add_listener(("127.0.0.1", 0))
    c.put("ready", {"port": address[1]})
    expected = c.p["senders"]
    total = c.p["count"] * expected
    idents = set()
    st = {"n": 0, "bytes": 0}
    prof = Profiler(c.p.get("profile", False))

    def on_connect(conn_id: str, ident: str) -> None:
        idents.add(ident)
        if len(idents) == expected and not c.go.is_set():
            if c.scenario != "rtt":
                prof.start()
            c.go.set()

    def on_recv_count(conn_id: str, ident: str, message: Any) -> None:
        st["n"] += 1
        st["bytes"] += len(message.data)
        if st["n"] == total + 1:
            c.put("error", "received more than the %d messages sent (duplicates)" % total)
        if st["n"] == total:
            t_last = time.monotonic()
            prof.stop()
            c.put("result", {"t_last": t_last, "count": st["n"], "bytes": st["bytes"]})
            if prof.prof is not None:
                c.put("profile", prof.report(total))

    def on_recv_echo(conn_id: str, ident: str, message: Any) -> None:
        messaging.send_message(ident, Message(message.data, ttl=ttl))
        st["n"] += 1
        if st["n"] == c.p["warmup"]:
            prof.start()
        elif st["n"] == c.p["warmup"] + c.p["count"] and prof.prof is not None:
            prof.stop()
            c.put("profile", prof.report(c.p["count"]))

    messaging.on_connect.add(on_connect)
    messaging.on_message_recv.add(on_recv_echo if c.scenario == "rtt" else on_recv_count)
    try:
        run_loop_until(link, c.stop.is_set, c, "receiving")
    finally:
        link.cleanup()


def messaging_sender(c: Ctx) -> None:
    storage = None
    flags = 0
    if c.scenario == "persistent":
        sqlite_mod = importlib.import_module(c.package + ".storage.sqlite")
        storage = sqlite_mod.SqliteQueuesStorage(c.p["db"])
    api, link, messaging = messaging_setup(c, "bench-send-%d" % c.idx, storage)
    if storage is not None:
        flags = api.message.FLAG_PERSISTENT
    Message = api.message.Message
    ttl = c.p["ttl"]
    payload = b"x" * c.p["size"]
    count = c.p["count"]
    st = {"connected": False, "sent": 0}
    prof = Profiler(c.p.get("profile", False))

    def on_connect(conn_id: str, ident: str) -> None:
        st["connected"] = True

    def on_sent(conn_id: str, ident: str, uuid: bytes) -> None:
        st["sent"] += 1
        if st["sent"] == count:
            link.stop()

    messaging.on_connect.add(on_connect)
    messaging.on_message_sent.add(on_sent)
    link.add_connector(("127.0.0.1", c.port))
    try:
        # Keep the loop running while waiting, so the receiver sees a live peer.
        while not (st["connected"] and c.go.is_set()):
            c.check("connecting")
            link.loop(poll_timeout=0.002, runtime=0.002)
        if c.scenario == "rtt":
            rtt_client(c, messaging, link, Message, payload, prof)
        else:
            prof.start()
            t_first = time.monotonic()
            batch = c.p.get("batch")
            if batch:  # the application's own loop: a batch of sends, then one loop() call
                for start in range(0, count, batch):
                    for _ in range(min(batch, count - start)):
                        messaging.send_message(RECV_IDENT, Message(payload, ttl=ttl, flags=flags))
                    link.loop(poll_timeout=0, count=1)
            else:
                for _ in range(count):
                    messaging.send_message(RECV_IDENT, Message(payload, ttl=ttl, flags=flags))
            t_queued = time.monotonic()
            # snakemq: on_message_sent = written to the socket; snakezmq: acknowledged by the peer
            run_loop_until(link, lambda: st["sent"] >= count, c, "sending")
            t_sent = time.monotonic()
            prof.stop()
            c.put("sent", {"t_first": t_first, "t_queued": t_queued, "t_sent": t_sent})
            if prof.prof is not None:
                c.put("profile", prof.report(count))
        run_loop_until(link, c.stop.is_set, c, "waiting for stop")
    finally:
        link.cleanup()
        if storage is not None:
            storage.close()


def rtt_client(c: Ctx, messaging: Any, link: Any, Message: Any, payload: bytes,
               prof: Profiler) -> None:
    ttl = c.p["ttl"]
    n_total = c.p["warmup"] + c.p["count"]
    rtts: List[float] = []
    st = {"t0": 0.0}

    def on_reply(conn_id: str, ident: str, message: Any) -> None:
        rtts.append(time.perf_counter() - st["t0"])
        if len(rtts) == c.p["warmup"]:
            prof.start()
        if len(rtts) < n_total:
            st["t0"] = time.perf_counter()
            messaging.send_message(RECV_IDENT, Message(payload, ttl=ttl))
        else:
            link.stop()

    messaging.on_message_recv.add(on_reply)
    st["t0"] = time.perf_counter()
    messaging.send_message(RECV_IDENT, Message(payload, ttl=ttl))
    run_loop_until(link, lambda: len(rtts) >= n_total, c, "round trips")
    prof.stop()
    c.put("result", {"rtts": rtts[c.p["warmup"]:]})
    if prof.prof is not None:
        c.put("profile", prof.report(c.p["count"]))


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def make_payloads(count: int, size: int) -> Any:
    """Distinct payload objects (so the payload is really stored once per message)."""
    prefix = b"p" * (size - 8)
    for i in range(count):
        yield prefix + i.to_bytes(8, "little")


def messaging_memory(c: Ctx) -> None:
    api, link, messaging = messaging_setup(c, "bench-mem")
    logging.getLogger(c.package + ".messaging").setLevel(logging.ERROR)  # "nobody has that ident"
    Message = api.message.Message
    ttl = c.p["ttl"]
    count = c.p["count"]
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.monotonic()
    send = messaging.send_message
    for i, data in enumerate(make_payloads(count, c.p["size"])):
        send(ABSENT_IDENT, Message(data, ttl=ttl))
        if i % 5000 == 4999:
            # snakemq's wake-up pipe blocks send_message after ~65,000 calls unless the loop drains it
            link.loop(poll_timeout=0, runtime=0.005)
            c.check("queueing")
    t1 = time.monotonic()
    gc.collect()
    rss1 = rss_bytes()
    c.put("result", {"rss0": rss0, "rss1": rss1, "count": count, "queue_s": t1 - t0})
    link.cleanup()


@contextlib.contextmanager
def zmq_socket(kind: int) -> Iterator[Any]:
    """A socket of its own context, closed without lingering (raw pyzmq backend)."""
    import zmq
    ctx = zmq.Context()
    sock = ctx.socket(kind)
    sock.linger = 0
    try:
        yield sock
    finally:
        sock.close(0)
        ctx.term()


def zmq_receiver(c: Ctx) -> None:
    import zmq
    with zmq_socket(zmq.ROUTER) as sock:
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        c.put("ready", {"port": port})
        expected = c.p["senders"]
        seen: "set[bytes]" = set()
        sock.rcvtimeo = 100
        while len(seen) < expected:  # one hello per sender: everybody is connected
            c.check("connecting")
            try:
                seen.add(sock.recv_multipart()[0])
            except zmq.Again:
                pass
        c.go.set()
        if c.scenario == "rtt":
            while not c.stop.is_set():
                c.check("echoing")
                try:
                    frames = sock.recv_multipart()
                except zmq.Again:
                    continue
                sock.send_multipart(frames)
            return
        total = c.p["count"] * expected
        sock.rcvtimeo = max(1, int(c.left() * 1000))
        recv = sock.recv_multipart
        n = nbytes = 0
        while n < total:
            frames = recv()
            n += 1
            nbytes += len(frames[-1])
        t_last = time.monotonic()
        c.put("result", {"t_last": t_last, "count": n, "bytes": nbytes})
        c.stop.wait(max(0.0, c.left()))


def zmq_sender(c: Ctx) -> None:
    import zmq
    with zmq_socket(zmq.DEALER) as sock:
        sock.sndtimeo = sock.rcvtimeo = max(1, int(c.left() * 1000))
        sock.connect("tcp://127.0.0.1:%d" % (c.port or 0))
        sock.send(b"hello")
        if not c.go.wait(max(0.0, c.left())):
            c.check("connecting")
        payload = b"x" * c.p["size"]
        count = c.p["count"]
        if c.scenario == "rtt":
            rtts = []
            send, recv, clock = sock.send, sock.recv, time.perf_counter
            for _ in range(c.p["warmup"] + count):
                t0 = clock()
                send(payload)
                recv()
                rtts.append(clock() - t0)
            c.put("result", {"rtts": rtts[c.p["warmup"]:]})
        else:
            send = sock.send
            batch = c.p.get("batch")
            t_first = time.monotonic()
            if batch:  # the same application loop: a batch of sends, then a poll that never waits
                poll = sock.poll
                for start in range(0, count, batch):
                    for _ in range(min(batch, count - start)):
                        send(payload)
                    poll(0)
            else:
                for _ in range(count):
                    send(payload)
            t_queued = time.monotonic()
            c.put("sent", {"t_first": t_first, "t_queued": t_queued, "t_sent": t_queued})
        c.stop.wait(max(0.0, c.left()))


def zmq_memory(c: Ctx) -> None:
    import zmq
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there
    with zmq_socket(zmq.DEALER) as sock:
        sock.sndhwm = 0  # no limit: queue everything in the pipe
        sock.connect("tcp://127.0.0.1:%d" % port)
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.monotonic()
        count = c.p["count"]
        for i, data in enumerate(make_payloads(count, c.p["size"])):
            sock.send(data, zmq.NOBLOCK)
            if i % 5000 == 4999:
                c.check("queueing")
        t1 = time.monotonic()
        gc.collect()
        rss1 = rss_bytes()
        c.put("result", {"rss0": rss0, "rss1": rss1, "count": count, "queue_s": t1 - t0})


class Echo:
    """The object an RpcServer serves in the rpc scenarios. It reports what the server
    process spent (CPU time, context switches of all its threads) on the timed calls."""

    def __init__(self, c: Optional[Ctx] = None) -> None:
        self.c = c
        self.calls = 0
        self.lock = threading.Lock()
        self.start: Optional[Usage] = None

    def echo(self, data: bytes) -> bytes:
        if self.c is not None:
            with self.lock:
                self.calls += 1
                calls = self.calls
            if calls == self.c.p["warmup"]:
                self.start = Usage()
            elif calls == self.c.p["warmup"] + self.c.p["count"] and self.start is not None:
                self.c.put("cost", Usage().since(self.start, self.c.p["count"]))
        return data


class Usage:
    """This process's CPU time and context switches (all threads, libzmq's included)."""

    def __init__(self) -> None:
        import resource
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = usage.ru_utime + usage.ru_stime
        self.system = usage.ru_stime
        self.switches = usage.ru_nvcsw + usage.ru_nivcsw
        self.voluntary = usage.ru_nvcsw

    def since(self, start: "Usage", count: int) -> Dict[str, float]:
        """Per call: CPU microseconds, context switches, and the voluntary ones (a thread
        blocked: about one per thread wake-up)."""
        return {"cpu_us": (self.cpu - start.cpu) / count * 1e6,
                "sys_us": (self.system - start.system) / count * 1e6,
                "switches": (self.switches - start.switches) / count,
                "waits": (self.voluntary - start.voluntary) / count}


def rpc_stack(c: Ctx, ident: str) -> Any:
    """Link, Messaging, ReceiveHook and the backend's rpc module."""
    api, link, messaging = messaging_setup(c, ident)
    hook = api.messaging.ReceiveHook(messaging)
    return link, messaging, hook, importlib.import_module(c.package + ".rpc")


def rpc_server(c: Ctx) -> None:
    link, messaging, hook, rpc = rpc_stack(c, RECV_IDENT)
    server = rpc.RpcServer(hook)
    server.register_object(Echo(c), RPC_OBJECT)
    address = link.add_listener(("127.0.0.1", 0))
    c.put("ready", {"port": address[1]})
    idents = set()

    def on_connect(conn_id: str, ident: str) -> None:
        idents.add(ident)
        if len(idents) == c.p["senders"]:
            c.go.set()

    messaging.on_connect.add(on_connect)
    prof = Profiler(c.p.get("profile", False))
    prof.start()
    try:
        run_loop_until(link, c.stop.is_set, c, "serving")
    finally:
        prof.stop()
        if prof.prof is not None:
            c.put("profile", prof.report(c.p["count"]))
        link.cleanup()


def rpc_client(c: Ctx) -> None:
    """``threads`` threads call ``echo`` through one RpcClient; the Link loops in another."""
    link, messaging, hook, rpc = rpc_stack(c, "bench-send-%d" % c.idx)
    client = rpc.RpcClient(hook)
    method = client.get_proxy(RECV_IDENT, RPC_OBJECT).echo
    method.set_timeout(max(1.0, c.left()))
    connected = threading.Event()
    messaging.on_connect.add(lambda conn_id, ident: connected.set())
    link.add_connector(("127.0.0.1", c.port))
    looping = threading.Event()
    looping.set()
    prof = Profiler(c.p.get("profile", False))

    def run_loop() -> None:
        prof.start()
        while looping.is_set():
            link.loop(poll_timeout=0.05, runtime=0.1)
        prof.stop()

    loop_thread = threading.Thread(target=run_loop, name="bench-loop", daemon=True)
    loop_thread.start()
    try:
        while not (connected.is_set() and c.go.is_set()):
            c.check("connecting")
            c.go.wait(0.01)
        payload = b"x" * c.p["size"]
        for _ in range(c.p["warmup"]):
            method(payload)
        start = Usage()
        elapsed = timed_calls(c, lambda: method(payload))
        c.put("result", {"calls": c.p["count"], "elapsed": elapsed,
                         "cost": Usage().since(start, c.p["count"])})
    finally:
        looping.clear()
        link.stop()
        loop_thread.join(10)
        if prof.prof is not None:
            c.put("profile", prof.report(c.p["count"]))
        link.cleanup()
    c.stop.wait(max(0.0, c.left()))


def timed_calls(c: Ctx, call: Callable[[], Any], make_call: Optional[Callable[[], Callable[[], Any]]] = None) -> float:
    """Seconds for ``count`` calls made by ``threads`` threads (``count / threads`` each),
    from a common start to the last one's end. ``make_call``: each thread's own ``call``."""
    threads, count = c.p["threads"], c.p["count"]
    start = threading.Barrier(threads + 1)
    errors: List[BaseException] = []

    def worker(n: int) -> None:
        own = make_call() if make_call is not None else call
        start.wait()
        try:
            for _ in range(n):
                own()
        except BaseException as exc:  # reported below
            errors.append(exc)

    shares = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in shares]
    for thread in workers:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in workers:
        thread.join(max(0.0, c.left()))
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    c.check("calling")
    return elapsed


def zmq_rpc_server(c: Ctx) -> None:
    """The floor: snakemq's request and reply format over a bare ROUTER, methods run inline."""
    import zmq
    instance = Echo(c)
    with zmq_socket(zmq.ROUTER) as sock:
        c.put("ready", {"port": sock.bind_to_random_port("tcp://127.0.0.1")})
        sock.rcvtimeo = 100
        seen = 0
        while not c.stop.is_set():
            c.check("serving")
            try:
                rid, data = sock.recv_multipart()
            except zmq.Again:
                continue
            if data == b"hello":
                seen += 1
                if seen == c.p["senders"] * c.p["threads"]:
                    c.go.set()
                continue
            params = pickle.loads(data[6:])
            result = getattr(instance, params["method"])(*params["args"], **params["kwargs"])
            reply = {"ok": True, "return": result, "req_id": params["req_id"]}
            sock.send_multipart([rid, b"rpcrep" + pickle.dumps(reply)])


def zmq_rpc_client(c: Ctx) -> None:
    """Each calling thread has a DEALER of its own (a ZeroMQ socket belongs to one thread)."""
    import zmq
    context = zmq.Context()
    dealers: List[Any] = []
    payload = b"x" * c.p["size"]

    def connect() -> Any:
        dealer = context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.rcvtimeo = max(1, int(c.left() * 1000))
        dealer.connect("tcp://127.0.0.1:%d" % (c.port or 0))
        dealer.send(b"hello")
        dealers.append(dealer)
        return dealer

    def make_call() -> Callable[[], Any]:
        dealer = sockets.pop()

        def call() -> Any:
            params = {"command": "call", "object": RPC_OBJECT, "method": "echo", "args": (payload,),
                      "kwargs": {}, "req_id": os.urandom(16)}
            dealer.send(b"rpcreq" + pickle.dumps(params))
            reply = pickle.loads(dealer.recv()[6:])
            assert reply["req_id"] == params["req_id"]
            return reply["return"]
        return call

    try:
        sockets = [connect() for _ in range(c.p["threads"])]
        if not c.go.wait(max(0.0, c.left())):
            c.check("connecting")
        warm = sockets[0]
        for _ in range(c.p["warmup"]):
            warm.send(b"rpcreq" + pickle.dumps({"command": "call", "object": RPC_OBJECT, "method": "echo",
                                                  "args": (payload,), "kwargs": {}, "req_id": b"w"}))
            warm.recv()
        start = Usage()
        elapsed = timed_calls(c, lambda: None, make_call)
        c.put("result", {"calls": c.p["count"], "elapsed": elapsed,
                         "cost": Usage().since(start, c.p["count"])})
        c.stop.wait(max(0.0, c.left()))
    finally:
        for dealer in dealers:
            dealer.close(0)
        context.term()


def floor_loop_pass(poller: Any, sock: Any, wakeup: Any, timeout_ms: int,
                    handle: Callable[[List[bytes]], None], outbox: Any) -> None:
    """One pass of the zmq-loop floor's loop thread: wait for the socket or a wake-up,
    ``handle`` every message that is in, then send what other threads queued in ``outbox``."""
    import zmq
    for ready, _ in poller.poll(timeout_ms):
        if ready is not sock:
            wakeup.drain()
            continue
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            handle(frames)
    while outbox:
        sock.send_multipart(outbox.popleft())


def floor_poller(sock: Any, wakeup: Any) -> Any:
    import zmq
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(wakeup.fileno(), zmq.POLLIN)
    return poller


def loop_floor_rpc_server(c: Ctx) -> None:
    """The floor in snakemq's thread shape, server side: one loop thread owns the ROUTER and
    hands each request to an idle worker thread (a new one when none is idle), which decodes
    it, runs the method and hands the reply back through a queue and a wake-up (snakezmq's
    socket pair). No protocol, no acks."""
    import queue
    import zmq
    from snakezmq._transport.wakeup import Wakeup
    instance = Echo(c)
    jobs: Any = queue.SimpleQueue()
    replies: Any = collections.deque()
    wakeup = Wakeup()
    idle_lock = threading.Lock()
    idle = seen = 0

    def worker() -> None:
        nonlocal idle
        while True:
            rid, data = jobs.get()
            params = pickle.loads(data[6:])
            result = getattr(instance, params["method"])(*params["args"], **params["kwargs"])
            replies.append([rid, b"rpcrep" + pickle.dumps({"ok": True, "return": result,
                                                            "req_id": params["req_id"]})])
            wakeup.wake()
            with idle_lock:
                idle += 1

    def handle(frames: List[bytes]) -> None:
        nonlocal idle, seen
        if frames[1] == b"hello":
            seen += 1
            if seen == c.p["senders"]:
                c.go.set()
            return
        with idle_lock:
            start_one = idle == 0
            idle -= 0 if start_one else 1
        if start_one:
            threading.Thread(target=worker, daemon=True).start()
        jobs.put(frames)

    with zmq_socket(zmq.ROUTER) as sock:
        c.put("ready", {"port": sock.bind_to_random_port("tcp://127.0.0.1")})
        poller = floor_poller(sock, wakeup)
        try:
            while not c.stop.is_set():
                c.check("serving")
                floor_loop_pass(poller, sock, wakeup, 100, handle, replies)
        finally:
            wakeup.close()


def loop_floor_rpc_client(c: Ctx) -> None:
    """The floor in snakemq's thread shape, client side: calling threads hand their request to
    the loop thread that owns the DEALER (a queue and a wake-up) and wait on a lock that the
    loop thread releases when the reply is in."""
    import zmq
    from snakezmq._transport.wakeup import Wakeup
    requests: Any = collections.deque()
    waiting: Dict[bytes, List[Any]] = {}
    wakeup = Wakeup()
    looping = threading.Event()
    looping.set()
    ids = iter(range(1 << 62))
    payload = b"x" * c.p["size"]

    def call() -> Any:
        req_id = b"%d" % next(ids)
        slot: List[Any] = [threading.Lock(), None]
        slot[0].acquire()
        waiting[req_id] = slot
        requests.append([b"rpcreq" + pickle.dumps({"command": "call", "object": RPC_OBJECT, "method": "echo",
                                                   "args": (payload,), "kwargs": {}, "req_id": req_id})])
        wakeup.wake()
        if not slot[0].acquire(timeout=max(0.001, c.left())):
            c.check("calling")
        return slot[1]["return"]

    def handle(frames: List[bytes]) -> None:
        reply = pickle.loads(frames[0][6:])
        slot = waiting.pop(reply["req_id"])
        slot[1] = reply
        slot[0].release()

    with zmq_socket(zmq.DEALER) as dealer:
        dealer.connect("tcp://127.0.0.1:%d" % (c.port or 0))
        dealer.send(b"hello")
        poller = floor_poller(dealer, wakeup)

        def loop() -> None:
            while looping.is_set():
                floor_loop_pass(poller, dealer, wakeup, 50, handle, requests)

        loop_thread = threading.Thread(target=loop, name="bench-loop", daemon=True)
        loop_thread.start()
        try:
            if not c.go.wait(max(0.0, c.left())):
                c.check("connecting")
            for _ in range(c.p["warmup"]):
                call()
            start = Usage()
            elapsed = timed_calls(c, call)
            c.put("result", {"calls": c.p["count"], "elapsed": elapsed,
                             "cost": Usage().since(start, c.p["count"])})
        finally:
            looping.clear()
            loop_thread.join(10)
            wakeup.close()
    c.stop.wait(max(0.0, c.left()))


def raise_fd_limit() -> None:
    """Many peers need more descriptors than the usual soft limit of 1,024."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


class PeerCount:
    """The listener's side of a peers case: memory before and after every peer is in, then the
    CPU time (all the process's threads, libzmq's included) from the first message to the last."""

    def __init__(self, c: Ctx) -> None:
        self.c = c
        self.total = c.p["peers"] * c.p["count"]
        self.received = 0
        self.packets = 0  #: Packeter packets (a MESSAGES packet may carry many messages)
        gc.collect()
        self.rss0 = rss_bytes()
        self.cpu0 = self.t0 = 0.0

    def all_in(self) -> None:
        gc.collect()
        self.rss1 = rss_bytes()
        self.c.go.set()

    def got(self, n: int = 1) -> None:
        if self.received == 0:
            self.cpu0, self.t0 = time.process_time(), time.monotonic()
        self.received += n
        if self.received == self.total:
            cpu, t_last = time.process_time() - self.cpu0, time.monotonic()
            self.c.put("result", {"cpu_per_msg": cpu / self.total, "elapsed": t_last - self.t0,
                                  "t_last": t_last, "count": self.received,
                                  "packets": self.packets or self.received,
                                  "mem_per_conn": (self.rss1 - self.rss0) / self.c.p["peers"]})


def peers_listener(c: Ctx) -> None:
    raise_fd_limit()
    api, link, messaging = messaging_setup(c, RECV_IDENT)
    address = link.add_listener(("127.0.0.1", 0))
    count = PeerCount(c)
    idents = set()

    def on_connect(conn_id: str, ident: str) -> None:
        idents.add(ident)
        if len(idents) == c.p["peers"]:
            count.all_in()

    messaging.on_connect.add(on_connect)
    messaging.on_message_recv.add(lambda conn_id, ident, message: count.got())
    messaging.packeter.on_packet_recv.add(lambda conn_id, packet: setattr(count, "packets", count.packets + 1))
    c.put("ready", {"port": address[1]})
    try:
        run_loop_until(link, c.stop.is_set, c, "receiving")
    finally:
        link.cleanup()


def peers_host(c: Ctx) -> None:
    """``peers`` Messaging peers in one process, each Link looping in a thread of its own;
    once all are in, the main thread queues ``count`` messages on each in turn."""
    raise_fd_limit()
    api = load_api(c.package)
    first, n = c.p["first"], c.p["here"]
    links, peers = [], []
    connected: "collections.Counter[str]" = collections.Counter()
    lock = threading.Lock()

    def on_connect(conn_id: str, ident: str) -> None:
        with lock:
            connected["n"] += 1

    for index in range(first, first + n):
        link = api.link.Link()
        messaging = api.messaging.Messaging("bench-peer-%d" % index, "", api.packeter.Packeter(link))
        messaging.on_connect.add(on_connect)
        link.add_connector(("127.0.0.1", c.port))
        links.append(link)
        peers.append(messaging)
    looping = threading.Event()
    looping.set()

    def run_loop(link: Any) -> None:
        while looping.is_set():
            link.loop(poll_timeout=0.1, runtime=0.5)

    threads = [threading.Thread(target=run_loop, args=(link,), daemon=True) for link in links]
    for thread in threads:
        thread.start()
    try:
        if not c.go.wait(max(0.0, c.left())):
            c.check("connecting %d peers (%d in)" % (n, connected["n"]))
        Message, payload = api.message.Message, b"x" * c.p["size"]
        t_first = time.monotonic()
        for messaging in peers:
            for _ in range(c.p["count"]):
                messaging.send_message(RECV_IDENT, Message(payload, ttl=c.p["ttl"]))
        c.put("sent", {"t_first": t_first, "t_queued": time.monotonic()})
        c.stop.wait(max(0.0, c.left()))
    finally:
        looping.clear()
        for link in links:
            link.stop()
        for thread in threads:
            thread.join(5)
        for link in links:
            link.cleanup()


def zmq_peers_listener(c: Ctx) -> None:
    import zmq
    raise_fd_limit()
    with zmq_socket(zmq.ROUTER) as sock:
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        count = PeerCount(c)
        c.put("ready", {"port": port})
        sock.rcvtimeo = 100
        seen: "set[bytes]" = set()
        while len(seen) < c.p["peers"]:
            c.check("connecting")
            try:
                seen.add(sock.recv_multipart()[0])
            except zmq.Again:
                pass
        count.all_in()
        recv = sock.recv_multipart
        sock.rcvtimeo = max(1, int(c.left() * 1000))
        while count.received < count.total:
            recv()
            count.got()
        c.stop.wait(max(0.0, c.left()))


def zmq_peers_host(c: Ctx) -> None:
    import zmq
    raise_fd_limit()
    context = zmq.Context()
    context.max_sockets = 4 * c.p["here"] + 64
    dealers = []
    try:
        for _ in range(c.p["here"]):
            dealer = context.socket(zmq.DEALER)
            dealer.linger = 0
            dealer.connect("tcp://127.0.0.1:%d" % (c.port or 0))
            dealer.send(b"hello")
            dealers.append(dealer)
        if not c.go.wait(max(0.0, c.left())):
            c.check("connecting")
        payload = b"x" * c.p["size"]
        t_first = time.monotonic()
        for dealer in dealers:
            for _ in range(c.p["count"]):
                dealer.send(payload)
        c.put("sent", {"t_first": t_first, "t_queued": time.monotonic()})
        c.stop.wait(max(0.0, c.left()))
    finally:
        for dealer in dealers:
            dealer.close(0)
        context.term()


WORKERS = {
    ("messaging", "recv"): messaging_receiver,
    ("messaging", "send"): messaging_sender,
    ("messaging", "mem"): messaging_memory,
    ("zmq", "recv"): zmq_receiver,
    ("zmq", "send"): zmq_sender,
    ("zmq", "mem"): zmq_memory,
    ("rpc", "recv"): rpc_server,
    ("rpc", "send"): rpc_client,
    ("zmq-rpc", "recv"): zmq_rpc_server,
    ("zmq-rpc", "send"): zmq_rpc_client,
    ("zmq-loop-rpc", "recv"): loop_floor_rpc_server,
    ("zmq-loop-rpc", "send"): loop_floor_rpc_client,
    ("peers", "recv"): peers_listener,
    ("peers", "send"): peers_host,
    ("zmq-peers", "recv"): zmq_peers_listener,
    ("zmq-peers", "send"): zmq_peers_host,
}


def worker_kind(backend: str, scenario: str) -> str:
    """The WORKERS key's first part: the backend's kind, and which family of scenario."""
    kind = backend if backend in ("zmq", LOOP_FLOOR) else "messaging"
    family = "rpc" if scenario.startswith("rpc") else "peers" if scenario.startswith("peers") else ""
    if not family:
        return kind
    return family if kind == "messaging" else kind + "-" + family


def worker_main(role: str, backend: str, scenario: str, params: Dict[str, Any], idx: int,
                port: Optional[int], q: Any, go: Any, stop: Any, deadline: float) -> None:
    logging.basicConfig(level=logging.WARNING,
                        format="[%(processName)s] %(name)s %(levelname)s %(message)s")
    if backend == BASELINE:
        sys.path.insert(0, params["baseline"])  # before anything imports snakezmq
    c = Ctx(role, backend, scenario, params, idx, port, q, go, stop, deadline)
    try:
        WORKERS[(worker_kind(backend, scenario), role)](c)
    except BaseException:
        c.put("error", traceback.format_exc())
        sys.exit(1)


