"""A snakezmq peer for integration tests, run as a subprocess (see tests/conftest.py ``Peer``).

    python peer.py --ident worker [--listen 127.0.0.1:0] [--connect 127.0.0.1:5555 ...]
                   [--reconnect-interval 0.2] [--max-runtime 60]

Addresses are ``host:port`` or ZeroMQ endpoint strings. Prints one JSON object
per line on stdout: ``ready`` (with the listeners' real addresses), ``connect``,
``disconnect``, ``recv``, ``error``, ``log`` (WARNING and above), ``cleaned``.
Reads JSON commands from stdin, one per line:
``{"cmd": "send", "to": ident, "data": text, "ttl": seconds_or_null}``,
``{"cmd": "cleanup"}`` (link.cleanup(), then exit 0) and
``{"cmd": "exit"}`` (link.stop(), exit without cleanup). EOF on stdin also exits,
so a peer never outlives its test.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from typing import Any, Union

import snakezmq.link
import snakezmq.message
import snakezmq.messaging
import snakezmq.packeter

_print_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    fields["event"] = event
    line = json.dumps(fields)
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def parse_address(text: str) -> Union[str, tuple]:
    if "://" in text:
        return text
    host, _, port = text.rpartition(":")
    return host, int(port)


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
    args = parser.parse_args()

    logger = logging.getLogger("snakezmq")
    logger.setLevel(logging.WARNING)
    logger.addHandler(EmitLogs())

    link = snakezmq.link.Link()
    packeter = snakezmq.packeter.Packeter(link)
    messaging = snakezmq.messaging.Messaging(args.ident, "", packeter)
    messaging.on_connect.add(lambda conn_id, ident: emit("connect", conn_id=conn_id, ident=ident))
    messaging.on_disconnect.add(lambda conn_id, ident: emit("disconnect", conn_id=conn_id, ident=ident))
    messaging.on_message_recv.add(lambda conn_id, ident, message: emit(
        "recv", conn_id=conn_id, ident=ident, data=message.data.decode("utf-8", "replace"),
        uuid=message.uuid.hex(), ttl=message.ttl, flags=message.flags))
    messaging.on_error.add(lambda conn_id, exc: emit(
        "error", conn_id=conn_id, type=type(exc).__name__, text=str(exc),
        ident=getattr(exc, "ident", None)))

    listeners = []
    for address in args.listen:
        real = link.add_listener(parse_address(address))
        listeners.append(list(real) if isinstance(real, tuple) else real)
    for address in args.connect:
        link.add_connector(parse_address(address), reconnect_interval=args.reconnect_interval)
    emit("ready", listeners=listeners)

    state = {"quit": None}

    def read_commands() -> None:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "send":
                message = snakezmq.message.Message(cmd["data"].encode("utf-8"), ttl=cmd.get("ttl"))
                messaging.send_message(cmd["to"], message)
            elif cmd["cmd"] in ("cleanup", "exit"):
                state["quit"] = cmd["cmd"]
                link.stop()
                return
        state["quit"] = "exit"  # stdin closed: the test is gone
        link.stop()

    threading.Thread(target=read_commands, daemon=True).start()
    deadline = time.monotonic() + args.max_runtime
    while state["quit"] is None and time.monotonic() < deadline:
        link.loop(poll_timeout=0.05, runtime=0.2)
    if state["quit"] == "cleanup":
        link.cleanup()
        emit("cleaned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
