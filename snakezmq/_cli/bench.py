"""``snakezmq bench``: a quick side-by-side benchmark on this machine.

Each configuration runs a receiver in a child process (``snakezmq bench --serve``)
and the sender here, on loopback: N messages one way (until the receiver has all
of them), then sequential round trips. Configurations: snakezmq over tcp, over
tcp with CurveZMQ (throwaway keys unless given), over ipc, and snakemq 1.6 over
tcp when it is installed: the same Messaging code, only the imports differ.
``benchmarks/bench.py`` is the full, careful benchmark (raw pyzmq too).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from typing import Any, Dict, List, Optional

from .common import OK, CliError, Output, add_command, common_options, run_until

EXAMPLES = """examples:
  snakezmq bench                          # about 10 s
  snakezmq bench --count 100000 --size 1000 --json
  snakezmq bench --curve keys             # CurveZMQ with your keys (client ident: bench-send)
"""

RECEIVER, SENDER = "bench-recv", "bench-send"
CONFIGS = [("snakezmq tcp", "snakezmq", "tcp", False), ("snakezmq tcp+CurveZMQ", "snakezmq", "tcp", True),
           ("snakezmq ipc", "snakezmq", "ipc", False), ("snakemq 1.6 tcp", "snakemq", "tcp", False)]


def add_parser(subparsers: Any) -> None:
    parser = add_command(subparsers, "bench", "a quick side-by-side benchmark (snakezmq tcp / CurveZMQ / "
                         "ipc, snakemq 1.6)", __doc__ or "", EXAMPLES)
    parser.add_argument("--count", type=int, default=20000, help="messages one way (default 20000)")
    parser.add_argument("--size", type=int, default=100, help="bytes per message (default 100)")
    parser.add_argument("--rtt", type=int, default=500, help="round trips (default 500)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per configuration")
    parser.add_argument("--serve", nargs=2, metavar=("BACKEND", "TRANSPORT"), help=argparse.SUPPRESS)
    common_options(parser)
    parser.set_defaults(run=run)


def load_api(package: str) -> types.SimpleNamespace:
    names = ("link", "packeter", "messaging", "message")
    return types.SimpleNamespace(**{name: importlib.import_module(package + "." + name) for name in names})


def make_stack(api: types.SimpleNamespace, ident: str) -> Any:
    link = api.link.Link()
    return link, api.messaging.Messaging(ident, "", api.packeter.Packeter(link))


def curve_options(args: argparse.Namespace, listening: bool) -> Dict[str, Any]:
    if not args.curve:
        return {}
    from ..security import CurveConfig  # (snakezmq only)
    if listening:
        return {"ssl_config": CurveConfig.from_files(os.path.join(args.curve, "server.key_secret"),
                                                     allowed_clients_dir=os.path.join(args.curve, "clients"))}
    return {"ssl_config": CurveConfig.from_files(os.path.join(args.curve, "clients", SENDER + ".key_secret"),
                                                 server_public_file=os.path.join(args.curve, "server.key"))}


def serve(args: argparse.Namespace) -> int:
    """The receiver: count messages, say "done" after --count, echo "?" messages, end on "quit"."""
    api = load_api(args.serve[0])
    link, messaging = make_stack(api, RECEIVER)
    state = {"count": 0, "quit": False}

    def on_recv(conn_id: str, ident: str, message: Any) -> None:
        if message.data[:1] == b"?":
            messaging.send_message(ident, api.message.Message(message.data, ttl=10))
        elif message.data == b"quit":
            state["quit"] = True
        else:
            state["count"] += 1
            if state["count"] == args.count:
                messaging.send_message(ident, api.message.Message(b"done", ttl=10))

    messaging.on_message_recv.add(on_recv)
    if args.serve[1] == "ipc":
        address: Any = "ipc://" + os.path.join(tempfile.mkdtemp(), "bench.sock")
        link.add_listener(address)
    else:
        address = link.add_listener(("127.0.0.1", 0), **curve_options(args, True))
    print(json.dumps({"address": list(address) if isinstance(address, tuple) else address}), flush=True)
    deadline = time.monotonic() + args.timeout
    while not state["quit"] and time.monotonic() < deadline:
        link.loop(poll_timeout=0.05, count=1, runtime=0.05)
    link.cleanup()
    return OK


def measure(args: argparse.Namespace, backend: str, address: Any) -> Dict[str, Any]:
    """The sender's side of one configuration: one-way throughput, then round trips."""
    api = load_api(backend)
    link, messaging = make_stack(api, SENDER)
    inbox: List[bytes] = []
    connected: List[str] = []
    messaging.on_message_recv.add(lambda conn_id, ident, message: inbox.append(message.data))
    messaging.on_connect.add(lambda conn_id, ident: connected.append(ident))
    link.add_connector(tuple(address) if isinstance(address, list) else address, **curve_options(args, False))
    try:
        if not run_until(link, lambda: bool(connected), args.timeout):
            raise CliError("the benchmark's receiver did not connect within %g s" % args.timeout)
        payload = b"x" * args.size
        start = time.monotonic()
        for _ in range(args.count):
            messaging.send_message(RECEIVER, api.message.Message(payload, ttl=None))
        run_until(link, lambda: b"done" in inbox, args.timeout)
        seconds = time.monotonic() - start
        rtts = [round_trip(api, link, messaging, inbox, i, args.timeout) for i in range(args.rtt)]
        messaging.send_message(RECEIVER, api.message.Message(b"quit", ttl=10))
        link.loop(poll_timeout=0.05, runtime=0.2)
    finally:
        link.cleanup()
    rtts.sort()
    return {"msg_per_s": args.count / seconds, "mb_per_s": args.count * args.size / seconds / 1e6,
            "rtt_p50_us": statistics.median(rtts) * 1e6 if rtts else None,
            "rtt_p99_us": rtts[int(len(rtts) * 0.99)] * 1e6 if rtts else None}


def round_trip(api: Any, link: Any, messaging: Any, inbox: List[bytes], number: int, timeout: float) -> float:
    question = b"?%d" % number
    start = time.monotonic()
    messaging.send_message(RECEIVER, api.message.Message(question, ttl=10))
    run_until(link, lambda: question in inbox, timeout)
    return time.monotonic() - start


def run_config(args: argparse.Namespace, backend: str, transport: str, curve_dir: Optional[str]) -> Dict[str, Any]:
    command = [sys.executable, "-m", "snakezmq", "bench", "--serve", backend, transport,
               "--count", str(args.count), "--timeout", str(args.timeout)]
    if curve_dir:
        command += ["--curve", curve_dir]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline() if child.stdout is not None else ""
        if not line:
            raise CliError("the benchmark's receiver (%s) did not start" % backend)
        args.curve = curve_dir
        return measure(args, backend, json.loads(line)["address"])
    finally:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)


def installed(package: str) -> bool:
    try:
        importlib.import_module(package + ".link")
    except ImportError:
        return False
    return True


def row(name: str, result: Optional[Dict[str, Any]], note: str = "") -> str:
    if result is None:
        return "%-24s %s" % (name, note)
    return "%-24s %10.0f %8.1f %9.0f us %9.0f us" % (name, result["msg_per_s"], result["mb_per_s"],
                                                      result["rtt_p50_us"] or 0, result["rtt_p99_us"] or 0)


def run(args: argparse.Namespace) -> int:
    if args.serve:
        return serve(args)
    out = Output(args.json)
    out.event("bench", "snakezmq bench: %d x %d B one way, %d round trips; sender and receiver in two "
              "processes on loopback\n%-24s %10s %8s %12s %12s" % (
                  args.count, args.size, args.rtt, "configuration", "msg/s", "MB/s", "rtt p50", "rtt p99"),
              count=args.count, size=args.size, rtt=args.rtt)
    user_curve = args.curve
    results: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as keys:
        for name, backend, transport, curve in CONFIGS:
            if not installed(backend):
                out.event("skipped", row(name, None, "not installed (pip install snakemq==1.6)"), name=name)
                continue
            curve_dir = (user_curve or _throwaway_keys(keys)) if curve else None
            results[name] = run_config(args, backend, transport, curve_dir)
            out.event("result", row(name, results[name]), name=name,
                      **{k: round(v, 1) for k, v in results[name].items() if v is not None})
    if "snakemq 1.6 tcp" in results:
        mine, theirs = results["snakezmq tcp"], results["snakemq 1.6 tcp"]
        out.event("ratio", "snakezmq tcp vs snakemq 1.6: %.2fx msg/s, %.2fx rtt p50" % (
            mine["msg_per_s"] / theirs["msg_per_s"], mine["rtt_p50_us"] / theirs["rtt_p50_us"]),
            msg_per_s=round(mine["msg_per_s"] / theirs["msg_per_s"], 3),
            rtt_p50=round(mine["rtt_p50_us"] / theirs["rtt_p50_us"], 3))
    return OK


def _throwaway_keys(directory: str) -> str:
    from ..security import create_key_pair

    if not os.path.exists(os.path.join(directory, "server.key_secret")):
        create_key_pair(directory, "server")
        create_key_pair(os.path.join(directory, "clients"), SENDER)
    return directory
