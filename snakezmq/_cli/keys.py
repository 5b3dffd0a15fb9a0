"""``snakezmq keys``: CurveZMQ key pairs for a listener and its clients."""
from __future__ import annotations

import argparse
import os
from typing import Any, List, Tuple

from ..security import create_key_pair
from .common import add_command, OK, USAGE, CliError, Output, common_options

EXAMPLES = """examples:
  snakezmq keys keys alice bob
      writes keys/server.key + keys/server.key_secret (the listener's pair) and
      keys/clients/alice.key + .key_secret, keys/clients/bob.key + .key_secret
  snakezmq keys keys carol --key /etc/app/server.key_secret --clients /etc/app/clients
      the same, in other places (--key names the listener's secret key file)

Then, with the same directory:
  snakezmq listen 4000 --ident server --curve keys
  snakezmq send localhost:4000 --ident alice --to server --curve keys "hello"
A listener needs only the clients' public .key files: each lets that key connect
as the ident of its file name. Each client keeps its own .key_secret.
"""


def add_parser(subparsers: Any) -> None:
    parser = add_command(subparsers, "keys", "make CurveZMQ keys for a listener and its clients",
                         "Make CurveZMQ key pairs (zmq.auth.create_certificates): the listener's in DIR, "
                    "one per client IDENT in DIR/clients. Existing files are kept unless --force.", EXAMPLES)
    parser.add_argument("directory", metavar="DIR", help="where the keys go")
    parser.add_argument("idents", metavar="IDENT", nargs="*", default=["client"],
                        help="client idents (default: client)")
    parser.add_argument("--force", action="store_true", help="overwrite existing key files")
    common_options(parser)
    parser.set_defaults(run=run)


def planned(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """``(directory, name)`` of each key pair to make: the listener's, then the clients'."""
    if args.server_key or args.curve:
        raise CliError("keys writes the listener's public key beside --key; --server-key and "
                       "--curve are for listen, send, ping and bench", USAGE)
    key = args.key or os.path.join(args.directory, "server.key_secret")
    if not key.endswith(".key_secret"):
        raise CliError("--key must name a NAME.key_secret file (its public NAME.key goes beside it)", USAGE)
    clients = args.clients or os.path.join(args.directory, "clients")
    server = (os.path.dirname(key) or ".", os.path.basename(key)[:-len(".key_secret")])
    for ident in args.idents:
        if not ident or os.sep in ident or ident.startswith("."):
            raise CliError("%r cannot be a key file name (an ident without %r)" % (ident, os.sep), USAGE)
    return [server] + [(clients, ident) for ident in args.idents]


def run(args: argparse.Namespace) -> int:
    out = Output(args.json)
    pairs = planned(args)
    existing = [os.path.join(d, n + ".key_secret") for d, n in pairs
                if os.path.exists(os.path.join(d, n + ".key_secret"))]
    if existing and not args.force:
        raise CliError("%s already exist(s); keep them, or pass --force to replace them" % ", ".join(existing))
    for directory, name in pairs:
        public, secret = create_key_pair(directory, name)
        role = "listener" if (directory, name) == pairs[0] else "client %r" % name
        out.event("key", "%s: %s (public), %s (secret: keep it on that side only)" % (role, public, secret),
                  role="listener" if role == "listener" else "client", ident=name, public=public,
                  secret=secret)
    server_dir, server_name = pairs[0]
    clients = pairs[1][0] if len(pairs) > 1 else args.clients or os.path.join(args.directory, "clients")
    out.event("usage", "listener: --key %s --clients %s\nclient IDENT: --key %s --server-key %s" % (
        os.path.join(server_dir, server_name + ".key_secret"), clients,
        os.path.join(clients, "IDENT.key_secret"), os.path.join(server_dir, server_name + ".key")),
        listener_key=os.path.join(server_dir, server_name + ".key_secret"), clients=clients)
    return OK
