"""``snakezmq ping``: what is at an address, and what is wrong, in plain words.

Three steps, each one answering a question: does anything accept a connection
there (TCP or the ipc socket file)? Does it speak ZeroMQ, and with which security
mechanism (its ZMTP greeting says NULL or CURVE)? Does it speak snakezmq: the
link handshake (HELLO / WELCOME), then Messaging's (IDENT / RESUME), which names
the listener's ident and measures a round trip? The greeting probe hangs up with a
reset, which listeners take for a health check (no log line).
"""
from __future__ import annotations

import argparse
import os
import socket
import struct
import time
from typing import Any, Dict, Optional, Tuple

from ..exceptions import ConnectionRefused, DuplicateIdent, SnakeMQIncompatibleProtocol
from ..version import LINK_PROTOCOL_VERSION, PROTOCOL_VERSION
from .common import (add_command, DUPLICATE_IDENT, NOT_SNAKEZMQ, OK, REFUSED, UNREACHABLE, Address,
                     CliError, Output, common_options, connector_curve, curve_ident, parse_address,
                     run_until, setup_logging, show_address, stack)

EXAMPLES = """examples:
  snakezmq ping localhost:4000
  snakezmq ping tcp://server.example:4000 --ident alice     # is 'alice' taken there?
  snakezmq ping server.example:4000 --curve keys --ident alice
  snakezmq ping ipc:///tmp/app.sock --json

It reports whether something listens there, whether it speaks ZeroMQ and snakezmq,
the listener's ident and protocol versions, whether CurveZMQ is required or our key
was refused (and why), whether the ident is taken, and the round-trip time. The
listener sees a short connection from the ping's ident.
"""

ZMTP_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"
GREETING_BYTES = 64


def add_parser(subparsers: Any) -> None:
    parser = add_command(subparsers, "ping", "diagnose a listener: reachable? ZeroMQ? snakezmq? "
                         "CurveZMQ? ident taken? rtt",
                         "Diagnose the snakezmq listener at ADDRESS and say what is wrong, if anything.",
                         EXAMPLES)
    parser.add_argument("address", metavar="ADDRESS", help="HOST:PORT, PORT (localhost), tcp://... or ipc://...")
    parser.add_argument("--ident", help="the ident to connect with (default: the --key file's name, "
                        "else ping-PID)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds for each step (default 5)")
    common_options(parser)
    parser.set_defaults(run=run)


class Verdict(Exception):
    """The diagnosis ends here, with an exit code."""

    def __init__(self, code: int, check: str, text: str) -> None:
        super().__init__(text)
        self.code, self.check = code, check


def parse_greeting(data: bytes) -> Tuple[Tuple[int, int], str]:
    """``((major, minor), mechanism)`` of a ZMTP 3 greeting; Verdict if it is none."""
    if len(data) < 12 or data[0] != 0xFF or not data[9] & 1:
        raise Verdict(NOT_SNAKEZMQ, "zeromq", "something listens there, but it is not ZeroMQ (it sent "
                      "%r)" % data[:40] if data else "something listens there, but it sends nothing: "
                      "not a ZeroMQ service, or a frozen one")
    if data[10] < 3 or len(data) < 32:
        return (data[10], 0), "NULL"  # ZMTP 2 has no mechanisms
    return (data[10], data[11]), data[12:32].rstrip(b"\x00").decode("ascii", "replace")


def open_socket(address: Address, timeout: float) -> socket.socket:
    """A plain connection to the address (Verdict UNREACHABLE if none)."""
    try:
        if isinstance(address, str) and address.startswith("ipc://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(address[len("ipc://"):])
            return sock
        host, port = _host_port(address)
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise Verdict(UNREACHABLE, "connect", "the host name does not resolve (%s)" % exc) from exc
    except socket.timeout as exc:
        raise Verdict(UNREACHABLE, "connect", "no answer within %g s: a wrong host, or a firewall "
                      "that drops the packets" % timeout) from exc
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        raise Verdict(UNREACHABLE, "connect", "nothing listens there (%s): is the listener running, "
                      "on this port?" % (exc.strerror or exc)) from exc
    except OSError as exc:
        raise Verdict(UNREACHABLE, "connect", "cannot connect: %s" % exc) from exc


def _host_port(address: Address) -> Tuple[str, int]:
    if isinstance(address, tuple):
        return address
    rest = address[len("tcp://"):] if address.startswith("tcp://") else address
    host, _, port = rest.rpartition(":")
    if not port.isdigit():
        raise CliError("address %r has no port" % address)
    return host.strip("[]"), int(port)


def probe_greeting(address: Address, timeout: float) -> Tuple[float, Tuple[int, int], str]:
    """Connect, read the ZMTP greeting, hang up with a reset: (connect ms, version, mechanism)."""
    start = time.monotonic()
    sock = open_socket(address, timeout)
    connect_ms = (time.monotonic() - start) * 1000
    data = b""
    try:
        sock.sendall(ZMTP_SIGNATURE + b"\x03")  # ZMTP 3: the peer then sends its whole greeting
        while len(data) < GREETING_BYTES:
            chunk = sock.recv(GREETING_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    except OSError as exc:
        if not data:
            raise Verdict(NOT_SNAKEZMQ, "zeromq", "something listens there, but it hung up (%s): "
                          "not a ZeroMQ service" % exc) from exc
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    version, mechanism = parse_greeting(data)
    return connect_ms, version, mechanism


def check_mechanism(mechanism: str, secure: bool) -> None:
    if mechanism == "CURVE" and not secure:
        raise Verdict(REFUSED, "curve", "the listener requires CurveZMQ: pass --key (this side's "
                      ".key_secret) and --server-key (the listener's public .key), or --curve DIR; "
                      "make keys with `snakezmq keys`")
    if mechanism == "NULL" and secure:
        raise Verdict(REFUSED, "curve", "the listener is plaintext (no CurveZMQ): drop the CurveZMQ "
                      "options, or give the listener keys")
    if mechanism not in ("NULL", "CURVE"):
        raise Verdict(NOT_SNAKEZMQ, "curve", "the listener uses ZeroMQ's %s security mechanism: "
                      "not a snakezmq listener" % mechanism)


class Handshake:
    """The snakezmq handshakes of one connection, as the public callbacks show them."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.link_at: Optional[float] = None  #: WELCOME: the link session started
        self.ident: Optional[str] = None
        self.rtt_ms: Optional[float] = None  #: our IDENT out, the listener's RESUME back
        self.error: Optional[Exception] = None

    def link_connected(self, conn_id: str) -> None:
        self.link_at = time.monotonic()

    def messaging_connected(self, conn_id: str, ident: str) -> None:
        self.ident = ident
        if self.link_at is not None:
            self.rtt_ms = (time.monotonic() - self.link_at) * 1000

    def failed(self, conn_id: Optional[str], error: Exception) -> None:
        if isinstance(error, (ConnectionRefused, DuplicateIdent, SnakeMQIncompatibleProtocol)):
            self.error = self.error or error

    def done(self) -> bool:
        return self.ident is not None or self.error is not None


def snakezmq_handshake(address: Address, ident: str, args: argparse.Namespace) -> Handshake:
    link, packeter, messaging = stack(ident)
    shake = Handshake()
    packeter.on_connect.add(shake.link_connected)
    messaging.on_connect.add(shake.messaging_connected)
    messaging.on_error.add(shake.failed)  # (the Link's errors too, through packeter.on_error)
    try:
        link.add_connector(address, ssl_config=connector_curve(args, ident))
        run_until(link, shake.done, args.timeout)
    finally:
        link.linger = 0.0
        link.cleanup()
    return shake


def judge(shake: Handshake, ident: str) -> None:
    error = shake.error
    if isinstance(error, DuplicateIdent):
        raise Verdict(DUPLICATE_IDENT, "ident", "ident %r is taken: %s" % (ident, error))
    if isinstance(error, SnakeMQIncompatibleProtocol):
        raise Verdict(REFUSED, "version", "incompatible protocol versions (this side: link %d, "
                      "messaging %d): %s" % (LINK_PROTOCOL_VERSION, PROTOCOL_VERSION, error))
    if isinstance(error, ConnectionRefused):
        raise Verdict(REFUSED, "refused", "the listener refused us: %s" % error.reason)
    if shake.link_at is None:
        raise Verdict(NOT_SNAKEZMQ, "snakezmq", "it speaks ZeroMQ, but not snakezmq: no answer to "
                      "the link handshake (HELLO)")
    if shake.ident is None:
        raise Verdict(NOT_SNAKEZMQ, "snakezmq", "it speaks the snakezmq link protocol, but no Messaging "
                      "identified itself (a bare Link or Packeter application?)")


def diagnose(out: Output, address: Address, ident: str, args: argparse.Namespace) -> Dict[str, Any]:
    secure = bool(args.key or args.server_key or args.curve)
    connect_ms, version, mechanism = probe_greeting(address, args.timeout)
    out.event("check", "  something listens: connected in %.1f ms" % connect_ms, check="connect",
              ok=True, ms=round(connect_ms, 3))
    out.event("check", "  speaks ZeroMQ: ZMTP %d.%d, security mechanism %s" % (version + (mechanism,)),
              check="zeromq", ok=True, zmtp="%d.%d" % version, mechanism=mechanism)
    check_mechanism(mechanism, secure)
    shake = snakezmq_handshake(address, ident, args)
    judge(shake, ident)
    assert shake.link_at is not None and shake.ident is not None
    link_ms = (shake.link_at - shake.start) * 1000
    rtt_ms = round(shake.rtt_ms or 0.0, 3)
    result: Dict[str, Any] = {"ident": shake.ident, "link_version": LINK_PROTOCOL_VERSION,
              "messaging_version": PROTOCOL_VERSION, "curve": mechanism == "CURVE",
              "rtt_ms": rtt_ms, "handshake_ms": round(link_ms, 3)}
    out.event("check", "  speaks snakezmq: listener ident %r, protocol versions link %d / messaging "
              "%d (same as this side)" % (shake.ident, LINK_PROTOCOL_VERSION, PROTOCOL_VERSION),
              check="snakezmq", ok=True, **result)
    out.event("check", "  ident %r accepted%s; round trip %.2f ms (connection and handshake %.1f ms)"
              % (ident, " with CurveZMQ" if result["curve"] else "", rtt_ms, link_ms),
              check="rtt", ok=True, rtt_ms=result["rtt_ms"], handshake_ms=result["handshake_ms"])
    return result


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    out = Output(args.json)
    address = parse_address(args.address, listening=False)
    ident = args.ident or curve_ident(args) or "ping-%d" % os.getpid()
    shown = show_address(address)
    out.event("ping", "ping %s as %r" % (shown, ident), address=shown, ident=ident)
    try:
        result = diagnose(out, address, ident, args)
    except Verdict as verdict:
        out.event("result", "FAILED: %s" % verdict, ok=False, check=verdict.check, exit=verdict.code,
                  reason=str(verdict))
        return verdict.code
    out.event("result", "OK: snakezmq listener %r at %s" % (result["ident"], shown), ok=True, exit=OK,
              **result)
    return OK
