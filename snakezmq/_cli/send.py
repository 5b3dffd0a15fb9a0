"""``snakezmq send``: send messages and exit 0 only when every one was acknowledged."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, List, Optional, Set, Tuple

from ..exceptions import ConnectionRefused, DuplicateIdent, SnakeMQIncompatibleProtocol
from ..message import FLAG_PERSISTENT, Message
from ..storage.sqlite import SqliteQueuesStorage
from .common import (add_command, DROPPED, DUPLICATE_IDENT, NOT_SNAKEZMQ, OK, REFUSED, TIMEOUT,
                     UNREACHABLE, WRONG_IDENT, Output, Progress, common_options, connector_curve,
                     describe_error, parse_address, run_until, setup_logging, show_address,
                     sigterm_interrupts, stack)

EXAMPLES = """examples:
  snakezmq send localhost:4000 --ident me --to server "hello"
  echo -n '{"a": 1}' | snakezmq send localhost:4000 --ident me --to server -
  snakezmq send localhost:4000 --ident me --to server --ttl 30 --count 10000 "load"
  snakezmq send localhost:4000 --ident me --to server --persistent queue.db "kept until acked"
  snakezmq send localhost:4000 --ident alice --to server --curve keys "secret"

Exits 0 only when the listener acknowledged every message (delivered to its
application). With --persistent DB the messages are stored first; what is not
acknowledged when the command ends stays in DB, and the next run with the same
DB sends it again.
"""


def add_parser(subparsers: Any) -> None:
    parser = add_command(subparsers, "send", "send messages; exit 0 only when all were acknowledged",
                         "Connect to the listener at ADDRESS as --ident and send MESSAGE (or standard "
                    "input, with -) to the peer --to, --count times.", EXAMPLES)
    parser.add_argument("address", metavar="ADDRESS", help="HOST:PORT, PORT (localhost), tcp://... or ipc://...")
    parser.add_argument("message", metavar="MESSAGE|-", help="the message text, or - for standard input")
    parser.add_argument("--ident", required=True, help="this sender's ident")
    parser.add_argument("--to", required=True, metavar="IDENT", help="the listener's ident")
    parser.add_argument("--ttl", type=float, help="seconds a message may wait for the listener "
                        "(default: no limit); counts only while it is not connected")
    parser.add_argument("--persistent", metavar="DB", help="store the messages in this SQLite file "
                        "until acknowledged (FLAG_PERSISTENT)")
    parser.add_argument("--count", type=int, default=1, help="send the message this many times")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="give up after this many seconds (default 10)")
    common_options(parser)
    parser.set_defaults(run=run)


class Delivery:
    """What happened to the messages of one run, and the exit code it makes."""

    def __init__(self, to: str, pending: Set[bytes], out: Output) -> None:
        self.to, self.pending, self.out = to, pending, out
        self.total = len(pending)
        self.acked = self.dropped = 0
        self.link_up = False
        self.peer: Optional[str] = None  #: the listener's ident, once its Messaging connected
        self.failure: Optional[Tuple[int, str]] = None  #: (exit code, reason): stop now

    def finished(self) -> bool:
        return self.failure is not None or not self.pending

    def sent(self, conn_id: str, ident: str, uuid: bytes) -> None:
        if uuid in self.pending:
            self.pending.discard(uuid)
            self.acked += 1
            if self.out.json_lines:
                self.out.event("acked", "", ident=ident, uuid=uuid.hex())

    def drop(self, ident: str, uuid: bytes) -> None:
        if uuid in self.pending:
            self.pending.discard(uuid)
            self.dropped += 1
            self.out.event("dropped", "message %s dropped: its TTL ran out before %r acknowledged it"
                           % (uuid.hex(), ident), ident=ident, uuid=uuid.hex())

    def connected(self, conn_id: str, ident: str) -> None:
        self.peer = ident
        self.out.event("connected", "connected to %r" % ident, conn_id=conn_id, ident=ident)
        if ident != self.to:
            self.failure = (WRONG_IDENT, "the listener's ident is %r, not %r: messages for %r cannot "
                            "be delivered through it (check --to)" % (ident, self.to, self.to))

    def error(self, conn_id: Optional[str], error: Exception) -> None:
        self.out.event("error", "error: %s: %s" % (type(error).__name__, error), conn_id=conn_id,
                       **describe_error(error))
        if isinstance(error, DuplicateIdent):
            self.failure = (DUPLICATE_IDENT, str(error))
        elif isinstance(error, (ConnectionRefused, SnakeMQIncompatibleProtocol)):
            self.failure = (REFUSED, "refused: %s" % error)

    def outcome(self, address: str, finished: bool) -> Tuple[int, str]:
        if self.failure is not None:
            return self.failure
        if self.dropped:
            return (DROPPED, "%d of %d messages were dropped: their TTL ran out" % (self.dropped, self.total))
        if finished:
            return (OK, "%d messages acknowledged by %r" % (self.acked, self.peer or self.to))
        if self.peer is not None:
            return (TIMEOUT, "%d of %d messages acknowledged when the time ran out"
                    % (self.acked, self.total))
        if self.link_up:
            return (NOT_SNAKEZMQ, "the listener at %s answered the link handshake, but no Messaging "
                    "identified itself" % address)
        return (UNREACHABLE, "no snakezmq listener answered at %s (run `snakezmq ping %s` to see "
                "why)" % (address, address))


def read_message(text: str) -> bytes:
    return sys.stdin.buffer.read() if text == "-" else text.encode("utf-8")


def queue_messages(messaging: Any, args: argparse.Namespace, data: bytes) -> List[bytes]:
    flags = FLAG_PERSISTENT if args.persistent else 0
    uuids = []
    for _ in range(args.count):
        message = Message(data, ttl=args.ttl, flags=flags)
        uuids.append(message.uuid)
        messaging.send_message(args.to, message)
    return uuids


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    out = Output(args.json)
    address = parse_address(args.address, listening=False)
    data = read_message(args.message)
    curve = connector_curve(args, args.ident)
    storage = SqliteQueuesStorage(args.persistent) if args.persistent else None
    stored = [m.uuid for m in storage.get_items(args.to)] if storage is not None else []
    link, packeter, messaging = stack(args.ident, storage)
    delivery = Delivery(args.to, set(stored), out)
    messaging.on_message_sent.add(delivery.sent)
    messaging.on_message_drop.add(delivery.drop)
    messaging.on_connect.add(delivery.connected)
    messaging.on_error.add(delivery.error)
    packeter.on_connect.add(lambda conn_id: setattr(delivery, "link_up", True))
    progress = Progress(args.count + len(stored), "acknowledged") \
        if args.count > 1 and sys.stderr.isatty() and not args.json else None
    out.progress = progress
    started = time.monotonic()
    try:
        link.add_connector(address, ssl_config=curve)
        delivery.pending.update(queue_messages(messaging, args, data))
        delivery.total = len(delivery.pending)
        if stored:
            out.event("stored", "%d messages from an earlier run in %s are sent too"
                      % (len(stored), args.persistent), count=len(stored))
        sigterm_interrupts()
        finished = run_until(link, delivery.finished, args.timeout,
                             lambda: progress.update(delivery.acked) if progress else None)
    finally:
        if progress is not None:
            progress.update(delivery.acked, force=True)
            progress.clear()
        link.linger = 1.0
        link.cleanup()
        if storage is not None:
            storage.close()
    code, reason = delivery.outcome(show_address(address), finished)
    if code != OK and args.persistent and delivery.pending:
        reason += "; %d messages stay in %s for the next run" % (len(delivery.pending), args.persistent)
    _report(out, code, reason, delivery, time.monotonic() - started)
    return int(code)


def _report(out: Output, code: int, reason: str, delivery: Delivery, seconds: float) -> None:
    if out.json_lines:
        out.event("done", "", exit=code, reason=reason, acknowledged=delivery.acked,
                  dropped=delivery.dropped, total=delivery.total, seconds=round(seconds, 3))
    elif code == OK:
        out.event("done", "%s in %.2f s" % (reason, seconds))
    else:
        print("snakezmq send: %s" % reason, file=sys.stderr)
