"""The client of snakemq's tests/performance/packeter_single_large.py, imports changed:
send one packet, wait for ``on_packet_sent``, ``stop()``, ``cleanup()``, exit.

    python single_packet_sender.py PORT SIZE normal|os_exit|no_linger|no_cleanup

``os_exit``: ``os._exit(0)`` right after ``cleanup()``, as a multiprocessing child
ends (no interpreter shutdown). ``no_linger``: ``link.linger = 0`` before
``cleanup()``; ``no_cleanup``: no ``cleanup()`` at all (both: normal exit, and
the packet may be lost). Prints ``sent <packet id>`` when the Packeter says so.
"""
from __future__ import annotations

import os
import sys

import snakezmq.link
import snakezmq.packeter


def payload(size: int) -> bytes:
    """``size`` bytes the receiver can check (not all equal, so misplaced bytes show)."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def main(port: int, size: int, exit_mode: str) -> None:
    s = snakezmq.link.Link()

    def on_connect(conn_id: str) -> None:
        tr.send_packet(conn_id, payload(size))

    def on_packet_sent(conn_id: str, packet_id: int) -> None:
        print("sent", packet_id, flush=True)
        s.stop()

    s.add_connector(("127.0.0.1", port))
    tr = snakezmq.packeter.Packeter(s)
    tr.on_connect = on_connect
    tr.on_packet_sent = on_packet_sent
    s.loop()
    if exit_mode == "no_cleanup":
        return
    if exit_mode == "no_linger":
        s.linger = 0
    s.cleanup()
    if exit_mode == "os_exit":
        os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
