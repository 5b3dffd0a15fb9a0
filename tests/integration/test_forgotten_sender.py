"""A receiver that has seen many senders still never delivers a resend twice (issue 12,
defect 3). Its record of a sender whose last ack may not have arrived is kept whatever the
bound on remembered senders; only records nothing depends on are forgotten.

The bound is made small here (1 instead of 10,000) so that two extra senders exceed it.
"""
from __future__ import annotations

from typing import List

from snakezmq.message import Message


def test_resend_after_many_other_senders_is_not_delivered_twice(links):
    rx_link, _, rx = links.stack("rx")
    rx._protocol.delivered.max_clean = 1  # (test-only: the bound, made small)
    address = rx_link.add_listener(("127.0.0.1", 0))
    received: List[bytes] = []

    def recv(conn_id, ident, message):
        received.append(message.data)
        if message.data == b"ack me not":
            rx_link.close(conn_id)  # the connection ends before the ack goes out
    rx.on_message_recv.add(recv)

    tx_link, _, tx = links.stack("tx")
    sent: List[bytes] = []
    tx.on_message_sent.add(lambda conn_id, ident, uuid: sent.append(uuid))
    gone: List[str] = []
    tx.on_disconnect.add(lambda conn_id, ident: gone.append(ident))
    tx_link.add_connector(address, reconnect_interval=0.2)
    message = Message(b"ack me not", ttl=None)
    tx.send_message("rx", message)
    links.pump(lambda: received and gone, what="delivery, then the connection closed")
    tx_link.del_connector(address)  # tx stays away while others come and go

    for ident in ("x1", "x2"):  # more senders than the bound: tx's record is the oldest
        x_link, _, x = links.stack(ident)
        x_sent: List[bytes] = []
        x.on_message_sent.add(lambda conn_id, ident, uuid: x_sent.append(uuid))
        x_link.add_connector(address, reconnect_interval=0.2)
        x.send_message("rx", Message(b"from " + ident.encode(), ttl=None))
        links.pump(lambda: x_sent, what="%s's message acknowledged" % ident)
        links.pump_for(0.3)  # (its confirmation too: its record is clean, so it may go)
        links.retire(x_link)

    tx_link.add_connector(address, reconnect_interval=0.2)
    links.pump(lambda: sent == [message.uuid], timeout=10, what="tx to learn its message arrived")
    links.pump_for(0.3)
    assert received == [b"ack me not", b"from x1", b"from x2"]
