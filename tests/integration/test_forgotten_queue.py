"""``queues_manager.cleanup()`` forgets an empty queue; a later message still arrives
(issue 12, defect 1; the ``collect_garbage()`` twin runs on both backends in
compat_tests/test_garbage_collection.py, snakemq 1.6's ``cleanup()`` raises RuntimeError)."""
from __future__ import annotations

from snakezmq.message import Message


def test_message_after_queues_cleanup_is_delivered(links):
    server_link, _, server = links.stack("srv")
    client_link, _, client = links.stack("cli")
    received, sent, conns = [], [], {}
    server.on_message_recv.add(lambda conn_id, ident, message: received.append(message.data))
    server.on_connect.add(lambda conn_id, ident: conns.__setitem__(ident, conn_id))
    client.on_message_sent.add(lambda conn_id, ident, uuid: sent.append(uuid))
    client.on_disconnect.add(lambda conn_id, ident: conns.__setitem__("closed", True))
    client_link.add_connector(server_link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.2)
    for n in range(3):
        client.send_message("srv", Message(b"early %d" % n, ttl=60))
    links.pump(lambda: len(sent) == 3, what="the 3 acks")

    server_link.close(conns["cli"])
    links.pump(lambda: "closed" in conns, what="the client to see it closed")
    client.queues_manager.cleanup()
    late = Message(b"late", ttl=60)
    client.send_message("srv", late)
    links.pump(lambda: len(sent) == 4, timeout=15, what="the late message's ack")
    assert received == [b"early 0", b"early 1", b"early 2", b"late"] and sent[-1] == late.uuid
