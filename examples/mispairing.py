"""The seed's mis-pairing, and the log lines that explain it.

Runs the seed's server (seed_server.py, unchanged) in a subprocess and, in this
process, the seed's client with one mistake:

- ``--mistake ident`` (default): the client identifies as "clinet", so the
  server's message for "client" waits for an ident nobody connected as;
- ``--mistake port``: the client connects to a port where nothing listens.

snakemq said nothing in either case ("no error in the logs, and no reply ever
comes"). snakezmq logs a WARNING after a grace period (5 s), naming the ident
and the idents that are connected, or the endpoint nobody answers at.

Usage: python examples/mispairing.py [--mistake ident|port] [--runtime SECONDS]
Exits 0 when the explaining WARNING was logged.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import time
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # works from a checkout without installing, too

import snakezmq.link  # noqa: E402
import snakezmq.message  # noqa: E402
import snakezmq.messaging  # noqa: E402
import snakezmq.packeter  # noqa: E402

LOG_FORMAT = "[%(asctime)s] %(levelname)s [%(name)s:%(lineno)s] %(message)s"  # the seed's
EXPLAINS = {
    "ident": "messages for ident 'client' have waited",  # in the server's log
    "port": "no snakezmq listener reachable at",  # in the client's log
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 15.0) -> None:
    """Until the server accepts TCP connections (so the client's first attempt succeeds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Lines(logging.Handler):
    """Keeps this process's formatted log lines, to print them next to the server's."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: List[str] = []
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def run_client(ident: str, port: int, runtime: float) -> List[str]:
    """The seed's client.py with the given ident and port, for ``runtime`` seconds."""
    lines = Lines()
    root = logging.getLogger()
    root.addHandler(lines)
    logger = logging.getLogger("client")
    logger.setLevel(logging.INFO)
    link = snakezmq.link.Link()
    packeter = snakezmq.packeter.Packeter(link)
    messaging = snakezmq.messaging.Messaging(ident, "", packeter)
    link.add_connector(("localhost", port))
    link.on_connect.add(lambda conn_id: logger.info("Connected to: %s", conn_id))
    messaging.on_message_recv.add(lambda conn, sender, message: logger.info(
        "client received: %r, from: %s", message.data, sender))
    status = json.dumps({"type": "status", "value": "ready"}).encode("utf-8")
    messaging.send_message("server", snakezmq.message.Message(status, ttl=600))
    try:
        link.loop(runtime=runtime)
    finally:
        link.cleanup()
        root.removeHandler(lines)
    return lines.lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mistake", choices=sorted(EXPLAINS), default="ident")
    parser.add_argument("--runtime", type=float, default=8.0,
                        help="seconds each side runs (the warnings come after 5 s)")
    args = parser.parse_args()
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get(
        "PYTHONPATH")] if p]))
    server = subprocess.Popen([sys.executable, os.path.join(HERE, "seed_server.py"),
                               str(args.runtime), str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_listening(port)
        ident = "clinet" if args.mistake == "ident" else "client"
        client_port = port if args.mistake == "ident" else free_port()
        client_lines = run_client(ident, client_port, args.runtime)
        server_output, _ = server.communicate(timeout=args.runtime + 20)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    print("---- seed server (ident 'server', listening on %d) ----" % port)
    print(server_output.rstrip())
    print("---- mis-configured client (ident %r, connecting to %d) ----" % (ident, client_port))
    print("\n".join(client_lines))
    explaining = [line for line in server_output.splitlines() + client_lines
                  if EXPLAINS[args.mistake] in line]
    print("---- the line that explains it ----")
    print("\n".join(explaining) or "(none: snakezmq stayed silent, which is a bug)")
    return 0 if explaining else 1


if __name__ == "__main__":
    sys.exit(main())
