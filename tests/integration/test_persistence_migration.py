"""Migration: a queue file written by real snakemq 1.6 is delivered by snakezmq.

A snakemq 1.6 program (a separate process) queued FLAG_PERSISTENT messages
for a peer that never connected, through ``Messaging.send_message`` and
directly through ``storage.push``, then exited. A snakezmq Messaging opened on
the same file with ``snakezmq.storage.sqlite.SqliteQueuesStorage`` delivers
them to a snakezmq peer, in order, with their uuids, and removes them from the
file once acknowledged; the file stays readable by snakemq.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from snakezmq.storage.sqlite import SqliteQueuesStorage

from .delivery import wait_until

pytest.importorskip("snakemq")

SNAKEMQ_PROGRAM = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import snakemq.link, snakemq.message, snakemq.messaging, snakemq.packeter
from snakemq.message import FLAG_PERSISTENT, Message
from snakemq.storage.sqlite import SqliteQueuesStorage

storage = SqliteQueuesStorage(sys.argv[1])
link = snakemq.link.Link()
messaging = snakemq.messaging.Messaging("tx", "", snakemq.packeter.Packeter(link), storage)
queued = []
for data, ttl in [(b"sent 1", None), (b"sent 2", 3600), (b"sent 3", None)]:
    message = Message(data, ttl=ttl, flags=FLAG_PERSISTENT)
    messaging.send_message("rx", message)  # no peer connected: it stays in the file
    queued.append(message)
for data, ttl in [(b"pushed 4", None), (b"pushed 5", 3600)]:
    message = Message(data, ttl=ttl, flags=FLAG_PERSISTENT)
    storage.push("rx", message)
    queued.append(message)
storage.push("elsewhere", Message(b"for another ident", ttl=None, flags=FLAG_PERSISTENT))
link.cleanup()
storage.close()
print(json.dumps([[m.data.decode(), m.ttl, m.uuid.hex()] for m in queued]))
"""


def _written_by_snakemq(path):
    done = subprocess.run([sys.executable, "-c", SNAKEMQ_PROGRAM, path], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_snakemq_file_is_delivered_by_snakezmq(links, peers, tmp_path):
    path = str(tmp_path / "snakemq-queues.sqlite")
    queued = _written_by_snakemq(path)
    assert len(queued) == 5

    storage = SqliteQueuesStorage(path)
    link, _, messaging = links.stack("tx", storage)
    assert len(messaging.queues_manager.get_queue("rx")) == 5
    assert len(messaging.queues_manager.get_queue("elsewhere")) == 1
    host, port = link.add_listener(("127.0.0.1", 0))
    sent = []
    messaging.on_message_sent.add(lambda conn_id, ident, uuid: sent.append(uuid.hex()))

    peer = peers("--ident", "rx", "--connect", "%s:%d" % (host, port))
    # (the acks may come back before the test has read the peer's recv lines)
    wait_until(lambda: len(sent) == 5 and len(peer.of("recv")) == 5, 10, "the 5 messages acknowledged",
               watch=[peer], links=links)
    recv = peer.of("recv")
    assert [(e["data"], e["uuid"], e["flags"]) for e in recv] == [
        (data, uuid, 1) for data, _, uuid in queued]
    for event, (_, ttl, _) in zip(recv, queued):
        assert event["ttl"] is None if ttl is None else 3590 <= event["ttl"] <= 3600
    assert sent == [uuid for _, _, uuid in queued]
    assert storage.get_queues() == ["elsewhere"]
    links.retire(link)
    storage.close()

    # snakemq 1.6 can still open the file: only the other ident's message is left.
    from snakemq.storage.sqlite import SqliteQueuesStorage as SnakemqStorage

    theirs = SnakemqStorage(path)
    try:
        assert theirs.get_queues() == ["elsewhere"]
        assert [m.data for m in theirs.get_items("elsewhere")] == [b"for another ident"]
    finally:
        theirs.close()
