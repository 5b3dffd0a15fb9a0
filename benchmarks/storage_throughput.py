#!/usr/bin/env python3
"""Persistent throughput per storage: SQLite, SQLAlchemy on SQLite, SQLAlchemy on PostgreSQL.

Two measurements per storage, in one process:

  messaging  ``count`` FLAG_PERSISTENT messages of 100 B through Messaging to a
             connected receiver (each durable when ``send_message`` returns,
             deleted from the storage when acknowledged): messages per second
             from the first send to the last acknowledgement. The sender's and
             the receiver's loops run in two threads.
  push       ``count`` ``storage.push`` calls, each its own committed transaction
             (what ``send_message`` does for a persistent message), and the same
             inside one ``storage.batch()``: pushes per second.

MemoryQueuesStorage (not persistent) is the baseline. The last row keeps
PostgreSQL's commits off the disk's critical path (``synchronous_commit=off``:
safe against a killed snakezmq process, not against a database crash within
a fraction of a second of the commit). PostgreSQL is a
throwaway server started for the run (tests/pgserver.py: initdb in a
temporary directory, a free port on 127.0.0.1, fsync on, stopped at the end);
without PostgreSQL binaries that row says why it is missing.

Usage:
  python benchmarks/storage_throughput.py               # 2,000 messages per storage
  python benchmarks/storage_throughput.py --count 500
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import snakezmq.link  # noqa: E402
import snakezmq.messaging  # noqa: E402
import snakezmq.packeter  # noqa: E402
from snakezmq.message import FLAG_PERSISTENT, Message  # noqa: E402
from snakezmq.storage import MemoryQueuesStorage  # noqa: E402
from snakezmq.storage.sqlite import SqliteQueuesStorage  # noqa: E402
from tests.pgserver import PostgresServer, Unavailable  # noqa: E402

DEADLINE = 300.0  #: seconds for one messaging run


def sqla(url: str, **kwargs: Any) -> Any:
    from snakezmq.storage.sqla import SqlAlchemyQueuesStorage

    storage = SqlAlchemyQueuesStorage(url, **kwargs)
    storage.drop_structures()
    storage.create_structures()
    return storage


def messaging_rate(make_storage: Callable[[], Any], count: int) -> float:
    """Persistent messages per second, first send to last acknowledgement."""
    storage = make_storage()
    links = [snakezmq.link.Link(), snakezmq.link.Link()]
    sender = snakezmq.messaging.Messaging("sender", "", snakezmq.packeter.Packeter(links[0]), storage)
    receiver = snakezmq.messaging.Messaging("receiver", "", snakezmq.packeter.Packeter(links[1]))
    connected, done = threading.Event(), threading.Event()
    acked: List[int] = [0]
    sender.on_connect.add(lambda conn_id, ident: connected.set())

    def sent(conn_id: str, ident: str, uuid: bytes) -> None:
        acked[0] += 1
        if acked[0] == count:
            done.set()

    sender.on_message_sent.add(sent)
    links[1].add_connector(links[0].add_listener(("127.0.0.1", 0)), reconnect_interval=0.2)
    threads = [threading.Thread(target=link.loop, kwargs={"poll_timeout": 0.05}) for link in links]
    for thread in threads:
        thread.start()
    try:
        if not connected.wait(30):
            raise RuntimeError("no connection")
        started = time.monotonic()
        for number in range(count):
            sender.send_message("receiver", Message(b"%08d" % number + bytes(92), ttl=None,
                                                    flags=FLAG_PERSISTENT))
        if not done.wait(DEADLINE):
            raise RuntimeError("only %d of %d acknowledged" % (acked[0], count))
        return count / (time.monotonic() - started)
    finally:
        for link in links:
            link.stop()
        for thread in threads:
            thread.join(timeout=30)
        for link in links:
            link.cleanup()
        storage.close()


def push_rates(make_storage: Callable[[], Any], count: int) -> Tuple[float, float]:
    """(pushes per second one transaction each, pushes per second in one batch)."""
    storage = make_storage()
    try:
        rates = []
        for batched in (False, True):
            messages = [Message(bytes(100), ttl=None, flags=FLAG_PERSISTENT) for _ in range(count)]
            started = time.monotonic()
            if batched:
                with storage.batch():
                    for message in messages:
                        storage.push("q", message)
            else:
                for message in messages:
                    storage.push("q", message)
            rates.append(count / (time.monotonic() - started))
            storage.delete_all()
        return rates[0], rates[1]
    finally:
        storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="snakezmq-bench-")
    server: Optional[PostgresServer] = PostgresServer()
    try:
        server.start()
    except Unavailable as exc:
        print("PostgreSQL: %s" % exc)
        server = None
    storages: Dict[str, Optional[Callable[[], Any]]] = {
        "MemoryQueuesStorage (not persistent)": MemoryQueuesStorage,
        "SqliteQueuesStorage": lambda: SqliteQueuesStorage(os.path.join(directory, "q%f.db" % time.time())),
        "SqlAlchemyQueuesStorage, SQLite file": lambda: sqla(
            "sqlite:///" + os.path.join(directory, "sqla%f.db" % time.time())),
        "SqlAlchemyQueuesStorage, PostgreSQL": (lambda: sqla(server.url)) if server else None,
        "  same, synchronous_commit=off": (lambda: sqla(
            server.url, connect_args={"options": "-c synchronous_commit=off"})) if server else None,
    }
    try:
        print("%-38s %12s %12s %12s" % ("storage (%d x 100 B)" % args.count, "messaging/s",
                                        "push/s", "batched/s"))
        for name, make in storages.items():
            if make is None:
                print("%-38s %12s" % (name, "(no server)"))
                continue
            pushed, batched = push_rates(make, args.count)
            rate = messaging_rate(make, args.count)
            print("%-38s %12.0f %12.0f %12.0f" % (name, rate, pushed, batched), flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
