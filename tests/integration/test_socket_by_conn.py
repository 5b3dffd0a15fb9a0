"""``link.get_socket_by_conn(conn_id)`` beyond snakemq: direct calls, ipc://, inproc://, CurveZMQ.

The TCP addresses on both backends are in compat_tests/test_socket_by_conn.py.
"""
from __future__ import annotations

import errno
import os
import socket
import tempfile
from typing import Any, List, Tuple

import pytest
import zmq.auth

from snakezmq._transport.peersocket import PeerSocket
from snakezmq.security import CurveConfig


def pair(links: Any, address: Any, listener_curve: Any = None, connector_curve: Any = None,
         ident: str = "client") -> Tuple[Any, Any, List[str], List[str]]:
    """(listener link, connector link, listener conn ids, connector conn ids), connected."""
    listener, _, _ = links.stack("server")
    connector, _, _ = links.stack(ident)
    accepted: List[str] = []
    connected: List[str] = []
    listener.on_connect.add(accepted.append)
    connector.on_connect.add(connected.append)
    bound = listener.add_listener(address, ssl_config=listener_curve)
    connector.add_connector(bound, reconnect_interval=0.2, ssl_config=connector_curve)
    links.pump(lambda: accepted and connected, what="connection")
    return listener, connector, accepted, connected


def test_direct_calls_without_sock_and_the_object(links):
    listener, connector, accepted, connected = pair(links, ("127.0.0.1", 0))
    server, client = listener.get_socket_by_conn(accepted[0]), connector.get_socket_by_conn(connected[0])
    assert server.getsockname() == client.getpeername()
    assert server.getpeername() == client.getsockname()
    assert server.sock is server and server.getpeercert() is None and server.getpeercert(True) is None
    assert (server.conn_id, server.is_connector, client.is_connector) == (accepted[0], False, True)
    assert server.curve_public_key is None and client.curve_public_key is None
    assert accepted[0] in repr(server)


def test_ipc_reports_the_socket_path_as_the_os_does(links):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "s.ipc")
        listener, connector, accepted, connected = pair(links, "ipc://" + path)
        server, client = listener.get_socket_by_conn(accepted[0]), connector.get_socket_by_conn(connected[0])
        assert server.getsockname() == client.getpeername() == path
        assert server.getpeername() == client.getsockname() == ""  # the connecting end is unnamed


def test_inproc_has_no_os_socket_so_both_ends_are_the_endpoint(links):
    listener, connector, accepted, connected = pair(links, "inproc://socket-by-conn-%d" % os.getpid())
    for link, conn_id in ((listener, accepted[0]), (connector, connected[0])):
        sock = link.get_socket_by_conn(conn_id)
        assert sock.getsockname() == sock.getpeername() == "inproc://socket-by-conn-%d" % os.getpid()


def test_curve_public_key_of_the_peer_on_both_sides(links, tmp_path):
    clients = tmp_path / "clients"
    clients.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(str(tmp_path), "server")
    zmq.auth.create_certificates(str(clients), "client")
    server_curve = CurveConfig.from_files(server_secret, allowed_clients_dir=str(clients))
    client_curve = CurveConfig.from_files(str(clients / "client.key_secret"),
                                          server_public_file=server_public)
    listener, connector, accepted, connected = pair(links, ("127.0.0.1", 0), server_curve, client_curve)
    assert listener.get_socket_by_conn(accepted[0]).curve_public_key == client_curve.public_key
    assert connector.get_socket_by_conn(connected[0]).curve_public_key == server_curve.public_key
    assert listener.get_socket_by_conn(accepted[0]).getpeername()[0] == "127.0.0.1"


def test_unknown_addresses_raise_a_clear_oserror():
    sock = PeerSocket("7zmq", True, "tcp://127.0.0.1:9", None)
    with pytest.raises(OSError, match="address of connection 7zmq") as raised:
        sock.getpeername()
    assert raised.value.errno == errno.ENOTCONN


def test_a_descriptor_that_is_not_the_endpoints_is_refused():
    """A stale descriptor number (reused by an unrelated socket) must not be reported."""
    from snakezmq._transport import peersocket

    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    try:
        other_port = "tcp://127.0.0.1:%d" % (server.getsockname()[1] + 1)
        seen = peersocket.Ends(client.getsockname(), client.getpeername())
        assert peersocket.connector_ends(seen, other_port) is None
        ends = peersocket.connector_ends(seen, "tcp://127.0.0.1:%d" % server.getsockname()[1])
        assert ends is not None and ends.local == client.getsockname()
        assert peersocket.ends_of(-1) is None
    finally:
        client.close()
        server.close()
