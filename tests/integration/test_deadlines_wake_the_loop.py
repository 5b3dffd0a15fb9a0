"""A loop blocked in poll wakes for the protocol's own deadlines (issue 12, defect 2):
a TTL running out while the destination is away, and a keepalive ping falling due.

``loop(poll_timeout=None)`` blocks until something happens; the message's expiry and the
keepalive are things that happen. A watchdog thread ends the loop if the deadline was
missed, so a failure is a clean assertion, not a hang.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

import pytest

from snakezmq.message import Message

WATCHDOG = 3.5  #: seconds; the deadlines under test fall within about half a second


def run_until(link: Any, done: Callable[[], bool], **loop_args: Any) -> bool:
    """``link.loop(**loop_args)`` until a callback stops it; False if the watchdog had to."""
    finished, missed = threading.Event(), threading.Event()

    def watchdog() -> None:
        if not finished.wait(WATCHDOG):
            missed.set()
            link.stop()

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        link.loop(**loop_args)
    finally:
        finished.set()
        thread.join(5)
    return done() and not missed.is_set()


@pytest.mark.parametrize("loop_args", [{"poll_timeout": None}, {"poll_timeout": 5.0, "runtime": 4}],
                         ids=["blocking poll", "5 s poll"])
def test_ttl_expiry_wakes_a_blocked_loop(links, loop_args):
    link, _, messaging = links.stack("sender")
    link.add_listener(("127.0.0.1", 0))  # nobody will connect as "nobody"
    dropped: List[bytes] = []
    messaging.on_message_drop.add(lambda ident, uuid: (dropped.append(uuid), link.stop()))
    message = Message(b"short-lived", ttl=0.5)
    messaging.send_message("nobody", message)
    started = time.monotonic()
    assert run_until(link, lambda: bool(dropped), **loop_args), "the loop slept past the TTL"
    assert dropped == [message.uuid]
    assert time.monotonic() - started >= 0.5  # not before the TTL ran out


def test_keepalive_ping_goes_out_from_a_blocked_loop(links):
    """The peer stops answering (its loop no longer runs): the blocked side pings, waits,
    closes the connection and reports the disconnect, all without any other event."""
    server_link, _, server = links.stack("server")
    client_link, _, client = links.stack("client")
    connected: List[str] = []
    server.on_connect.add(lambda conn_id, ident: connected.append(ident))
    client_link.add_connector(server_link.add_listener(("127.0.0.1", 0)), reconnect_interval=30)
    links.pump(lambda: connected == ["client"], what="the client to connect")
    links.live.remove(client_link)  # its loop never runs again: a frozen peer
    server.keepalive_interval, server.keepalive_wait = 0.3, 0.3
    gone: List[str] = []
    server.on_disconnect.add(lambda conn_id, ident: (gone.append(ident), server_link.stop()))
    assert run_until(server_link, lambda: bool(gone), poll_timeout=None), "no keepalive while blocked"
    assert gone == ["client"]
