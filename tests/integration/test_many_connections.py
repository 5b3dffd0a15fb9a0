"""One Messaging with a listener and several connectors; many connectors on one listener."""
from __future__ import annotations

from snakezmq.message import Message


def test_listener_and_two_connectors_route_by_ident(links):
    hub_link, _, hub = links.stack("hub")
    hub_events = links.record(hub)
    hub_address = hub_link.add_listener(("127.0.0.1", 0))

    others = {}
    for ident in ("east", "west"):
        link, _, messaging = links.stack(ident)
        hub_link.add_connector(link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.2)
        others[ident] = links.record(messaging), messaging
    client_link, _, client = links.stack("client")
    client_link.add_connector(hub_address, reconnect_interval=0.2)
    others["client"] = links.record(client), client

    links.pump(lambda: all(hub_events.connected(i) for i in others)
               and all(events.connected("hub") for events, _ in others.values()),
               what="hub connected to east, west and client")
    assert len({e[1] for e in hub_events.of("connect")}) == 3  # three distinct conn ids

    for ident in others:
        hub.send_message(ident, Message(b"for " + ident.encode(), ttl=None))
        others[ident][1].send_message("hub", Message(b"from " + ident.encode(), ttl=None))
    links.pump(lambda: all(events.received() for events, _ in others.values())
               and len(hub_events.received()) == 3, what="messages both ways")
    links.pump_for(0.1)
    for ident, (events, _) in others.items():
        assert events.received() == [b"for " + ident.encode()]
        assert [(e[2], e[3].data) for e in events.of("recv")] == [("hub", b"for " + ident.encode())]
    conn_of = {e[2]: e[1] for e in hub_events.of("connect")}
    assert sorted((e[2], e[3].data) for e in hub_events.of("recv")) == sorted(
        (ident, b"from " + ident.encode()) for ident in others)
    assert all(conn_of[e[2]] == e[1] for e in hub_events.of("recv"))


def test_five_connectors_on_one_listener_get_their_own_messages(links):
    server_link, _, server = links.stack("server")
    server_events = links.record(server)
    address = server_link.add_listener(("127.0.0.1", 0))
    clients = {}
    for n in range(5):
        link, _, messaging = links.stack("c%d" % n)
        link.add_connector(address, reconnect_interval=0.2)
        clients["c%d" % n] = links.record(messaging)
    links.pump(lambda: all(server_events.connected(ident) for ident in clients),
               what="five connectors")

    for ident in clients:
        for i in range(3):
            server.send_message(ident, Message(b"%s-%d" % (ident.encode(), i), ttl=None))
    links.pump(lambda: all(len(events.received()) >= 3 for events in clients.values()),
               what="every client's messages")
    links.pump_for(0.1)
    for ident, events in clients.items():
        assert events.received() == [b"%s-%d" % (ident.encode(), i) for i in range(3)]
