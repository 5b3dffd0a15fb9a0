"""A reply sent from ``on_message_recv`` leaves at once, carrying the ack of its request.

Request/response latency: the reply must not wait for the end of the loop pass (after
the other packets read in the same pass), and must not cost a standalone ACK packet.
"""
from __future__ import annotations

import time
from typing import Any, List

import snakezmq.messaging
from compat_tests.compat_helpers import LoopSide
from snakezmq import rpc
from snakezmq._core import protocol, wire
from snakezmq.message import Message


def test_each_reply_goes_right_after_its_request_with_its_ack(links):
    receiver_link, receiver_packeter, receiver = links.stack("receiver")
    sender_link, _, sender = links.stack("sender")
    receiver.on_message_recv.add(
        lambda conn_id, ident, message: receiver.send_message(ident, Message(b"re:" + message.data, ttl=None)))
    replies = []
    sender.on_message_recv.add(lambda conn_id, ident, message: replies.append(message.data))
    sender_link.add_connector(receiver_link.add_listener(("127.0.0.1", 0)))
    links.pump(lambda: receiver.queues_manager.get_queue("sender").connected
               and sender.queues_manager.get_queue("receiver").connected, what="both connected")

    packets = []  # (kind, first_seq, count, ack) of every packet the receiver sends
    send_packet = receiver_packeter.send_packet

    def recording_send_packet(conn_id, packet):
        kind = wire.messaging_kind(packet)
        if kind is wire.MessagingKind.MESSAGES:
            batch = wire.decode_messages(packet)
            packets.append((kind.name, batch.first_seq, len(batch.uuids), batch.ack))
        else:
            packets.append((kind.name, None, None, wire.decode_ack(packet) if kind is wire.MessagingKind.ACK
                            else None))
        return send_packet(conn_id, packet)

    receiver_packeter.send_packet = recording_send_packet
    outbox_queue = sender._outbox.queues["receiver"]
    for data in [b"1", b"2"]:  # two requests, two packets: each send is flushed by its own pass
        sender.send_message("receiver", Message(data, ttl=None))
        deadline = time.monotonic() + 5
        while outbox_queue.queued():
            assert time.monotonic() < deadline, "the sender did not send"
            sender_link.loop(poll_timeout=0.01, runtime=0.01)
    time.sleep(0.2)  # both packets wait in the receiver's socket: one pass reads them both
    receiver_link.loop(poll_timeout=0.5, count=1)
    assert packets == [("MESSAGES", 1, 1, 1), ("MESSAGES", 2, 1, 2)]
    links.pump(lambda: replies == [b"re:1", b"re:2"], what="both replies")


def test_rpc_calls_cost_one_packet_each_way(links, monkeypatch):
    """The server's ack rides on the reply (made in a worker thread), the client's on its
    next request: no standalone ACK while calls keep coming (issue 16). The ack delay is
    made long here, so that a slow machine cannot make a lone ack go on time."""
    monkeypatch.setattr(protocol, "ACK_DELAY", 30.0)
    server = LoopSide(snakezmq.messaging, links, "server")
    client = LoopSide(snakezmq.messaging, links, "client")
    rpc.RpcServer(server.hook).register_object(Echo(), "echo")
    proxy = rpc.RpcClient(client.hook).get_proxy("server", "echo")
    client.link.add_connector(server.link.add_listener(("127.0.0.1", 0)))
    sent = {"server": record_kinds(server.packeter), "client": record_kinds(client.packeter)}
    server.start()
    client.start()
    try:
        client.wait_peer("server")
        server.wait_peer("client")
        for side in sent.values():
            side.clear()  # (the handshake)
        assert [proxy.echo(number) for number in range(5)] == list(range(5))
    finally:
        client.stop()
        server.stop()
    assert sent == {"server": ["MESSAGES"] * 5, "client": ["MESSAGES"] * 5}


class Echo:
    def echo(self, value: int) -> int:
        return value


def record_kinds(packeter: Any) -> List[str]:
    """The kind of each packet ``packeter`` sends from now on."""
    kinds: List[str] = []
    send_packet = packeter.send_packet

    def recording(conn_id: str, packet: bytes) -> int:
        kinds.append(wire.messaging_kind(packet).name)
        return send_packet(conn_id, packet)

    packeter.send_packet = recording
    return kinds


def test_cleanup_sends_the_acks_still_waiting_for_a_reply(links, monkeypatch):
    """A receiver that stops right after its last message (``cleanup()`` within ACK_DELAY)
    still acknowledges it: the sender's on_message_sent fires, nothing is sent again."""
    monkeypatch.setattr(protocol, "ACK_DELAY", 30.0)
    receiver_link, _, receiver = links.stack("receiver")
    sender_link, _, sender = links.stack("sender")
    received: List[bytes] = []
    sent: List[bytes] = []
    receiver.on_message_recv.add(lambda conn_id, ident, message: received.append(message.data))
    sender.on_message_sent.add(lambda conn_id, ident, uuid: sent.append(uuid))
    sender_link.add_connector(receiver_link.add_listener(("127.0.0.1", 0)))
    links.pump(lambda: receiver.queues_manager.get_queue("sender").connected
               and sender.queues_manager.get_queue("receiver").connected, what="both connected")
    message = Message(b"last words", ttl=None)
    sender.send_message("receiver", message)
    links.pump(lambda: received == [b"last words"], what="the message")
    assert receiver._protocol.acks_owed == 1
    receiver_link.linger = 1.0
    receiver_link.cleanup()
    links.pump(lambda: sent == [message.uuid], what="the ack sent at cleanup")
