"""Link.cleanup(): every open connection is reported closed, through every layer, on both sides."""
from __future__ import annotations

import pytest

from compat_helpers import record


def layer_disconnects(peer):
    """Recorders of on_disconnect at the Link, Packeter and Messaging layers of a Peer."""
    return [record(peer.link, "on_disconnect")["on_disconnect"],
            record(peer.packeter, "on_disconnect")["on_disconnect"],
            peer.events["on_disconnect"]]


def expected_layers(conn, ident):
    return [[(conn,)], [(conn,)], [(conn, ident)]]


@pytest.mark.parametrize("cleaning", ["listener", "connector"])
def test_cleanup_disconnects_every_layer_on_both_sides(links, cleaning):
    listener, connector = links.pair()
    gone, other = (listener, connector) if cleaning == "listener" else (connector, listener)
    gone_conn, other_conn = gone.connected[other.ident], other.connected[gone.ident]
    recorded = {peer: layer_disconnects(peer) for peer in (gone, other)}
    links.cleanup(gone.link)
    assert recorded[gone] == expected_layers(gone_conn, other.ident), "synchronous on the cleaning side"
    links.pump(lambda: all(recorded[other]), what="the other side to notice")
    assert recorded[other] == expected_layers(other_conn, gone.ident)


def test_cleanup_of_a_listener_disconnects_all_its_clients(links):
    server = links.peer("server")
    server.listen()
    clients = [links.peer("client%d" % n) for n in range(3)]
    for client in clients:
        client.connect(server.address)
    links.pump(lambda: len(server.connected) == 3 and all(c.connected for c in clients),
               what="three clients")
    conns = sorted(server.connected.values())
    links.cleanup(server.link)
    assert sorted(conn for conn, _ in server.events["on_disconnect"]) == conns
    links.pump(lambda: all(c.events["on_disconnect"] for c in clients), what="clients to notice")
    assert [[ident for _, ident in c.events["on_disconnect"]] for c in clients] == [["server"]] * 3


@pytest.mark.parametrize("setup", ["unused", "listener_only", "connector_to_nowhere"])
def test_cleanup_of_a_link_without_connections(links, setup):
    peer, nowhere = links.peer("lonely"), links.peer("nowhere")
    if setup == "listener_only":
        peer.listen()
    elif setup == "connector_to_nowhere":
        address = nowhere.listen()
        links.cleanup(nowhere.link)
        peer.connect(address, reconnect_interval=0.05)
        links.pump_for(0.2)
    links.cleanup(peer.link)
    assert peer.events["on_connect"] == peer.events["on_disconnect"] == []
