"""What every ``snakezmq`` subcommand shares: exit codes, addresses, CurveZMQ options,
output (text or one JSON object per line), a progress bar, and running a Link."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from typing import IO, Any, Callable, Dict, Optional, Tuple, Union

from .. import init_logging
from ..link import Link
from ..messaging import Messaging
from ..packeter import Packeter
from ..security import CurveConfig

# Exit codes: what went wrong, for scripts (also in ``snakezmq --help``).
OK = 0
ERROR = 1  #: bad arguments or files (key file missing, ...)
USAGE = 2  #: argparse's own
UNREACHABLE = 3  #: nothing listens there, or nothing answered
REFUSED = 4  #: the listener refused us: CURVE key, security mechanism, ident not allowed, version
DUPLICATE_IDENT = 5  #: another peer is connected with this ident
DROPPED = 6  #: a message's TTL ran out before it was acknowledged
TIMEOUT = 7  #: connected, but not everything was acknowledged in time
NOT_SNAKEZMQ = 8  #: something listens there, but it does not speak snakezmq
WRONG_IDENT = 9  #: the listener has another ident than the one the messages are for
INTERRUPTED = 130  #: Ctrl-C or SIGTERM

EXIT_CODES_HELP = """exit codes:
  0 success                   5 the ident is already connected (duplicate ident)
  1 bad arguments or files    6 a message's TTL ran out before it was acknowledged
  2 usage error               7 timed out waiting for acknowledgements
  3 no listener reachable     8 something listens, but it is not snakezmq
  4 refused by the listener   9 the listener has another ident than --to
    (CurveZMQ key or mode,  130 interrupted (Ctrl-C, SIGTERM)
    ident, protocol version)"""

Address = Union[Tuple[str, int], str]


class CliError(Exception):
    """A problem to report in one line, with its exit code."""

    def __init__(self, text: str, code: int = ERROR) -> None:
        super().__init__(text)
        self.code = code


def parse_address(text: str, listening: bool) -> Address:
    """``host:port``, ``:port``, ``port`` or a ZeroMQ endpoint (``tcp://``, ``ipc://``)."""
    if "://" in text:
        if text.startswith("inproc://"):
            raise CliError("inproc:// only works inside one process; use tcp:// or ipc://", USAGE)
        return text
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise CliError("address %r: expected HOST:PORT, PORT or a tcp:// / ipc:// endpoint" % text, USAGE)
    host = host.strip("[]") or ("" if listening else "127.0.0.1")
    return (host, int(port))


def show_address(address: Address) -> str:
    return address if isinstance(address, str) else "tcp://%s:%d" % (address[0] or "*", address[1])


# -- CurveZMQ options -----------------------------------------------------------------------------

def add_curve_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("CurveZMQ (encryption and client keys; make keys with "
                                      "`snakezmq keys`)")
    group.add_argument("--key", metavar="FILE", help="this side's secret key file (NAME.key_secret)")
    group.add_argument("--server-key", metavar="FILE",
                       help="connectors: the listener's public key file (server.key)")
    group.add_argument("--clients", metavar="DIR",
                       help="listeners: the allowed clients' public keys (IDENT.key each)")
    group.add_argument("--curve", metavar="DIR",
                       help="shorthand for the files `snakezmq keys DIR` wrote: a listener uses "
                            "DIR/server.key_secret and DIR/clients, a connector with ident ME "
                            "DIR/clients/ME.key_secret and DIR/server.key")


def _existing(path: str, what: str) -> str:
    if not os.path.exists(path):
        raise CliError("%s %s does not exist (make keys with: snakezmq keys DIR IDENT...)" % (what, path))
    return path


def listener_curve(args: argparse.Namespace) -> Optional[CurveConfig]:
    key, clients = args.key, args.clients
    if args.curve:
        key = key or os.path.join(args.curve, "server.key_secret")
        clients = clients or os.path.join(args.curve, "clients")
    if args.server_key:
        raise CliError("--server-key is for connectors; a listener takes --key and --clients", USAGE)
    if not key and not clients:
        return None
    if not (key and clients):
        raise CliError("a CurveZMQ listener needs --key (its secret key) and --clients (who may "
                       "connect), or --curve DIR", USAGE)
    return CurveConfig.from_files(_existing(key, "key file"),
                                  allowed_clients_dir=_existing(clients, "clients directory"))


def connector_curve(args: argparse.Namespace, ident: str) -> Optional[CurveConfig]:
    key, server_key = args.key, args.server_key
    if args.curve:
        key = key or os.path.join(args.curve, "clients", ident + ".key_secret")
        server_key = server_key or os.path.join(args.curve, "server.key")
    if args.clients:
        raise CliError("--clients is for listeners; a connector takes --key and --server-key", USAGE)
    if not key and not server_key:
        return None
    if not (key and server_key):
        raise CliError("a CurveZMQ connector needs --key (its secret key) and --server-key (the "
                       "listener's public key), or --curve DIR", USAGE)
    return CurveConfig.from_files(_existing(key, "key file"),
                                  server_public_file=_existing(server_key, "server key file"))


def curve_ident(args: argparse.Namespace) -> Optional[str]:
    """The ident a connector's key file names (``alice.key_secret`` -> ``alice``), if any."""
    key: Optional[str] = args.key
    if key and key.endswith(".key_secret"):
        return os.path.basename(key)[:-len(".key_secret")]
    return None


# -- output ----------------------------------------------------------------------------------------

class Output:
    """Events as text lines, or as one JSON object per line (``--json``)."""

    def __init__(self, json_lines: bool, stream: IO[str] = sys.stdout) -> None:
        self.json_lines = json_lines
        self.stream = stream
        self.progress: Optional[Progress] = None

    def event(self, _event: str, _text: str, **fields: Any) -> None:
        """Print event ``_event``: ``_text`` as a line, or ``fields`` as a JSON object."""
        if self.progress is not None:
            self.progress.clear()
        if self.json_lines:
            line = json.dumps(dict({"event": _event, "time": round(time.time(), 6)}, **fields))
        else:
            line = _text
        self.stream.write(line + "\n")
        self.stream.flush()


class Progress:
    """A one-line progress bar on a terminal (stderr), redrawn at most 10 times a second."""

    WIDTH = 30

    def __init__(self, total: int, label: str, stream: IO[str] = sys.stderr) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.start = time.monotonic()
        self._drawn = 0.0

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        filled = self.WIDTH * done // max(self.total, 1)
        rate = done / max(now - self.start, 1e-6)
        self.stream.write("\r[%s%s] %d/%d %s, %.0f msg/s " % (
            "#" * filled, "." * (self.WIDTH - filled), done, self.total, self.label, rate))
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r" + " " * (self.WIDTH + 60) + "\r")
        self.stream.flush()


def add_command(subparsers: Any, name: str, summary: str, description: str,
                examples: str) -> argparse.ArgumentParser:
    """A subcommand's parser: ``--help`` shows ``examples`` and the exit codes."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=summary, description=description, epilog=examples + "\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


def common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per line per event")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show snakezmq's log on stderr (-v: INFO, -vv: DEBUG)")
    add_curve_options(parser)


def setup_logging(args: argparse.Namespace, default: int = logging.CRITICAL + 1) -> None:
    init_logging(sys.stderr)
    levels = {0: default, 1: logging.INFO}
    logging.getLogger("snakezmq").setLevel(levels.get(args.verbose, logging.DEBUG))


# -- running a stack -------------------------------------------------------------------------------

def stack(ident: str, storage: Any = None) -> Tuple[Link, Packeter, Messaging]:
    link = Link()
    packeter = Packeter(link)
    return link, packeter, Messaging(ident, "", packeter, storage)


def run_until(link: Link, done: Callable[[], bool], timeout: Optional[float],
              each_pass: Optional[Callable[[], None]] = None) -> bool:
    """Run ``link``'s loop until ``done()`` (True) or ``timeout`` seconds passed (False)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not done():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        link.loop(poll_timeout=0.05, count=1, runtime=0.05 if left is None else min(0.05, left))
        if each_pass is not None:
            each_pass()
    return True


def sigterm_interrupts() -> None:
    """SIGTERM ends a command as Ctrl-C does (KeyboardInterrupt)."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def describe_error(error: BaseException) -> Dict[str, Any]:
    return {"type": type(error).__name__, "text": str(error)}
