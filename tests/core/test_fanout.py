"""Pub/sub decisions: the subscription table, bounded backlogs, durable subscriptions and
their lapse, the subscriber's filter and order check."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snakezmq._core.fanout import Published, SubscriberState, SubscriptionTable

INC = b"INCARNAT"


def table(ttl=10.0, max_backlog=3):
    return SubscriptionTable(INC, ttl, max_backlog)


def uuid(seq, incarnation=INC):
    return incarnation + seq.to_bytes(8, "big")


def test_a_publication_goes_to_every_matching_prefix_once():
    t = table()
    t.subscribe("all", [""], 0)
    t.subscribe("news", ["news.", "news.sport"], 0)
    t.subscribe("sport", ["news.sport.", "weather"], 0)
    assert sorted(t.publish("news.sport.ball").queue_for) == ["all", "news", "sport"]
    assert sorted(t.publish("news.weather").queue_for) == ["all", "news"]
    assert t.publish("weathe").queue_for == ["all"]


def test_publications_are_numbered_in_order():
    t = table()
    assert [t.publish("a").uuid for _ in range(3)] == [uuid(1), uuid(2), uuid(3)]


def test_backlog_beyond_the_cap_is_dropped_and_acks_make_room():
    t = table(max_backlog=2)
    t.subscribe("s", ["a"], 0)
    assert t.publish("a").queue_for == ["s"]
    assert t.publish("a").queue_for == ["s"]
    assert t.publish("a") == Published(uuid(3), [], ["s"])
    assert t.settled("s", uuid(1))
    assert t.publish("a").queue_for == ["s"]
    assert not t.settled("s", b"someone else's uuid")
    assert not t.settled("s", uuid(1, b"OTHERPUB"))


def test_a_durable_subscription_lapses_after_ttl_away_and_not_before():
    t = table(ttl=10)
    t.subscribe("s", ["a"], 0)
    t.subscriber_lost("s", 5)
    assert t.next_deadline() == 15
    assert t.publish("a").queue_for == ["s"]  # still queued for it while away
    assert t.expire(14.9) == []
    assert t.expire(15) == ["s"]
    assert t.publish("a").queue_for == [] and t.next_deadline() is None
    assert t.subscribers["s"].prefixes == frozenset()  # kept: 2 publications not settled
    t.settled("s", uuid(1))
    t.settled("s", uuid(2))
    assert "s" not in t.subscribers


def test_coming_back_before_the_lapse_keeps_the_subscription_and_its_backlog():
    t = table(ttl=10, max_backlog=5)
    t.subscribe("s", ["a"], 0)
    t.subscriber_lost("s", 1)
    t.publish("a")
    assert t.subscribe("s", ["a"], 8) is False  # unchanged
    assert t.expire(100) == [] and t.subscribers["s"].backlog == 1


def test_ttl_none_never_lapses_and_ttl_zero_lapses_at_the_disconnect():
    forever = table(ttl=None)
    forever.subscribe("s", ["a"], 0)
    forever.subscriber_lost("s", 0)
    assert forever.next_deadline() is None and forever.expire(1e9) == []
    at_once = table(ttl=0)
    at_once.subscribe("s", ["a"], 0)
    at_once.subscriber_lost("s", 3)
    assert at_once.expire(3) == ["s"]


def test_empty_prefixes_end_a_subscription_and_resubscribing_reuses_the_record():
    t = table()
    t.subscribe("s", ["a", "b"], 0)
    t.publish("a")
    assert t.subscribe("s", [], 1) is True
    assert t.publish("a").queue_for == [] and t.subscribers["s"].backlog == 1
    assert t.subscribe("s", ["b"], 2) is True
    assert t.publish("a").queue_for == [] and t.publish("b").queue_for == ["s"]
    assert t.subscribers["s"].backlog == 2
    t.subscribe("s", [], 3)
    t.subscriber_lost("s", 3)  # (nothing to lapse)
    assert t.next_deadline() is None


def test_bad_arguments():
    with pytest.raises(ValueError):
        SubscriptionTable(b"short", 1, 1)
    with pytest.raises(ValueError):
        SubscriptionTable(INC, -1, 1)
    with pytest.raises(ValueError):
        SubscriptionTable(INC, 1, 0)


@settings(max_examples=200, deadline=None)
@given(subscriptions=st.dictionaries(st.sampled_from("ABCDE"),
                                     st.lists(st.text("ab.", max_size=4), max_size=3)),
       topics=st.lists(st.text("ab.", max_size=6), max_size=10))
def test_matching_is_every_subscriber_with_a_prefix_of_the_topic(subscriptions, topics):
    t = table(max_backlog=1000)
    for ident, prefixes in subscriptions.items():
        t.subscribe(ident, prefixes, 0)
    t.subscribe("A", subscriptions.get("A", ["x"])[:1], 0)  # a change, to exercise removals
    final = dict(subscriptions, A=subscriptions.get("A", ["x"])[:1])
    for topic in topics:
        expected = {ident for ident, prefixes in final.items()
                    if any(topic.startswith(prefix) for prefix in prefixes)}
        assert set(t.publish(topic).queue_for) == expected


def test_subscriber_delivers_matching_publications_in_order_per_publisher():
    s = SubscriberState(["a"])
    assert s.accept("p", uuid(1), "a.1")
    assert not s.accept("p", uuid(2), "b")  # not subscribed (queued before an unsubscribe)
    assert s.accept("p", uuid(3), "a")
    assert not s.accept("p", uuid(3), "a") and not s.accept("p", uuid(2), "a")
    assert s.accept("q", uuid(1), "a")  # another publisher
    assert s.accept("p", uuid(1, b"RESTARTD"), "a")  # a restarted publisher
    assert s.accept("p", b"foreign", "a")  # not numbered by a Publisher: no order check


def test_subscriber_prefix_changes():
    s = SubscriberState()
    assert s.subscribe("a") and not s.subscribe("a")
    assert s.unsubscribe("a") and not s.unsubscribe("a")
    assert not s.accept("p", uuid(1), "a")
