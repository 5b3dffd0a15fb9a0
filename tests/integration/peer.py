"""A snakezmq peer for integration tests, run as a subprocess (see tests/conftest.py ``Peer``).

    python peer.py --ident worker [--listen 127.0.0.1:0] [--connect 127.0.0.1:5555 ...]
                   [--reconnect-interval 0.2] [--max-runtime 60]
                   [--storage FILE] [--recv-summary] [--die-after K]
                   [--keepalive INTERVAL,WAIT]

Addresses are ``host:port`` or ZeroMQ endpoint strings. Prints one JSON object
per line on stdout (each with ``t``, its ``time.monotonic()``): ``ready`` (with the listeners' real addresses and, with
``--storage``, the number of stored messages per ident), ``connect``,
``disconnect``, ``recv``, ``error``, ``log`` (WARNING and above), ``cleaned``.
Reads JSON commands from stdin, one per line:
``{"cmd": "send", "to": ident, "data": text, "ttl": seconds_or_null, "persistent": false}``,
``{"cmd": "cleanup"}`` (link.cleanup(), then exit 0) and
``{"cmd": "exit"}`` (link.stop(), exit without cleanup). EOF on stdin also exits,
so a peer never outlives its test.

For delivery tests with many messages:

- ``--storage FILE``: Messaging uses ``SqliteQueuesStorage(FILE)``.
- ``--recv-summary``: a message whose payload starts with 10 digits (its
  sequence number, as ``send_many`` writes it) is not printed one line each;
  after every received packet (so before the receiver acknowledges it) one
  ``got`` line lists what that packet delivered: ``{"event": "got", "ident":
  sender, "ranges": [[first, last], ...]}`` (inclusive runs of consecutive
  numbers, in arrival order).
- ``--keepalive INTERVAL,WAIT``: Messaging's ``keepalive_interval`` and
  ``keepalive_wait`` (seconds).
- ``--die-after K``: after the K-th message reached ``on_message_recv`` (and was
  reported), the process SIGKILLs itself: a crash in the middle of a batch.
- ``{"cmd": "send_many", "to": ident, "n": N, "start": 0, "size": 100, "ttl": null,
  "persistent": false, "rate": msgs_per_s_or_null, "report_every": 100}``: a new
  thread (not the loop's) calls ``send_message`` N times with payloads
  ``b"%010d" % seq`` padded to ``size``; ``sent`` lines report how many calls
  returned (``count``), the last one with ``"done": true``.
- ``{"cmd": "close"}``: ``link.close()`` every connection (``closed`` line).
- ``{"cmd": "stats"}``: a ``stats`` line: ``queued``, ``inflight`` and ``acked``
  (``on_message_sent`` calls) per destination ident, ``got`` (numbered messages
  received) and ``uuids`` (distinct uuids among them) per sender.
- ``{"cmd": "pause", "seconds": S}``: stop running the loop (ZeroMQ's own
  threads keep receiving) until ``{"cmd": "resume"}`` or S seconds passed;
  ``paused`` and ``resumed`` lines. ``--pause-on-connect S`` does the same as
  soon as the first peer's Messaging connects (a slow receiver, with no race
  against a fast sender).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Set, Union

import snakezmq.link
import snakezmq.message
import snakezmq.messaging
import snakezmq.packeter
import snakezmq.storage.sqlite
from snakezmq.message import FLAG_PERSISTENT

_print_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    fields["event"] = event
    fields["t"] = time.monotonic()  # system-wide clock: tests time events across processes
    line = json.dumps(fields)
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def parse_address(text: str) -> Union[str, tuple]:
    if "://" in text:
        return text
    host, _, port = text.rpartition(":")
    return host, int(port)


class Summary:
    """Numbered messages received (``--recv-summary``), reported once per packet."""

    def __init__(self, die_after: Optional[int]) -> None:
        self.pending: Dict[str, List[List[int]]] = {}  #: sender: runs not yet printed
        self.counts: Dict[str, int] = {}
        self.uuids: Dict[str, Set[bytes]] = {}
        self.die_after = die_after
        self.total = 0

    def add(self, ident: str, seq: int, uuid: bytes) -> None:
        runs = self.pending.setdefault(ident, [])
        if runs and runs[-1][1] + 1 == seq:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
        self.counts[ident] = self.counts.get(ident, 0) + 1
        self.uuids.setdefault(ident, set()).add(uuid)
        self.total += 1
        if self.die_after is not None and self.total >= self.die_after:
            self.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for ident, runs in pending.items():
            emit("got", ident=ident, ranges=runs)


def send_many(messaging: Any, cmd: Dict[str, Any]) -> None:
    """``send_message`` N numbered messages from this (non-loop) thread, optionally paced."""
    n, start, size = cmd["n"], cmd.get("start", 0), cmd.get("size", 100)
    flags = FLAG_PERSISTENT if cmd.get("persistent") else 0
    rate, every = cmd.get("rate"), cmd.get("report_every", 100)
    began = time.monotonic()
    for count in range(1, n + 1):
        payload = b"%010d" % (start + count - 1)
        message = snakezmq.message.Message(payload + b"." * (size - len(payload)),
                                           ttl=cmd.get("ttl"), flags=flags)
        messaging.send_message(cmd["to"], message)
        if count % every == 0 or count == n:
            emit("sent", to=cmd["to"], count=count, done=count == n)
            if rate:
                ahead = began + count / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)  # pacing, so the stream lasts a while


class EmitLogs(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:  # noqa: A003 (logging's name)
        emit("log", level=record.levelname, name=record.name, text=record.getMessage())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ident", required=True)
    parser.add_argument("--listen", action="append", default=[])
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--reconnect-interval", type=float, default=None)
    parser.add_argument("--max-runtime", type=float, default=60.0)
    parser.add_argument("--storage", default=None)
    parser.add_argument("--recv-summary", action="store_true")
    parser.add_argument("--die-after", type=int, default=None)
    parser.add_argument("--keepalive", default=None, help="INTERVAL,WAIT: Messaging's keepalive")
    parser.add_argument("--pause-on-connect", type=float, default=None,
                        help="stop running the loop for this many seconds (or until resume) "
                             "as soon as the first peer identifies itself")
    args = parser.parse_args()

    logger = logging.getLogger("snakezmq")
    logger.setLevel(logging.WARNING)
    logger.addHandler(EmitLogs())

    link = snakezmq.link.Link()
    packeter = snakezmq.packeter.Packeter(link)
    storage = None
    if args.storage:
        storage = snakezmq.storage.sqlite.SqliteQueuesStorage(args.storage)
    messaging = snakezmq.messaging.Messaging(args.ident, "", packeter, storage)
    if args.keepalive:
        interval, wait = (float(value) for value in args.keepalive.split(","))
        messaging.keepalive_interval, messaging.keepalive_wait = interval, wait
    messaging.on_connect.add(lambda conn_id, ident: emit("connect", conn_id=conn_id, ident=ident))
    messaging.on_disconnect.add(lambda conn_id, ident: emit("disconnect", conn_id=conn_id, ident=ident))
    summary = Summary(args.die_after) if args.recv_summary or args.die_after else None

    def on_message_recv(conn_id: str, ident: str, message: Any) -> None:
        if summary is not None and message.data[:10].isdigit():
            summary.add(ident, int(message.data[:10]), message.uuid)
            return
        emit("recv", conn_id=conn_id, ident=ident, data=message.data.decode("utf-8", "replace"),
             uuid=message.uuid.hex(), ttl=message.ttl, flags=message.flags)

    messaging.on_message_recv.add(on_message_recv)
    if summary is not None:
        # Added after Messaging's own handler: runs once the packet's messages were
        # delivered, and before the loop pass that acknowledges them.
        packeter.on_packet_recv.add(lambda conn_id, packet: summary.flush())
    messaging.on_error.add(lambda conn_id, exc: emit(
        "error", conn_id=conn_id, type=type(exc).__name__, text=str(exc),
        ident=getattr(exc, "ident", None)))

    listeners = []
    for address in args.listen:
        real = link.add_listener(parse_address(address))
        listeners.append(list(real) if isinstance(real, tuple) else real)
    for address in args.connect:
        link.add_connector(parse_address(address), reconnect_interval=args.reconnect_interval)
    stored = {}
    if storage is not None:
        stored = {ident: len(storage.get_items(ident)) for ident in storage.get_queues()}
    emit("ready", listeners=listeners, stored=stored)

    acked: Dict[str, int] = {}

    def on_message_sent(conn_id: str, ident: str, uuid: bytes) -> None:
        acked[ident] = acked.get(ident, 0) + 1

    messaging.on_message_sent.add(on_message_sent)
    conn_ids: List[str] = []
    packeter.on_connect.add(conn_ids.append)
    packeter.on_disconnect.add(lambda conn_id: conn_id in conn_ids and conn_ids.remove(conn_id))
    in_loop: "queue.Queue[Dict[str, Any]]" = queue.Queue()  #: commands for the loop's thread

    def run_loop_commands() -> None:
        while True:
            try:
                cmd = in_loop.get_nowait()
            except queue.Empty:
                return
            if cmd["cmd"] == "close":
                closing = list(conn_ids)
                for conn_id in closing:
                    link.close(conn_id)
                emit("closed", conn_ids=closing)
            elif cmd["cmd"] == "stats":
                queues = messaging._outbox.queues
                emit("stats", queued={i: len(q) for i, q in queues.items()},
                     inflight={i: len(q.inflight) for i, q in queues.items()},
                     acked=dict(acked),
                     got=dict(summary.counts) if summary else {},
                     uuids={i: len(u) for i, u in summary.uuids.items()} if summary else {})

    link.on_loop_pass.add(run_loop_commands)

    state: Dict[str, Any] = {"quit": None}
    resume = threading.Event()

    def read_commands() -> None:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "send":
                flags = FLAG_PERSISTENT if cmd.get("persistent") else 0
                message = snakezmq.message.Message(cmd["data"].encode("utf-8"), ttl=cmd.get("ttl"),
                                                   flags=flags)
                messaging.send_message(cmd["to"], message)
            elif cmd["cmd"] == "send_many":
                threading.Thread(target=send_many, args=(messaging, cmd), daemon=True).start()
            elif cmd["cmd"] in ("close", "stats"):
                in_loop.put(cmd)
                link.wakeup_poll()
            elif cmd["cmd"] == "pause":
                resume.clear()
                state["pause"] = cmd.get("seconds", 10.0)
                link.stop()
            elif cmd["cmd"] == "resume":
                resume.set()
            elif cmd["cmd"] in ("cleanup", "exit"):
                state["quit"] = cmd["cmd"]
                resume.set()
                link.stop()
                return
        state["quit"] = "exit"  # stdin closed: the test is gone
        resume.set()
        link.stop()

    if args.pause_on_connect is not None:
        def pause_on_first_connect(conn_id: str, ident: str) -> None:
            messaging.on_connect.remove(pause_on_first_connect)
            state["pause"] = args.pause_on_connect
            link.stop()

        messaging.on_connect.add(pause_on_first_connect)
    threading.Thread(target=read_commands, daemon=True).start()
    deadline = time.monotonic() + args.max_runtime
    while state["quit"] is None and time.monotonic() < deadline:
        pause = state.pop("pause", None)
        if pause is not None:
            emit("paused")
            resume.wait(min(pause, max(0.0, deadline - time.monotonic())))
            emit("resumed")
            continue
        link.loop(poll_timeout=0.05, runtime=0.2)
    if state["quit"] == "cleanup":
        link.cleanup()
        emit("cleaned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
