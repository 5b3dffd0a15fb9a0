"""TTL expiry while the destination is away: ``on_message_drop`` fires when the TTL runs out.

Not when (or if) the peer comes back: within one poll interval of the expiry
(``Link.loop``'s default ``poll_timeout``), plus slack for a loaded machine.
Messages with ``ttl=None`` (or a long ttl) survive and are delivered later.
"""
from __future__ import annotations

import logging
import signal
import time

from snakezmq.link import POLL_TIMEOUT
from snakezmq.message import FLAG_PERSISTENT, Message
from snakezmq.storage.sqlite import SqliteQueuesStorage

from .delivery import wait_until

SLACK = 0.3  # scheduling noise on a busy machine


class Drops:
    """``on_message_drop`` calls with their monotonic time; stops the loop once ``expected`` came."""

    def __init__(self, link, messaging, expected):
        self.link = link
        self.expected = expected
        self.at = {}  #: uuid: time
        messaging.on_message_drop.add(self._dropped)

    def _dropped(self, ident, uuid):
        assert ident == "rx"
        self.at[uuid] = time.monotonic()
        if len(self.at) >= self.expected:
            self.link.stop()

    def run(self, deadline):
        """Run the loop as an application does (default poll_timeout) until every drop came."""
        self.link.loop(runtime=max(0.0, deadline - time.monotonic()))
        assert len(self.at) >= self.expected, "%d of %d drops by the deadline" % (len(self.at), self.expected)


def _assert_on_time(dropped_at, expires_at):
    assert expires_at <= dropped_at + 0.01, "dropped %.3fs early" % (expires_at - dropped_at)
    assert dropped_at <= expires_at + POLL_TIMEOUT + SLACK, (
        "dropped %.3fs after the TTL ran out" % (dropped_at - expires_at))


def test_ttl_runs_out_while_the_peer_never_came(links, peers, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="snakezmq.messaging")
    storage = SqliteQueuesStorage(str(tmp_path / "queues.sqlite"))
    link, _, messaging = links.stack("tx", storage)
    address = link.add_listener(("127.0.0.1", 0))
    short = Message(b"short", ttl=1.0, flags=FLAG_PERSISTENT)
    longer = Message(b"longer", ttl=1.5)
    forever = Message(b"forever", ttl=None, flags=FLAG_PERSISTENT)
    hour = Message(b"an hour", ttl=3600, flags=FLAG_PERSISTENT)
    zero = Message(b"zero", ttl=0)  # to a peer that is not connected: dropped at once
    drops = Drops(link, messaging, expected=3)

    pushed = time.monotonic()
    for message in (short, longer, forever, hour, zero):
        messaging.send_message("rx", message)
    drops.run(deadline=pushed + 1.5 + POLL_TIMEOUT + SLACK + 1.0)

    assert set(drops.at) == {short.uuid, longer.uuid, zero.uuid}
    assert drops.at[zero.uuid] <= pushed + POLL_TIMEOUT + SLACK
    _assert_on_time(drops.at[short.uuid], pushed + 1.0)
    _assert_on_time(drops.at[longer.uuid], pushed + 1.5)
    assert len(messaging.queues_manager.get_queue("rx")) == 2
    # the dropped persistent message left the storage; the others are still there
    assert [m.uuid for m in storage.get_items("rx")] == [forever.uuid, hour.uuid]
    logged = " ".join(r.getMessage() for r in caplog.records)
    for message in (short, longer, zero):
        assert message.uuid.hex() in logged

    # The peer appears at last: it gets what had no (or a long) TTL, nothing else.
    peer = peers("--ident", "rx", "--connect", "%s:%d" % address)
    wait_until(lambda: len(peer.of("recv")) >= 2, 10, "the surviving messages", watch=[peer],
               links=links)
    links.pump(lambda: not storage.get_items("rx"), what="the storage to empty after the acks")
    recv = peer.of("recv")
    assert [e["data"] for e in recv] == ["forever", "an hour"]
    assert recv[0]["ttl"] is None and 3590 <= recv[1]["ttl"] <= 3600
    assert len(drops.at) == 3


def test_unacknowledged_messages_expire_after_the_peer_dies(links, peers):
    """Sent but never acknowledged (the peer is frozen, then killed): the TTL starts at the disconnect."""
    link, _, messaging = links.stack("tx")
    address = link.add_listener(("127.0.0.1", 0))
    gone = []
    messaging.on_disconnect.add(lambda conn_id, ident: gone.append(time.monotonic()))
    peer = peers("--ident", "rx", "--connect", "%s:%d" % address)
    peer.wait_event("connect", links, ident="tx")
    links.pump(lambda: messaging.queues_manager.get_queue("rx").connected, what="rx connected")

    peer.proc.send_signal(signal.SIGSTOP)
    messages = [Message(b"in flight %d" % i, ttl=1.0) for i in range(5)]
    survivor = Message(b"survivor", ttl=None)
    for message in messages + [survivor]:
        messaging.send_message("rx", message)
    inflight = messaging._outbox.queues["rx"].inflight
    links.pump(lambda: len(inflight) == 6, what="the messages to be sent")
    links.pump_for(1.2)  # longer than their ttl: a connected destination does not expire them
    assert len(inflight) == 6 and len(messaging.queues_manager.get_queue("rx")) == 6

    peer.kill()  # SIGKILL ends a stopped process too; the kernel closes its connection
    drops = Drops(link, messaging, expected=len(messages))
    links.pump(lambda: gone, timeout=10, what="the disconnect")
    drops.run(deadline=gone[0] + 1.0 + POLL_TIMEOUT + SLACK + 1.0)
    assert set(drops.at) == {m.uuid for m in messages}
    for message in messages:
        _assert_on_time(drops.at[message.uuid], gone[0] + 1.0)
    assert [m.data for m in messaging._outbox.queues["rx"].messages()] == [b"survivor"]


def test_stored_messages_expire_on_time_after_a_restart(links, tmp_path):
    """Persistent messages loaded at start: their stored TTL counts from the load (snakemq's
    rule: the sender's downtime is not charged), and they are dropped on time, file included."""
    path = str(tmp_path / "queues.sqlite")
    storage = SqliteQueuesStorage(path)
    link, _, messaging = links.stack("tx", storage)
    short = Message(b"short", ttl=1.0, flags=FLAG_PERSISTENT)
    keep = Message(b"keep", ttl=None, flags=FLAG_PERSISTENT)
    for message in (short, keep):
        messaging.send_message("rx", message)
    links.retire(link)
    storage.close()  # the sender process ends; the file stays

    storage = SqliteQueuesStorage(path)
    loaded = time.monotonic()
    link, _, messaging = links.stack("tx", storage)
    assert len(messaging.queues_manager.get_queue("rx")) == 2
    drops = Drops(link, messaging, expected=1)
    drops.run(deadline=loaded + 1.0 + POLL_TIMEOUT + SLACK + 1.0)
    assert list(drops.at) == [short.uuid]
    _assert_on_time(drops.at[short.uuid], loaded + 1.0)
    assert [m.uuid for m in storage.get_items("rx")] == [keep.uuid]
    links.retire(link)
    storage.close()
