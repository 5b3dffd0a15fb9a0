"""TTL: it runs out only while the destination is away; expired messages are dropped, not sent."""
from __future__ import annotations

import pytest

AWAY = 0.8  #: seconds the destination stays away


def absent_peer(links, scenario):
    """A listening "a" whose peer "b" is away: never connected yet, or gone after a connection."""
    if scenario == "never_connected":
        sender = links.peer("a")
        sender.listen()
        return sender
    sender, gone = links.pair("a", "b")
    links.cleanup(gone.link)
    links.pump(lambda: not sender.connected, what="a to see b leave")
    return sender


@pytest.mark.parametrize("scenario", ["never_connected", "after_disconnect"])
def test_message_expiring_while_away_is_dropped_and_the_others_survive(links, scenario):
    sender = absent_peer(links, scenario)
    expiring = sender.send("b", b"expiring", ttl=0.3)
    forever = sender.send("b", b"forever", ttl=None)
    lasting = sender.send("b", b"lasting", ttl=60)
    drops_at_connect = []
    sender.messaging.on_connect.add(lambda conn, ident: drops_at_connect.append(
        list(sender.events["on_message_drop"])))
    links.pump_for(AWAY)

    back = links.peer("b")
    back.connect(sender.address)
    links.pump(lambda: len(back.received()) >= 2, what="the surviving messages")
    links.pump_for(0.2)
    assert drops_at_connect[-1] == [("b", expiring.uuid)]
    assert sender.events["on_message_drop"] == [("b", expiring.uuid)]
    assert [(m.data, m.uuid) for m in back.received("a")] == [(b"forever", forever.uuid),
                                                            (b"lasting", lasting.uuid)]
    forever_ttl, lasting_ttl = (m.ttl for m in back.received("a"))
    assert forever_ttl is None
    assert 55 <= lasting_ttl < 60, "the time away must count: %r" % lasting_ttl


@pytest.mark.parametrize("ttl", [0, 0.5])
def test_short_ttl_is_delivered_while_connected(links, ttl):
    """The default ttl 0 works between connected peers (snakemq's RPC relies on it)."""
    listener, connector = links.pair()
    links.pump_for(AWAY)
    sent = connector.send("server", b"short but connected", ttl=ttl)
    links.pump(lambda: listener.received(), what="message")
    assert [(m.uuid, m.ttl) for m in listener.received()] == [(sent.uuid, 0.0)]
    assert connector.events["on_message_drop"] == []
