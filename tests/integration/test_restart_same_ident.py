"""A peer killed and restarted with the same ident is a restart, not a duplicate.

ZeroMQ parks a connection whose routing id is still held by an old
connection; snakezmq must notice the old one is dead (or silent) and accept
the new process within a few seconds.
"""
from __future__ import annotations

import signal

from snakezmq.message import Message

ACCEPT_DEADLINE = 10.0  # "within a few seconds", generous for loaded machines


def _worker_connects(events):
    return [e for e in events.of("connect") if e[2] == "worker"]


def _listener(links):
    link, _, messaging = links.stack("server")
    events = links.record(messaging)
    host, port = link.add_listener(("127.0.0.1", 0))
    return messaging, events, "%s:%d" % (host, port)


def test_killed_peer_restarted_with_same_ident_is_accepted(links, peers):
    server, events, address = _listener(links)
    first = peers("--ident", "worker", "--connect", address)
    links.pump(lambda: _worker_connects(events), timeout=ACCEPT_DEADLINE, what="first worker")
    first.wait_event("connect", links, ident="server")
    old_conn = _worker_connects(events)[0][1]

    first.kill()
    second = peers("--ident", "worker", "--connect", address)
    links.pump(lambda: len(_worker_connects(events)) == 2, timeout=ACCEPT_DEADLINE,
               what="the restarted worker to be accepted")
    new_conn = _worker_connects(events)[1][1]
    assert new_conn != old_conn
    # The killed peer's connection ended on the listener side.
    links.pump(lambda: ("disconnect", old_conn, "worker") in events.events, timeout=ACCEPT_DEADLINE,
               what="on_disconnect for the killed worker")
    assert not [e for e in events.of("error")], events.of("error")

    server.send_message("worker", Message(b"after restart", ttl=None))
    received = second.wait_event("recv", links, data="after restart")
    assert received["ident"] == "server"
    assert second.of("error") == []


def test_message_queued_while_worker_was_away_reaches_the_new_process(links, peers):
    server, events, address = _listener(links)
    first = peers("--ident", "worker", "--connect", address)
    links.pump(lambda: _worker_connects(events), timeout=ACCEPT_DEADLINE, what="first worker")
    first.kill()
    links.pump(lambda: events.of("disconnect"), timeout=ACCEPT_DEADLINE, what="worker's disconnect")

    server.send_message("worker", Message(b"queued", ttl=None))
    second = peers("--ident", "worker", "--connect", address)
    second.wait_event("recv", links, timeout=ACCEPT_DEADLINE, data="queued")


def test_frozen_peer_replaced_by_new_process_with_same_ident(links, peers):
    """The old process is stopped (SIGSTOP), not dead: its TCP connection stays open.

    It is silent, so the new process with the same ident is a restart and must be
    accepted; the frozen one is never resumed (it is killed at the end).
    """
    server, events, address = _listener(links)
    frozen = peers("--ident", "worker", "--connect", address)
    links.pump(lambda: _worker_connects(events), timeout=ACCEPT_DEADLINE, what="first worker")
    frozen.wait_event("connect", links, ident="server")
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        second = peers("--ident", "worker", "--connect", address)
        links.pump(lambda: len(_worker_connects(events)) == 2, timeout=ACCEPT_DEADLINE + 5,
                   what="the new worker to be accepted while the old one is frozen")
        server.send_message("worker", Message(b"to the new one", ttl=None))
        second.wait_event("recv", links, data="to the new one")
    finally:
        frozen.kill()  # SIGKILL works on a stopped process
