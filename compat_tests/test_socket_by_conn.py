"""``link.get_socket_by_conn(conn_id)``: who is on the other end of a connection.

snakemq returns its ``LinkSocket``; user code reads the addresses through its
``sock`` (a ``socket.socket``) and calls ``getpeercert()`` on it (snakemq's
tutorial). snakezmq's object answers the same calls; its own extras (direct
``getpeername()``, ipc/inproc, the CurveZMQ key) are in
tests/integration/test_socket_by_conn.py.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

RECONNECT = 0.1


def addresses(link: Any, conn_id: Any) -> Tuple[Any, Any, Any]:
    sock = link.get_socket_by_conn(conn_id)
    return tuple(sock.sock.getsockname()), tuple(sock.sock.getpeername()), sock.getpeercert()


def connected_pair(links: Any) -> Tuple[Any, Any, Dict[str, List[Any]]]:
    """A listener and a connector Link; what each saw of its socket inside its on_connect."""
    listener, connector = links.raw(), links.raw()
    seen: Dict[str, List[Any]] = {"listener": [], "connector": []}
    for name, end in (("listener", listener), ("connector", connector)):
        end.link.on_connect.add(lambda conn_id, end=end, name=name:
                                seen[name].append(addresses(end.link, conn_id)))
    address = listener.link.add_listener(("127.0.0.1", 0))
    connector.link.add_connector(address, reconnect_interval=RECONNECT)
    links.pump(lambda: listener.conns and connector.conns, what="connection")
    return listener, connector, seen


def test_addresses_are_the_tcp_connections_on_both_sides(links):
    listener, connector, seen = connected_pair(links)
    listener_local, listener_peer, listener_cert = addresses(listener.link, listener.conns[0])
    connector_local, connector_peer, connector_cert = addresses(connector.link, connector.conns[0])
    assert listener_local == connector_peer
    assert connector_local == listener_peer
    assert listener_local[0] == connector_local[0] == "127.0.0.1"
    assert connector_local[1] != listener_local[1]
    assert listener_cert is None and connector_cert is None  # no SSL
    # the same inside on_connect, when user code logs who connected
    assert seen == {"listener": [(listener_local, listener_peer, None)],
                    "connector": [(connector_local, connector_peer, None)]}


def test_listener_address_is_the_one_add_listener_returned(links):
    listener, connector = links.raw(), links.raw()
    address = listener.link.add_listener(("127.0.0.1", 0))
    connector.link.add_connector(address, reconnect_interval=RECONNECT)
    links.pump(lambda: listener.conns and connector.conns, what="connection")
    assert addresses(listener.link, listener.conns[0])[0] == tuple(address)
    assert addresses(connector.link, connector.conns[0])[1] == tuple(address)


def test_unknown_and_closed_connections_raise_key_error(links):
    listener, connector, _ = connected_pair(links)
    with pytest.raises(KeyError):
        listener.link.get_socket_by_conn("no such conn")
    conn_id = listener.conns[0]
    listener.link.close(conn_id)
    links.pump(lambda: not listener.conns, what="on_disconnect")
    with pytest.raises(KeyError):
        listener.link.get_socket_by_conn(conn_id)
