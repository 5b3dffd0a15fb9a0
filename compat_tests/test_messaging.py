"""Messaging: idents, message fields, queueing before connect, ordering, routing, duplicates."""
from __future__ import annotations

import pytest

from compat_helpers import record


def ttl_ok(sent, received, slack=2.0):
    """Remaining ttl travels as int(seconds): 600 may arrive as 600.0 or 599.0."""
    if sent is None:
        return received is None
    return isinstance(received, float) and sent - slack <= received <= sent


def directed(pair, direction):
    listener, connector = pair
    return (connector, listener) if direction == "to_listener" else (listener, connector)


@pytest.mark.parametrize("server_ident, client_ident", [("server", "client"),
                                                         ("sérvér-ü", "клиент-čšž")])
def test_on_connect_names_the_peer_ident_on_both_sides(links, server_ident, client_ident):
    listener, connector = links.peer(server_ident), links.peer(client_ident)
    link_connects = {peer: record(peer.link, "on_connect")["on_connect"] for peer in (listener, connector)}
    connector.connect(listener.listen())
    links.pump(lambda: listener.connected and connector.connected, what="messaging on_connect")
    links.pump_for(0.2)
    assert listener.events["on_connect"] == [(link_connects[listener][0][0], client_ident)]
    assert connector.events["on_connect"] == [(link_connects[connector][0][0], server_ident)]


@pytest.mark.parametrize("fields", [
    dict(data=b"hello", ttl=600, flags=0, uuid=None),
    dict(data=b"", ttl=None, flags=7, uuid=b"0123456789abcdef"),
    dict(data=bytes(range(256)) * 400, ttl=1, flags=0xFFFFFFFF, uuid=b"\0" * 16),
], ids=["ttl600", "ttl_none_empty", "binary_maxflags"])
@pytest.mark.parametrize("direction", ["to_listener", "to_connector"])
def test_message_fields_arrive_intact(links, fields, direction):
    sender, receiver = directed(links.pair(), direction)
    sent = sender.send(receiver.ident, **fields)
    links.pump(lambda: receiver.received(), what="message")
    (message,) = receiver.received(sender.ident)
    assert message.data == fields["data"]
    assert message.uuid == sent.uuid and len(message.uuid) == 16
    assert fields["uuid"] is None or message.uuid == fields["uuid"]
    assert message.flags == fields["flags"]
    assert ttl_ok(fields["ttl"], message.ttl), message.ttl


@pytest.mark.parametrize("early", ["connector_before_loop", "listener_before_peer_exists"])
def test_message_sent_before_connection_is_delivered_after_connect(links, early):
    listener = links.peer("server")
    address = listener.listen()
    if early == "connector_before_loop":
        connector = links.peer("client")
        sent = connector.send("server", b"early bird")
        connector.connect(address)
        sender, receiver = connector, listener
    else:
        sent = listener.send("client", b"early bird")
        links.pump_for(0.3)
        connector = links.peer("client")
        connector.connect(address)
        sender, receiver = listener, connector
    links.pump(lambda: receiver.received(), what="queued message")
    (message,) = receiver.received(sender.ident)
    assert (message.data, message.uuid) == (b"early bird", sent.uuid)
    assert ttl_ok(600, message.ttl)


def test_send_order_is_preserved(links):
    listener, connector = links.pair()
    expected = [b"message %03d" % n for n in range(100)]
    for data in expected:
        connector.send("server", data)
    links.pump(lambda: len(listener.received()) >= 100, what="100 messages")
    assert listener.data("client") == expected


def test_on_message_sent_fires_for_every_message(links):
    listener, connector = links.pair()
    uuids = [listener.send("client", b"%d" % n).uuid for n in range(10)]
    links.pump(lambda: len(listener.events["on_message_sent"]) >= 10, what="on_message_sent")
    conn = listener.connected["client"]
    assert sorted(listener.events["on_message_sent"]) == sorted((conn, "client", u) for u in uuids)
    assert len(connector.received()) == 10


def test_disconnect_reports_ident_and_queued_messages_follow_the_reconnection(links):
    listener, connector = links.pair()
    old = connector.connected["server"]
    connector.link.close(old)
    links.pump(lambda: listener.events["on_disconnect"] and connector.events["on_disconnect"],
               what="messaging on_disconnect")
    assert connector.events["on_disconnect"] == [(old, "server")]
    assert [ident for _, ident in listener.events["on_disconnect"]] == ["client"]
    sent = listener.send("client", b"while you were away")
    links.pump(lambda: connector.received(), what="message after reconnection")
    assert connector.connected["server"] != old
    assert [m.uuid for m in connector.received("server")] == [sent.uuid]


def test_duplicate_ident_is_refused_and_the_first_connection_keeps_the_traffic(links):
    listener, first = links.pair("server", "dup")
    conn = listener.connected["dup"]
    second = links.peer("dup")
    second.connect(listener.address)
    links.pump_for(1.0)
    expected = [b"for dup %d" % n for n in range(5)]
    for data in expected:
        listener.send("dup", data)
    first.send("server", b"still here")
    links.pump(lambda: len(first.received()) == 5 and listener.received(), what="traffic")
    links.pump_for(0.3)
    assert first.data("server") == expected
    assert second.received() == []
    assert listener.data() == [b"still here"]
    assert listener.connected == {"dup": conn}
    assert listener.events["on_disconnect"] == [] and first.events["on_disconnect"] == []


def test_messages_are_routed_by_ident_across_listening_and_connecting(links):
    """a and b listen; c connects to both and listens too; d and e connect to c."""
    peers = {ident: links.peer(ident) for ident in "abcde"}
    for ident in "abc":
        peers[ident].listen()
    for target, source in [("a", "c"), ("b", "c"), ("c", "d"), ("c", "e")]:
        peers[source].connect(peers[target].address)
    links.pump(lambda: sorted(peers["c"].connected) == list("abde"), what="c connected to four peers")
    for ident in "abde":
        peers["c"].send(ident, b"c to " + ident.encode())
        peers[ident].send("c", ident.encode() + b" to c")
    links.pump(lambda: all(peers[i].received() for i in "abde") and len(peers["c"].received()) == 4,
               what="eight messages")
    links.pump_for(0.2)
    for ident in "abde":
        assert peers[ident].data("c") == [b"c to " + ident.encode()]
        assert peers["c"].data(ident) == [ident.encode() + b" to c"]
    assert len(peers["c"].received()) == 4 and all(len(peers[i].received()) == 1 for i in "abde")


def test_identifier_is_truncated_to_max_ident_length(backend, links):
    assert backend.messaging.MAX_IDENT_LENGTH == 50
    listener, connector = links.peer("server"), links.peer("x" * 49 + "yz-and-more")
    assert connector.messaging.identifier == "x" * 49 + "y"
    connector.connect(listener.listen())
    links.pump(lambda: listener.connected, what="connection")
    assert list(listener.connected) == ["x" * 49 + "y"]


def test_keepalive_defaults(links):
    messaging = links.peer("keepalive").messaging
    assert messaging.keepalive_interval is None
    assert messaging.keepalive_wait == 0.5
