"""The ``snakezmq`` command (``python -m snakezmq``): listen, send, ping, keys, bench.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> exit code``; they use snakezmq's public API only.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .. import __version__
from . import bench, keys, listen, ping, send
from .common import EXIT_CODES_HELP, INTERRUPTED, CliError

COMMANDS = [listen, send, ping, keys, bench]

DESCRIPTION = """snakezmq's command-line tool: listen for messages, send some, diagnose a
deployment, make CurveZMQ keys, or measure throughput."""

EXAMPLES = """examples:
  snakezmq listen 4000 --ident server            # print connects, disconnects, messages
  snakezmq send localhost:4000 --ident me --to server --ttl 30 "hello"
  snakezmq ping localhost:4000                   # what is wrong, in plain words
  snakezmq keys keys alice bob                   # CurveZMQ keys for a listener and two clients
  snakezmq listen 4000 --ident server --curve keys
  snakezmq send localhost:4000 --ident alice --to server --curve keys "secret"
  snakezmq bench                                 # a quick side-by-side benchmark

Run `snakezmq COMMAND --help` for each command's options and examples.

""" + EXIT_CODES_HELP


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="snakezmq", description=DESCRIPTION, epilog=EXAMPLES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version="snakezmq " + __version__)
    subparsers = top.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return top


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except CliError as exc:
        print("snakezmq %s: %s" % (args.command, exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("snakezmq %s: interrupted" % args.command, file=sys.stderr)
        return INTERRUPTED
