"""cleanup() waits for peers to confirm what they were sent, but only where that can help.

The peer's confirmation is a PONG to a PING sent after the data; nothing here
asserts a duration: a wait that should not happen is seen by the WARNING
logged when ``Link.linger`` runs out.
"""
from __future__ import annotations

import logging

import pytest

from snakezmq.link import LINGER, Link
from snakezmq.message import Message

LINGER_WARNING = "did not confirm"
REMOTE_DEADLINE = 10.0


def linger_warnings(caplog) -> list:
    return [r for r in caplog.records if r.name == "snakezmq.link" and LINGER_WARNING in r.getMessage()]


def test_the_linger_has_a_documented_default_and_can_be_chosen():
    link = Link()
    try:
        assert link.linger == LINGER == 5.0
    finally:
        link.cleanup()


def test_peers_in_this_process_are_not_waited_for(links, caplog):
    """A single-threaded program cleans up one Link while the other's loop does not run."""
    server, client = links.stack("server"), links.stack("client")
    host, port = server[0].add_listener(("127.0.0.1", 0))
    client[0].add_connector((host, port))
    events = [links.record(server[2]), links.record(client[2])]
    links.pump(lambda: all(e.of("connect") for e in events), what="both sides connected")
    server[2].send_message("client", Message(b"to client", ttl=None))
    client[2].send_message("server", Message(b"to server", ttl=None))
    links.pump(lambda: all(e.of("recv") for e in events), what="a message each way")
    caplog.set_level(logging.WARNING, "snakezmq.link")
    for link in (server[0], client[0]):  # the acknowledgements were not confirmed
        link.linger = 2.0
        links.retire(link)
    assert not linger_warnings(caplog)
    assert all(len(e.of("disconnect")) == 1 for e in events)


def connected_to_remote(links, peers, role):
    """This process's stack and a remote peer (tests/integration/peer.py), connected."""
    link, packeter, messaging = links.stack("local")
    events = links.record(messaging)
    if role == "listener":
        host, port = link.add_listener(("127.0.0.1", 0))
        peer = peers("--ident", "remote", "--connect", "%s:%d" % (host, port))
    else:
        peer = peers("--ident", "remote", "--listen", "127.0.0.1:0")
        link.add_connector(tuple(peer.wait_event("ready", links)["listeners"][0]), reconnect_interval=0.2)
    links.pump(lambda: events.connected("remote"), timeout=REMOTE_DEADLINE, what="the peer")
    return link, packeter, messaging, events, peer


def send_unconfirmed(links, peer, packeter, messaging):
    """Pause the peer's loop, then hand it a message: DATA nobody can confirm yet."""
    peer.command(cmd="pause", seconds=60)
    peer.wait_event("paused", links)
    sent = []
    packeter.on_packet_sent.add(lambda conn_id, packet_id: sent.append(packet_id))
    messaging.send_message("remote", Message(b"unconfirmed", ttl=None))
    links.pump(lambda: sent, what="the message handed to ZeroMQ")


@pytest.mark.parametrize("role", ["listener", "connector"])
def test_a_silent_peer_is_waited_for_at_most_linger_seconds(links, peers, caplog, role):
    link, packeter, messaging, events, peer = connected_to_remote(links, peers, role)
    send_unconfirmed(links, peer, packeter, messaging)
    caplog.set_level(logging.WARNING, "snakezmq.link")
    link.linger = 0.3
    links.retire(link)
    assert len(linger_warnings(caplog)) == 1
    assert len(events.of("disconnect")) == 1


@pytest.mark.parametrize("role", ["listener", "connector"])
def test_a_peer_that_is_gone_is_not_waited_for(links, peers, caplog, role):
    link, packeter, messaging, events, peer = connected_to_remote(links, peers, role)
    send_unconfirmed(links, peer, packeter, messaging)
    peer.kill()
    caplog.set_level(logging.WARNING, "snakezmq.link")
    link.linger = REMOTE_DEADLINE
    links.retire(link)
    assert not linger_warnings(caplog)
    assert len(events.of("disconnect")) == 1
