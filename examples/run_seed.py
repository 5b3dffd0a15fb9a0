"""Run the seed scenario: seed_server.py and seed_client.py as two processes.

Prints what each side received and exits 0 only if both messages arrived.
Usage: python examples/run_seed.py [--runtime SECONDS] [--port PORT]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = {
    "server": "server received: b'{\"type\": \"status\", \"value\": \"ready\"}', from: client",
    "client": "client received: b'{\"type\": \"execute\", \"value\": \"abc\"}', from: server",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(name: str, runtime: float, port: int) -> subprocess.Popen:
    script = os.path.join(HERE, "seed_%s.py" % name)
    return subprocess.Popen([sys.executable, script, str(runtime), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", type=float, default=3.0, help="seconds each process runs")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    args = parser.parse_args()
    port = args.port or free_port()
    server = start("server", args.runtime, port)
    time.sleep(0.3)  # the client would connect anyway; this only keeps the log order readable
    client = start("client", args.runtime, port)
    ok = True
    for name, process in (("server", server), ("client", client)):
        try:
            output, _ = process.communicate(timeout=args.runtime + 20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        print("---- %s (exit %s) ----" % (name, process.returncode))
        print(output.rstrip())
        received = EXPECTED[name] in output
        ok = ok and received and process.returncode == 0
    print("----\nseed scenario: %s" % ("both messages exchanged" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
