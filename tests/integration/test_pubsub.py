"""Publish/subscribe with real processes on loopback, and in-process edge cases.

The numbers are the README's ("Publish/subscribe"): a subscriber gets every matching
publication published while it is subscribed, once and in publish order while it lives;
one that was away (here: killed and restarted with the same ident) gets what was
published meanwhile, up to the publisher's ``max_backlog``, and the publisher reports
``on_message_drop`` for exactly the rest.
"""
from __future__ import annotations

import pytest

from snakezmq.pubsub import Publisher, Subscriber

from .delivery import assert_exactly_once_in_order, wait_until
from .patterns import listener_address, received, start_role, wait_received, wait_subscribed

N = 300


def _publisher(peers, *args):
    publisher = start_role(peers, "pub", "publisher", "--listen", "127.0.0.1:0", *args)
    return publisher, listener_address(publisher)


def test_every_subscriber_gets_every_matching_publication_in_order(peers):
    publisher, address = _publisher(peers)
    subscribers = {prefix: start_role(peers, "sub-%s" % (prefix or "all"), "subscriber",
                                      "--connect", address, "--prefix", prefix)
                   for prefix in ("", "news.", "sport")}
    wait_subscribed(publisher, ["sub-all", "sub-news.", "sub-sport"])
    publisher.command(cmd="publish", n=N, topic="news.world")
    for prefix in ("", "news."):
        wait_received(subscribers[prefix], "pub", N, watch=[publisher])
        assert_exactly_once_in_order(received(subscribers[prefix], "pub"), 0, N)
    publisher.wait_event("published", timeout=20)
    assert received(subscribers["sport"], "pub") == [] and publisher.of("drop") == []


def test_a_subscriber_away_gets_what_it_missed_up_to_the_cap_and_the_rest_is_reported(peers):
    publisher, address = _publisher(peers, "--max-backlog", "50")
    first = start_role(peers, "sub", "subscriber", "--connect", address, "--prefix", "")
    wait_subscribed(publisher, ["sub"])
    first.kill()
    publisher.wait_event("disconnect", ident="sub", timeout=20)
    publisher.command(cmd="publish", n=80)
    publisher.wait_event("published", timeout=20)
    wait_until(lambda: len(publisher.of("drop")) >= 30, 10, "30 drops", watch=[publisher])
    again = start_role(peers, "sub", "subscriber", "--connect", address, "--prefix", "")
    wait_received(again, "pub", 50, watch=[publisher])
    assert_exactly_once_in_order(received(again, "pub"), 0, 50)  # the backlog, in order
    assert sorted(e["seq"] for e in publisher.of("drop")) == list(range(51, 81))  # (uuid seq: from 1)
    assert publisher.of("unsubscribe") == []  # its durable subscription held (ttl 60 s)


# -- in-process: lapse, unsubscribe --------------------------------------------------------

def _pair(links, **publisher_args):
    link_p, _, messaging_p = links.stack("pub")
    link_s, _, messaging_s = links.stack("sub")
    publisher = Publisher(messaging_p, **publisher_args)
    subscriber = Subscriber(messaging_s, ["a"])
    link_s.add_connector(link_p.add_listener(("127.0.0.1", 0)))
    events = []
    messaging_p.on_disconnect.add(lambda conn_id, ident: events.append(("disconnect", ident)))
    publisher.on_subscribe.add(lambda ident, prefixes: events.append(("subscribe", ident, prefixes)))
    publisher.on_unsubscribe.add(lambda ident: events.append(("unsubscribe", ident)))
    publisher.on_message_drop.add(lambda ident, uuid: events.append(("drop", ident, uuid)))
    subscriber.on_message_recv.add(lambda ident, topic, message: events.append(
        ("recv", ident, topic, message.data)))
    links.pump(lambda: ("subscribe", "sub", ["a"]) in events, what="the subscription")
    return link_s, publisher, subscriber, events


def test_a_subscription_lapses_after_ttl_away_and_its_queued_publications_are_dropped(links):
    link_s, publisher, _, events = _pair(links, ttl=0.3)
    links.retire(link_s)  # the subscriber goes away for good
    links.pump(lambda: ("disconnect", "sub") in events, what="the publisher to notice")
    uuid = publisher.publish("a", b"while away")  # queued: the subscription is durable
    links.pump(lambda: ("drop", "sub", uuid) in events, what="the ttl drop")
    assert ("unsubscribe", "sub") in events and publisher.subscribers == []
    publisher.publish("a", b"after the lapse")  # goes nowhere, reported nowhere
    links.pump_for(0.1)
    assert [e for e in events if e[0] == "drop"] == [("drop", "sub", uuid)]


def test_unsubscribe_and_resubscribe_change_what_arrives(links):
    _, publisher, subscriber, events = _pair(links)
    subscriber.subscribe("b")
    links.pump(lambda: ("subscribe", "sub", ["a", "b"]) in events, what="the change")
    publisher.publish("b.1", b"1")
    links.pump(lambda: ("recv", "pub", "b.1", b"1") in events, what="the publication")
    subscriber.unsubscribe("a")
    subscriber.unsubscribe("b")
    links.pump(lambda: ("unsubscribe", "sub") in events, what="the end")
    publisher.publish("a", b"2")
    subscriber.subscribe("a")
    links.pump(lambda: events.count(("subscribe", "sub", ["a"])) == 2, what="the new subscription")
    publisher.publish("a", b"3")
    links.pump(lambda: ("recv", "pub", "a", b"3") in events, what="the publication")
    assert [e[3] for e in events if e[0] == "recv"] == [b"1", b"3"]
    with pytest.raises(ValueError):
        Subscriber(subscriber.messaging)  # one per Messaging: it takes every prefix
