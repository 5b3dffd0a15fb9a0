"""Link: listeners, connectors, raw byte streams, close and reconnect."""
from __future__ import annotations

import os

import pytest

from compat_helpers import RawEnd

RECONNECT = 0.1


def raw_pair(links, reconnect_interval=RECONNECT):
    """A listening and a connecting bare Link, connected; returns (listener, connector, key)."""
    listener, connector = links.raw(), links.raw()
    key = connector.link.add_connector(listen(listener), reconnect_interval=reconnect_interval)
    links.pump(lambda: listener.conns and connector.conns, what="raw connection")
    return listener, connector, key


def listen(end: RawEnd):
    return end.link.add_listener(("127.0.0.1", 0))


def test_add_listener_returns_ip_and_real_port_usable_by_add_connector(links):
    listener, connector = links.raw(), links.raw()
    address = listen(listener)
    assert isinstance(address, tuple)
    assert address[0] == "127.0.0.1"
    assert isinstance(address[1], int) and address[1] > 0
    assert tuple(connector.link.add_connector(address)) == address
    links.pump(lambda: listener.conns and connector.conns, what="connection to the real port")


def test_connect_fires_on_connect_on_both_sides(links):
    listener, connector, _ = raw_pair(links)
    assert len(listener.conns) == len(connector.conns) == 1
    links.pump_for(0.2)
    assert len(listener.events["on_connect"]) == len(connector.events["on_connect"]) == 1
    assert not listener.events["on_disconnect"] and not connector.events["on_disconnect"]


@pytest.mark.parametrize("size", [1, 5000, 300_000])
def test_raw_bytes_arrive_in_both_directions(links, size):
    listener, connector, _ = raw_pair(links)
    down, up = os.urandom(size), os.urandom(size)
    listener.send(listener.conns[0], down)
    connector.send(connector.conns[0], up)
    links.pump(lambda: len(connector.received(connector.conns[0])) >= size
               and len(listener.received(listener.conns[0])) >= size, what="both streams")
    assert connector.received(connector.conns[0]) == down
    assert listener.received(listener.conns[0]) == up


def test_listener_keeps_each_connection_apart(links):
    listener = links.raw()
    address = listen(listener)
    connectors = [links.raw() for _ in range(3)]
    for connector in connectors:
        connector.link.add_connector(address, reconnect_interval=RECONNECT)
    links.pump(lambda: len(listener.conns) == 3 and all(c.conns for c in connectors),
               what="three connections")
    assert len(set(listener.conns)) == 3
    for number, connector in enumerate(connectors):
        connector.send(connector.conns[0], b"from %d" % number)
    links.pump(lambda: sum(len(listener.received(c)) for c in listener.conns) == 18,
               what="three greetings")
    assert sorted(listener.received(c) for c in listener.conns) == [b"from 0", b"from 1", b"from 2"]


@pytest.mark.parametrize("closing", ["listener", "connector"])
def test_close_disconnects_both_sides_and_connector_reconnects(links, closing):
    listener, connector, _ = raw_pair(links)
    old = {"listener": listener.conns[0], "connector": connector.conns[0]}
    end = listener if closing == "listener" else connector
    end.link.close(old[closing])
    links.pump(lambda: listener.events["on_disconnect"] and connector.events["on_disconnect"],
               what="on_disconnect on both sides")
    assert listener.events["on_disconnect"] == [(old["listener"],)]
    assert connector.events["on_disconnect"] == [(old["connector"],)]
    links.pump(lambda: listener.conns and connector.conns, what="reconnection")
    assert listener.conns[0] != old["listener"] and connector.conns[0] != old["connector"]
    connector.send(connector.conns[0], b"again")
    links.pump(lambda: listener.received(listener.conns[0]) == b"again", what="data after reconnect")


def test_del_connector_disconnects_and_does_not_reconnect(links):
    listener, connector, key = raw_pair(links)
    connector.link.del_connector(key)
    links.pump(lambda: listener.events["on_disconnect"] and connector.events["on_disconnect"],
               what="on_disconnect on both sides")
    links.pump_for(5 * RECONNECT)
    assert not listener.conns and not connector.conns
    assert len(listener.events["on_connect"]) == 1


def test_del_listener_refuses_new_connections(links):
    listener, late = links.raw(), links.raw()
    address = listen(listener)
    listener.link.del_listener(address)
    late.link.add_connector(address, reconnect_interval=RECONNECT)
    links.pump_for(5 * RECONNECT)
    assert not listener.events["on_connect"] and not late.events["on_connect"]


def test_connector_reconnects_to_a_restarted_listener(links):
    listener, connector, key = raw_pair(links)
    links.cleanup(listener.link)
    links.pump(lambda: connector.events["on_disconnect"], what="connector on_disconnect")
    restarted = links.raw()
    assert tuple(restarted.link.add_listener(key)) == tuple(key)
    links.pump(lambda: restarted.conns and connector.conns, what="reconnection to the new listener")
    restarted.send(restarted.conns[0], b"hello")
    links.pump(lambda: connector.received(connector.conns[0]) == b"hello", what="data")


def test_link_constants_and_defaults(backend, links):
    assert backend.link.RECONNECT_INTERVAL == 3.0
    assert backend.link.POLL_TIMEOUT == 0.2
    assert links.new().reconnect_interval == backend.link.RECONNECT_INTERVAL
