"""A user callback that raises: the exception leaves loop(), and the next loop() carries on.

State changes before callbacks run, so nothing is lost or delivered twice.
"""
from __future__ import annotations

import gc
import time
import warnings

import pytest

from snakezmq.message import Message


class Boom(Exception):
    pass


def pump_collecting(links, until, timeout=5.0, what="condition"):
    """Like ``links.pump``, but collects Boom from loop() instead of failing; returns them."""
    raised = []
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out waiting for %s (raised: %r)" % (what, raised)
        for link in links.live:
            try:
                link.loop(poll_timeout=0.01, runtime=0.01)
            except Boom as exc:
                raised.append(exc)
    return raised


def _pair(links):
    receiver_link, _, receiver = links.stack("receiver")
    address = receiver_link.add_listener(("127.0.0.1", 0))
    sender_link, _, sender = links.stack("sender")
    return receiver_link, receiver, sender_link, sender, address


def test_raising_message_callback_loses_nothing_of_its_batch(links):
    receiver_link, receiver, sender_link, sender, address = _pair(links)
    received = []

    def on_message_recv(conn_id, ident, message):
        received.append(message.data)
        if message.data.startswith(b"boom"):
            raise Boom(message.data)

    receiver.on_message_recv.add(on_message_recv)
    sent = []
    sender.on_message_sent.add(lambda conn_id, ident, uuid: sent.append(uuid))
    batch = [b"a", b"boom-1", b"b", b"boom-2", b"c"]
    for data in batch:  # queued before connecting: they travel in one MESSAGES packet
        sender.send_message("receiver", Message(data, ttl=None))
    sender_link.add_connector(address)

    raised = pump_collecting(links, lambda: len(received) >= len(batch), what="the whole batch")
    assert received == batch  # the rest of the batch was delivered, in order
    assert [exc.args[0] for exc in raised] == [b"boom-1"]  # the first exception left loop()

    # The next loop() calls carry on: acks go out, and the next message arrives once.
    sender.send_message("receiver", Message(b"d", ttl=None))
    raised = pump_collecting(links, lambda: len(received) == len(batch) + 1 and len(sent) == 6,
                             what="next message and all acks")
    assert raised == []
    assert received == batch + [b"d"]
    links.pump_for(0.2)
    assert received == batch + [b"d"]  # nothing delivered twice


def test_raising_sent_callback_on_a_piggybacked_ack_loses_no_message(links):
    """A reply carries the ack of its request: on_message_sent raising for that ack must not
    stop the reply's delivery (nor the rest of the acknowledged messages' callbacks)."""
    receiver_link, receiver, sender_link, sender, address = _pair(links)
    got_replies, sent = [], []
    receiver.on_message_recv.add(
        lambda conn_id, ident, message: receiver.send_message(ident, Message(b"re:" + message.data, ttl=None)))
    sender.on_message_recv.add(lambda conn_id, ident, message: got_replies.append(message.data))

    def on_sent(conn_id, ident, uuid):
        sent.append(uuid)
        raise Boom(uuid)

    sender.on_message_sent.add(on_sent)
    sender_link.add_connector(address)
    for data in [b"1", b"2"]:
        sender.send_message("receiver", Message(data, ttl=None))
    raised = pump_collecting(links, lambda: len(got_replies) == 2 and len(sent) == 2,
                             what="both replies and both acks")
    assert got_replies == [b"re:1", b"re:2"] and len(raised) >= 1
    links.pump_for(0.2)
    assert got_replies == [b"re:1", b"re:2"]


def test_plain_function_callback_that_raises(links):
    """Callbacks assigned as plain functions (snakemq style) raise out of loop() the same way."""
    receiver_link, receiver, sender_link, sender, address = _pair(links)
    received = []

    def on_message_recv(conn_id, ident, message):
        received.append(message.data)
        raise Boom(message.data)

    receiver.on_message_recv = on_message_recv
    sender_link.add_connector(address)
    sender.send_message("receiver", Message(b"one", ttl=None))
    raised = pump_collecting(links, lambda: received == [b"one"], what="first message")
    assert len(raised) == 1
    sender.send_message("receiver", Message(b"two", ttl=None))
    raised = pump_collecting(links, lambda: received == [b"one", b"two"], what="second message")
    assert len(raised) == 1


def test_raising_connect_callback_leaves_the_connection_usable(links):
    receiver_link, receiver, sender_link, sender, address = _pair(links)
    connects = []

    def on_connect(conn_id, ident):
        connects.append(ident)
        raise Boom("on_connect")

    receiver.on_connect.add(on_connect)
    received = []
    receiver.on_message_recv.add(lambda conn_id, ident, message: received.append(message.data))
    sender_events = links.record(sender)
    sender_link.add_connector(address)
    raised = pump_collecting(links, lambda: connects == ["sender"] and sender_events.connected("receiver"),
                             what="connect on both sides")
    assert len(raised) == 1
    sender.send_message("receiver", Message(b"after", ttl=None))
    receiver.send_message("sender", Message(b"back", ttl=None))
    raised = pump_collecting(links, lambda: received == [b"after"] and sender_events.received() == [b"back"],
                             what="messages after the raising on_connect")
    assert raised == []
    assert connects == ["sender"]  # not reconnected


def test_raising_link_recv_callback(links):
    """A raw Link on_recv that raises: the data stays consistent for the next loop()."""
    server = links.new()
    client = links.new()
    chunks = []

    def on_recv(conn_id, data):
        chunks.append(data)
        if len(chunks) == 1:
            raise Boom("on_recv")

    server.on_recv.add(on_recv)
    connected = []
    client.on_connect.add(connected.append)
    address = server.add_listener(("127.0.0.1", 0))
    client.add_connector(address)
    links.pump(lambda: connected, what="link connect")
    client.send(connected[0], b"first")
    client.send(connected[0], b"second")
    raised = pump_collecting(links, lambda: b"".join(chunks) == b"firstsecond", what="both chunks")
    assert len(raised) == 1


def test_raising_disconnect_callback_then_listener_restart_reconnects(links):
    receiver_link, receiver, sender_link, sender, address = _pair(links)
    sender_events = links.record(sender)

    def on_disconnect(conn_id, ident):
        raise Boom("on_disconnect")

    sender.on_disconnect.add(on_disconnect)
    sender_link.add_connector(address, reconnect_interval=0.2)
    links.pump(lambda: sender_events.connected("receiver"), what="connect")
    links.retire(receiver_link)
    raised = pump_collecting(links, lambda: sender_events.of("disconnect"), what="disconnect")
    assert len(raised) == 1

    new_link, _, new_receiver = links.stack("receiver")
    new_events = links.record(new_receiver)
    new_link.add_listener(address)
    sender.send_message("receiver", Message(b"again", ttl=None))
    raised = pump_collecting(links, lambda: new_events.received() == [b"again"], timeout=10.0,
                             what="reconnect and deliver after a raising on_disconnect")
    assert raised == []
    sender.on_disconnect.remove(on_disconnect)


def test_cleanup_with_raising_disconnect_callback_closes_every_socket(links):
    receiver_link, receiver, sender_link, sender, address = _pair(links)
    receiver_events = links.record(receiver)
    sender_events = links.record(sender)
    sender.on_disconnect.add(lambda conn_id, ident: _raise(Boom("on_disconnect")))
    sender_link.add_connector(address)
    links.pump(lambda: sender_events.connected("receiver") and receiver_events.connected("sender"))

    links.live.remove(sender_link)
    links.created.remove(sender_link)
    with pytest.raises(Boom):
        sender_link.cleanup()
    sender_link.cleanup()  # a second call finishes whatever the first could not
    links.pump(lambda: receiver_events.of("disconnect"), what="the listener's on_disconnect")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del sender_link, sender, sender_events
        gc.collect()
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaked == []


def _raise(exc):
    raise exc
