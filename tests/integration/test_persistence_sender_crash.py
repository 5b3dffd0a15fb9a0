"""A sender of FLAG_PERSISTENT messages (SqliteQueuesStorage) killed with SIGKILL mid-stream.

Restarted on the same file, it delivers every message whose ``send_message``
had returned, and the receiver (alive throughout) sees each exactly once. The
sender calls ``send_message`` from a thread that is not the loop's
(peer.py ``send_many``).
"""
from __future__ import annotations

import pytest

from .delivery import Received, ready_address, runs, stats, wait_acknowledged, wait_until

N = 20000
RATE = None  # full speed (about 20,000 persistent messages per second): the kill lands inside a send
KILL_AT = 6000  # send_message calls returned before the kill
REPORT_EVERY = 100


def _returned(sender):
    """How many send_message calls the sender reported as returned (a lower bound)."""
    return max((e["count"] for e in sender.of("sent")), default=0)


def _start_sender(peers, address, storage):
    return peers("--ident", "tx", "--connect", address, "--storage", storage,
                 "--reconnect-interval", "0.1")


@pytest.mark.parametrize("receiver_paused", [False, True], ids=["streaming", "receiver-paused"])
def test_killed_sender_delivers_every_returned_message_exactly_once(peers, tmp_path, receiver_paused):
    storage = str(tmp_path / "queues.sqlite")
    receiver = peers("--ident", "rx", "--listen", "127.0.0.1:0", "--recv-summary")
    address = ready_address(receiver)
    received = Received(receiver)
    sender = _start_sender(peers, address, storage)
    assert sender.wait_event("ready")["stored"] == {}
    sender.wait_event("connect", ident="rx")
    if receiver_paused:
        # The receiver's loop stops: the sender dies with a full window in flight,
        # in the receiver's ZeroMQ queues but not yet delivered nor acknowledged.
        receiver.command(cmd="pause", seconds=20)
        receiver.wait_event("paused")

    sender.command(cmd="send_many", to="rx", n=N, ttl=None, persistent=True, rate=RATE,
                   report_every=REPORT_EVERY)
    wait_until(lambda: _returned(sender) >= KILL_AT, 15, "%d persistent sends" % KILL_AT,
               watch=[sender, receiver])
    sender.kill()
    returned = _returned(sender)  # lines already in the pipe count too
    assert returned < N, "not killed in the middle of the stream"
    if receiver_paused:
        assert received.count("tx") == 0
        receiver.command(cmd="resume")
    # The restart comes once the receiver has read what the killed sender left and seen it go:
    # a new connection with the same routing id would otherwise make libzmq drop the old one
    # with bytes unread, which the listener cannot tell from a cut for size (see the README).
    receiver.wait_event("disconnect", ident="tx", timeout=15)

    restarted = _start_sender(peers, address, storage)
    stored = restarted.wait_event("ready")["stored"].get("rx", 0)
    wait_until(lambda: received.count("tx") >= returned, 15,
               "the receiver to get every returned message", watch=[restarted, receiver])
    wait_acknowledged(restarted, "rx")

    got = received.of("tx")
    assert len(set(got)) == len(got), "duplicates: %s" % runs(sorted(got))
    assert set(range(returned)) <= set(got), "lost: %s" % runs(sorted(set(range(returned)) - set(got)))
    # Beyond the reported count: only calls that returned (or were running) before the kill.
    assert max(got) < returned + REPORT_EVERY + 1, runs(got)
    assert got == sorted(got), "out of order: %s" % runs(got)
    assert stats(receiver)["uuids"]["tx"] == len(got)
    assert stats(restarted)["queued"].get("rx", 0) == 0
    print("%d returned, %d stored at the restart, %d delivered" % (returned, stored, len(got)))
    if receiver_paused:
        assert stored >= KILL_AT  # nothing had been acknowledged: all of it was resent
    for peer in (receiver, restarted):
        assert not peer.of("error"), peer.of("error")
