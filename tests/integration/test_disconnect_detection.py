"""on_disconnect fires when the other side goes away: killed, cleaned up, or stopped and exited.

Deadlines are generous (10 s for a killed process); nothing here asserts a duration.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
import zmq

from snakezmq._core import wire
from snakezmq.message import Message

KILLED_DEADLINE = 10.0
CLEANUP_DEADLINE = 3.0


def _stack(links, ident):
    link, _, messaging = links.stack(ident)
    return link, messaging, links.record(messaging)


def _listening_peer(peers, links, ident="remote"):
    peer = peers("--ident", ident, "--listen", "127.0.0.1:0")
    host, port = peer.wait_event("ready", links)["listeners"][0]
    return peer, (host, port)


def _go_away(peer, how, links, events, conn_id, role):
    """The peer process is killed, cleans up or exits; this side sees on_disconnect."""
    if how == "kill":
        peer.kill()
    else:
        peer.command(cmd=how)
    deadline = KILLED_DEADLINE if how == "kill" else CLEANUP_DEADLINE
    links.pump(lambda: ("disconnect", conn_id, "remote") in events.events, timeout=deadline,
               what="on_disconnect after the %s's process did %r" % (role, how))


@pytest.mark.parametrize("how", ["kill", "cleanup", "exit"])
def test_connector_process_goes_away_listener_sees_disconnect(links, peers, how):
    link, _, events = _stack(links, "local")
    host, port = link.add_listener(("127.0.0.1", 0))
    peer = peers("--ident", "remote", "--connect", "%s:%d" % (host, port))
    links.pump(lambda: events.connected("remote"), timeout=KILLED_DEADLINE, what="peer to connect")
    conn_id = events.of("connect")[0][1]

    _go_away(peer, how, links, events, conn_id, "connector")
    if how == "cleanup":
        peer.wait_event("cleaned")
    assert peer.proc.wait(timeout=10) is not None


@pytest.mark.parametrize("how", ["kill", "cleanup", "exit"])
def test_listener_process_goes_away_connector_sees_disconnect(links, peers, how):
    peer, address = _listening_peer(peers, links)
    link, _, events = _stack(links, "local")
    link.add_connector(address, reconnect_interval=0.2)
    links.pump(lambda: events.connected("remote"), timeout=KILLED_DEADLINE, what="connect to peer")
    conn_id = events.of("connect")[0][1]

    _go_away(peer, how, links, events, conn_id, "listener")


@pytest.mark.parametrize("side", ["connector", "listener"])
def test_in_process_cleanup_fires_disconnect_on_both_sides(links, side):
    server_link, _, server_events = _stack(links, "server")
    address = server_link.add_listener(("127.0.0.1", 0))
    client_link, _, client_events = _stack(links, "client")
    client_link.add_connector(address)
    links.pump(lambda: server_events.connected("client") and client_events.connected("server"))

    if side == "connector":
        gone_link, gone_events, other_events = client_link, client_events, server_events
    else:
        gone_link, gone_events, other_events = server_link, server_events, client_events
    links.retire(gone_link)
    # cleanup() reports the cleaned-up side's own disconnect synchronously, as snakemq does.
    assert len(gone_events.of("disconnect")) == 1
    links.pump(lambda: other_events.of("disconnect"), timeout=CLEANUP_DEADLINE,
               what="the other side's on_disconnect after the %s's cleanup()" % side)


def test_connector_reconnects_to_listener_restarted_on_same_port(links):
    first_link, _, first_events = _stack(links, "server")
    host, port = first_link.add_listener(("127.0.0.1", 0))
    client_link, client, client_events = _stack(links, "client")
    client_link.add_connector((host, port), reconnect_interval=0.2)
    links.pump(lambda: client_events.connected("server"), what="first connect")

    links.retire(first_link)
    links.pump(lambda: client_events.of("disconnect"), timeout=CLEANUP_DEADLINE,
               what="connector's on_disconnect")
    client.send_message("server", Message(b"while away", ttl=None))

    second_link, second, second_events = _stack(links, "server")
    assert second_link.add_listener((host, port)) == (host, port)
    links.pump(lambda: second_events.connected("client") and len(client_events.of("connect")) == 2,
               timeout=KILLED_DEADLINE, what="reconnect to the restarted listener")
    links.pump(lambda: second_events.received() == [b"while away"], what="queued message")
    second.send_message("client", Message(b"welcome back", ttl=None))
    links.pump(lambda: client_events.received() == [b"welcome back"], what="reply")


def test_connector_reconnects_to_killed_listener_process_restarted_on_same_port(links, peers):
    peer, (host, port) = _listening_peer(peers, links)
    link, messaging, events = _stack(links, "local")
    link.add_connector((host, port), reconnect_interval=0.2)
    links.pump(lambda: events.connected("remote"), timeout=KILLED_DEADLINE, what="first connect")

    peer.kill()
    links.pump(lambda: events.of("disconnect"), timeout=KILLED_DEADLINE, what="on_disconnect")
    restarted = peers("--ident", "remote", "--listen", "%s:%d" % (host, port))
    links.pump(lambda: len(events.of("connect")) == 2, timeout=KILLED_DEADLINE,
               what="reconnect to the restarted listener process")
    messaging.send_message("remote", Message(b"hello again", ttl=None))
    restarted.wait_event("recv", links, data="hello again")


def test_frozen_peers_are_noticed_on_both_sides(links, peers):
    """SIGSTOP keeps the TCP connections open: only snakezmq's own liveness can tell."""
    link, _, events = _stack(links, "local")
    host, port = link.add_listener(("127.0.0.1", 0))
    frozen_connector = peers("--ident", "frozen-connector", "--connect", "%s:%d" % (host, port))
    frozen_listener, address = _listening_peer(peers, links, "frozen-listener")
    link.add_connector(address, reconnect_interval=0.2)
    links.pump(lambda: events.connected("frozen-connector") and events.connected("frozen-listener"),
               timeout=KILLED_DEADLINE, what="both peers to connect")

    for peer in (frozen_connector, frozen_listener):
        peer.proc.send_signal(signal.SIGSTOP)
    try:
        links.pump(lambda: {e[2] for e in events.of("disconnect")} == {"frozen-connector",
                                                                        "frozen-listener"},
                   timeout=KILLED_DEADLINE + 5, what="on_disconnect for both frozen peers")
    finally:
        for peer in (frozen_connector, frozen_listener):
            peer.kill()


def test_listener_sweeps_again_after_a_connection_drops(links):
    """After EVENT_DISCONNECTED the listener PINGs every session at once and once more a
    moment later (libzmq may free the dropped peer's routing id after the first sweep).

    A raw DEALER with a session counts the PINGs it gets while another one drops; it
    keeps talking, so the listener never pings it for silence: every PING is a sweep's.
    """
    link, _, _ = _stack(links, "server")
    host, port = link.add_listener(("127.0.0.1", 0))
    endpoint = "tcp://%s:%d" % (host, port)
    ctx = zmq.Context()
    sockets = []

    def dealer(rid: bytes) -> zmq.Socket:
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.routing_id = rid
        sock.connect(endpoint)
        sockets.append(sock)
        return sock

    def hello(sock: zmq.Socket) -> None:
        nonce = os.urandom(wire.NONCE_BYTES)
        sock.send(wire.encode_link(wire.LinkKind.HELLO, wire.MAGIC, wire.LINK_VERSION, nonce, False))
        links.pump(lambda: sock.poll(0) and wire.decode_link([sock.recv()]).fields[:2] == (
            wire.LINK_VERSION, nonce), what="WELCOME")

    ping = wire.encode_link(wire.LinkKind.PING)
    pings = []
    last_said = [0.0]

    def watcher_step() -> int:
        """Count PINGs to the watcher; say PING (heard, so never pinged for silence) every 0.3 s."""
        while watcher.poll(0):
            if watcher.recv() == ping:
                pings.append(time.monotonic())
        if time.monotonic() - last_said[0] > 0.3:
            watcher.send(ping)
            last_said[0] = time.monotonic()
        return len(pings)

    try:
        watcher, leaver = dealer(b"watcher"), dealer(b"leaver")
        hello(watcher)
        hello(leaver)
        links.pump_for(0.3)
        assert watcher_step() == 0
        leaver.close(linger=0)
        links.pump(lambda: watcher_step() >= 2, timeout=5.0,
                   what="two sweeps (two PINGs to every session) after a connection dropped")
        links.pump_for(0.3)
        assert watcher_step() == 2  # and no more
    finally:
        for sock in sockets:
            sock.close(linger=0)
        ctx.term()
