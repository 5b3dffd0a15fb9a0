"""A work-queue or pub/sub role in a subprocess, for integration and network-fault tests
(started by the ``peers`` fixture with ``script=PATTERN_PEER``; events as JSON lines).

    python pattern_peer.py --ident ID --role producer|worker|publisher|subscriber
        [--listen HOST:PORT] [--connect HOST:PORT ...] [--queue q] [--capacity 1]
        [--job-seconds S] [--die-after-done K] [--prefix P ...] [--ttl S] [--max-backlog N]

Events: ``ready`` (listeners), ``connect`` / ``disconnect`` (Messaging's), ``log``
(WARNING and above). Producer: ``done`` (job number, worker, result), ``failed``,
``dropped``. Worker: ``started`` and ``finished`` (job number, producer), ``acked`` (a
message it sent was acknowledged). Publisher:
``subscribe``, ``unsubscribe``, ``drop`` (ident, seq), ``published`` (count). Subscriber:
``got`` lines as peer.py's ``--recv-summary`` writes them (publisher ident, runs of seq).
Commands on stdin: ``{"cmd": "submit", "n": N, "ttl": null}`` (jobs numbered from 0, data
``b"%010d" % n``), ``{"cmd": "publish", "n": N, "rate": R, "topic": "t"}`` (a thread
publishes, paced), ``{"cmd": "exit"}``; EOF exits too.

A worker runs each job in a thread for ``--job-seconds`` (simulated work; the loop keeps
running), then reports the job's data back as its result. ``--die-after-done K``: on the
K-th job it reports the result and SIGKILLs itself before the loop can send it (the
documented way a job runs twice).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Dict

import snakezmq.link
import snakezmq.messaging
import snakezmq.packeter
from snakezmq.pubsub import Publisher, Subscriber
from snakezmq.workqueue import Producer, Worker
from tests.integration.peer import EmitLogs, Summary, emit, parse_address


def seq_of(data: bytes) -> int:
    return int(data[:10])


def producer(messaging: Any, args: Any) -> Dict[str, Any]:
    role = Producer(messaging, args.queue)
    role.on_job_done.add(lambda job_id, result: emit("done", job=seq_of(result), id=job_id.hex()))
    role.on_job_error.add(lambda job_id, error: emit("failed", id=job_id.hex(), error=error))
    role.on_job_drop.add(lambda job_id: emit("dropped", id=job_id.hex()))

    def submit(cmd: Dict[str, Any]) -> None:
        for n in range(cmd.get("start", 0), cmd.get("start", 0) + cmd["n"]):
            role.submit(b"%010d" % n, ttl=cmd.get("ttl"))
        emit("submitted", n=cmd["n"])
    return {"submit": submit}


def worker(messaging: Any, args: Any) -> Dict[str, Any]:
    role = Worker(messaging, args.queue, capacity=args.capacity)
    jobs = [0]

    def work(ident: str, job_id: bytes, data: bytes) -> None:
        time.sleep(args.job_seconds)  # (the job's work)
        role.job_done(job_id, data)
        emit("finished", job=seq_of(data), producer=ident)

    def on_job_recv(ident: str, job_id: bytes, data: bytes) -> None:
        jobs[0] += 1
        emit("started", job=seq_of(data), producer=ident)
        if jobs[0] == args.die_after_done:
            role.job_done(job_id, data)  # queued; the loop would send it after this callback
            emit("finished", job=seq_of(data), producer=ident)
            os.kill(os.getpid(), signal.SIGKILL)
        threading.Thread(target=work, args=(ident, job_id, data), daemon=True).start()
    role.on_job_recv.add(on_job_recv)
    return {}


def publisher(messaging: Any, args: Any) -> Dict[str, Any]:
    role = Publisher(messaging, ttl=args.ttl, max_backlog=args.max_backlog)
    role.on_subscribe.add(lambda ident, prefixes: emit("subscribe", ident=ident, prefixes=prefixes))
    role.on_unsubscribe.add(lambda ident: emit("unsubscribe", ident=ident))
    role.on_message_drop.add(lambda ident, uuid: emit("drop", ident=ident, seq=int.from_bytes(uuid[8:], "big")))

    def publish_many(cmd: Dict[str, Any]) -> None:
        began, rate = time.monotonic(), cmd.get("rate")
        for n in range(cmd["n"]):
            role.publish(cmd.get("topic", "t"), b"%010d" % n)
            if rate:
                ahead = began + (n + 1) / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)  # pacing, so the stream lasts a while
        emit("published", count=cmd["n"])

    def publish(cmd: Dict[str, Any]) -> None:
        threading.Thread(target=publish_many, args=(cmd,), daemon=True).start()
    return {"publish": publish}


def subscriber(messaging: Any, args: Any) -> Dict[str, Any]:
    role = Subscriber(messaging, args.prefix)
    summary = Summary(None)
    role.on_message_recv.add(lambda ident, topic, message: summary.add(
        ident, seq_of(message.data), message.uuid))
    messaging.packeter.on_packet_recv.add(lambda conn_id, packet: summary.flush())
    return {}


ROLES = {"producer": producer, "worker": worker, "publisher": publisher, "subscriber": subscriber}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ident", required=True)
    parser.add_argument("--role", required=True, choices=sorted(ROLES))
    parser.add_argument("--listen", action="append", default=[])
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--queue", default="q")
    parser.add_argument("--capacity", type=int, default=1)
    parser.add_argument("--job-seconds", type=float, default=0.0)
    parser.add_argument("--die-after-done", type=int, default=None)
    parser.add_argument("--prefix", action="append", default=[])
    parser.add_argument("--ttl", type=float, default=60.0)
    parser.add_argument("--max-backlog", type=int, default=10000)
    parser.add_argument("--max-runtime", type=float, default=120.0)
    args = parser.parse_args()

    logger = logging.getLogger("snakezmq")
    logger.setLevel(logging.WARNING)
    logger.addHandler(EmitLogs())
    link = snakezmq.link.Link()
    messaging = snakezmq.messaging.Messaging(args.ident, "", snakezmq.packeter.Packeter(link))
    messaging.on_connect.add(lambda conn_id, ident: emit("connect", ident=ident))
    messaging.on_disconnect.add(lambda conn_id, ident: emit("disconnect", ident=ident))
    messaging.on_message_sent.add(lambda conn_id, ident, uuid: emit("acked", ident=ident)
                                  if args.role == "worker" else None)
    commands = ROLES[args.role](messaging, args)
    listeners = [list(link.add_listener(parse_address(address))) for address in args.listen]
    for address in args.connect:
        link.add_connector(parse_address(address), reconnect_interval=0.2)
    emit("ready", listeners=listeners)

    quit_ = threading.Event()

    def read_commands() -> None:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "exit":
                break
            commands[cmd["cmd"]](cmd)
        quit_.set()
        link.stop()

    threading.Thread(target=read_commands, daemon=True).start()
    deadline = time.monotonic() + args.max_runtime
    while not quit_.is_set() and time.monotonic() < deadline:
        link.loop(poll_timeout=0.05, runtime=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
