"""Packeter: whole packets in order, packet ids, on_packet_sent, NoConnection."""
from __future__ import annotations

import os

import pytest

from compat_helpers import live, record

EVENTS = ("on_connect", "on_disconnect", "on_packet_recv", "on_packet_sent")


class End:
    def __init__(self, links):
        self.link = links.new()
        self.link_events = record(self.link, "on_connect")
        self.packeter = links.backend.packeter.Packeter(self.link)
        self.events = record(self.packeter, *EVENTS)

    @property
    def conn(self):
        conns = live(self.events["on_connect"], self.events["on_disconnect"])
        return conns[0][0] if conns else None

    def packets(self):
        return [packet for _, packet in self.events["on_packet_recv"]]


def packeter_pair(links):
    listener, connector = End(links), End(links)
    connector.link.add_connector(listener.link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.1)
    links.pump(lambda: listener.conn is not None and connector.conn is not None, what="packeters")
    return listener, connector


SMALL = [os.urandom(n) for n in (1, 2, 3, 100, 255, 256, 1000, 65536)]
LARGE = [os.urandom(2 * 1024 * 1024), b"after", os.urandom(1024 * 1024 + 7)]


@pytest.mark.parametrize("packets", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("direction", ["to_listener", "to_connector"])
def test_packets_arrive_whole_and_in_order(links, packets, direction):
    listener, connector = packeter_pair(links)
    sender, receiver = (connector, listener) if direction == "to_listener" else (listener, connector)
    for packet in packets:
        sender.packeter.send_packet(sender.conn, packet)
    links.pump(lambda: len(receiver.packets()) >= len(packets), timeout=10, what="all packets")
    links.pump_for(0.1)
    assert receiver.packets() == packets


def test_packet_ids_are_unique_and_each_is_reported_sent(links):
    listener, connector = packeter_pair(links)
    ids = [connector.packeter.send_packet(connector.conn, b"p%d" % n) for n in range(20)]
    ids += [listener.packeter.send_packet(listener.conn, b"q")]
    assert len(set(ids[:20])) == 20
    links.pump(lambda: len(connector.events["on_packet_sent"]) >= 20
               and listener.events["on_packet_sent"], what="on_packet_sent")
    assert connector.events["on_packet_sent"] == [(connector.conn, i) for i in ids[:20]]
    assert listener.events["on_packet_sent"] == [(listener.conn, ids[20])]


def test_packeter_and_link_share_conn_ids(links):
    listener, connector = packeter_pair(links)
    for end in (listener, connector):
        assert end.events["on_connect"] == end.link_events["on_connect"]
    connector.link.close(connector.conn)
    links.pump(lambda: listener.events["on_disconnect"] and connector.events["on_disconnect"],
               what="disconnect")
    for end in (listener, connector):
        assert end.events["on_disconnect"] == end.link_events["on_connect"][:1]


def test_send_packet_to_unknown_or_closed_conn_raises_no_connection(backend, links):
    listener, connector = packeter_pair(links)
    with pytest.raises(backend.exceptions.NoConnection):
        connector.packeter.send_packet("no such connection", b"data")
    closed = connector.conn
    connector.link.close(closed)
    links.pump(lambda: connector.conn != closed and listener.events["on_disconnect"], what="close")
    with pytest.raises(backend.exceptions.NoConnection):
        connector.packeter.send_packet(closed, b"data")
