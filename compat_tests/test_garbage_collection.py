"""Queues forgotten by ``collect_garbage()`` / ``cleanup()``: what is sent afterwards arrives.

snakemq's docs advise calling ``queues_manager.collect_garbage()`` periodically. It forgets
empty queues of disconnected idents; a message queued for that ident afterwards must still
be delivered, and ``on_message_sent`` must not fire for it before it is (issue 12, defect 1).
"""
from __future__ import annotations


def test_message_after_collect_garbage_is_delivered(links):
    """(``queues_manager.cleanup()`` is tested in tests/: snakemq 1.6's raises RuntimeError.)"""
    listener, connector = links.pair("srv", "cli")
    first = [connector.send("srv", b"early %d" % n, ttl=60) for n in range(3)]
    links.pump(lambda: len(connector.events["on_message_sent"]) == 3
               and len(listener.received("cli")) == 3, what="the 3 messages and their acks")
    assert listener.data("cli") == [b"early 0", b"early 1", b"early 2"]

    listener.link.close(listener.connected["cli"])  # an operator, or a keepalive, ends it
    links.pump(lambda: "srv" not in connector.connected, what="the connector to see it closed")
    connector.messaging.queues_manager.collect_garbage()
    late = connector.send("srv", b"late", ttl=60)

    links.pump(lambda: b"late" in listener.data("cli"), timeout=15, what="the late message")
    assert listener.data("cli").count(b"late") == 1
    links.pump(lambda: len(connector.events["on_message_sent"]) == 4, what="its ack")
    assert [uuid for _, _, uuid in connector.events["on_message_sent"]] == [
        m.uuid for m in first + [late]]
