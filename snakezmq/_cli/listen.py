"""``snakezmq listen``: print connects, disconnects, received messages and errors."""
from __future__ import annotations

import argparse
import base64
import logging
from typing import Any, Dict

from ..message import Message
from .common import (add_command, OK, TIMEOUT, CliError, Output, common_options, describe_error,
                     listener_curve, parse_address, run_until, setup_logging, show_address,
                     sigterm_interrupts, stack)

EXAMPLES = """examples:
  snakezmq listen 4000 --ident server                  # all interfaces, port 4000
  snakezmq listen 127.0.0.1:0 --ident server --json    # a free port; JSON lines (the first
                                                       # one, "listening", has the address)
  snakezmq listen ipc:///tmp/app.sock --ident server --count 1   # exit after one message
  snakezmq listen 4000 --ident server --key keys/server.key_secret --clients keys/clients
"""


def add_parser(subparsers: Any) -> None:
    parser = add_command(subparsers, "listen", "listen and print connects, disconnects and messages",
                         "Listen on ADDRESS as a snakezmq Messaging peer named --ident; print every "
                    "connect, disconnect, received message and error until interrupted.", EXAMPLES)
    parser.add_argument("address", metavar="ADDRESS", help="PORT, HOST:PORT, tcp://... or ipc://...")
    parser.add_argument("--ident", required=True, help="this listener's ident (peers send --to it)")
    parser.add_argument("--count", type=int, help="exit 0 after this many messages")
    parser.add_argument("--timeout", type=float,
                        help="exit after this many seconds (7 if --count was not reached, else 0)")
    common_options(parser)
    parser.set_defaults(run=run)


def message_fields(message: Message) -> Dict[str, Any]:
    """A received message for JSON: its text when it is UTF-8, else base64."""
    fields: Dict[str, Any] = {"uuid": message.uuid.hex(), "ttl": message.ttl, "flags": message.flags,
                              "size": len(message.data)}
    try:
        fields["data"] = message.data.decode("utf-8")
    except UnicodeDecodeError:
        fields["data_base64"] = base64.b64encode(message.data).decode("ascii")
    return fields


def message_text(ident: str, message: Message) -> str:
    try:
        body = message.data.decode("utf-8")
    except UnicodeDecodeError:
        body = repr(message.data[:200])
    ttl = "no ttl" if message.ttl is None else "ttl %g s" % message.ttl
    return "message from %r (%d bytes, %s, flags %#x, uuid %s): %s" % (
        ident, len(message.data), ttl, message.flags, message.uuid.hex(), body)


def _listen(link: Any, address: Any, args: argparse.Namespace) -> Any:
    curve = listener_curve(args)
    try:
        return link.add_listener(address, ssl_config=curve)
    except Exception as exc:  # ZeroMQ's errors (address in use, ...) are not OSErrors
        raise CliError("cannot listen on %s: %s" % (args.address, exc)) from exc


def run(args: argparse.Namespace) -> int:
    setup_logging(args, logging.WARNING)  # a listener's log says who was refused and why
    out = Output(args.json)
    address = parse_address(args.address, listening=True)
    link, packeter, messaging = stack(args.ident)
    received = [0]

    def on_message(conn_id: str, ident: str, message: Message) -> None:
        received[0] += 1
        out.event("message", message_text(ident, message), conn_id=conn_id, ident=ident,
                  **message_fields(message))

    messaging.on_connect.add(lambda conn_id, ident: out.event(
        "connect", "connect %s: %r" % (conn_id, ident), conn_id=conn_id, ident=ident))
    messaging.on_disconnect.add(lambda conn_id, ident: out.event(
        "disconnect", "disconnect %s: %r" % (conn_id, ident), conn_id=conn_id, ident=ident))
    messaging.on_message_recv.add(on_message)
    messaging.on_error.add(lambda conn_id, error: out.event(
        "error", "error %s: %s: %s" % (conn_id, type(error).__name__, error), conn_id=conn_id,
        **describe_error(error)))
    try:
        real = _listen(link, address, args)
        secure = args.key or args.clients or args.curve
        out.event("listening", "listening on %s as %r%s" % (
            show_address(real), args.ident, " (CurveZMQ)" if secure else ""),
            address=show_address(real), ident=args.ident, curve=bool(secure))
        sigterm_interrupts()
        done = run_until(link, lambda: args.count is not None and received[0] >= args.count, args.timeout)
    finally:
        link.linger = 1.0
        link.cleanup()
    return OK if done or args.count is None else TIMEOUT
