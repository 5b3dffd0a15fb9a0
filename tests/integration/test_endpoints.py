"""Addresses beyond snakemq's (host, port): ZeroMQ endpoint strings, and all-interface hosts."""
from __future__ import annotations

import itertools
import os

import pytest

from snakezmq.message import Message

_names = itertools.count()


def _exchange(links, listen_address, connect_address=None, timeout=5.0):
    """Listener "server" on ``listen_address``; "client" connects; one message each way."""
    server_link, _, server = links.stack("server")
    server_events = links.record(server)
    real = server_link.add_listener(listen_address)
    client_link, _, client = links.stack("client")
    client_events = links.record(client)
    client_link.add_connector(real if connect_address is None else connect_address,
                              reconnect_interval=0.2)
    links.pump(lambda: server_events.connected("client") and client_events.connected("server"),
               timeout=timeout, what="connect over %r" % (real,))
    client.send_message("server", Message(b"up", ttl=None))
    server.send_message("client", Message(b"down", ttl=None))
    links.pump(lambda: server_events.received() == [b"up"] and client_events.received() == [b"down"],
               what="messages both ways over %r" % (real,))
    return real


def test_ipc_endpoint_end_to_end(links, tmp_path):
    endpoint = "ipc://%s" % (tmp_path / "server.sock")
    real = _exchange(links, endpoint)
    assert real == endpoint


def test_inproc_endpoint_end_to_end(links):
    endpoint = "inproc://snakezmq-test-%d-%d" % (os.getpid(), next(_names))
    real = _exchange(links, endpoint, timeout=2.0)  # in-process: no network, no excuse
    assert real == endpoint


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:*", "tcp://127.0.0.1:0"])
def test_tcp_endpoint_string_returns_the_real_endpoint(links, endpoint):
    real = _exchange(links, endpoint)
    assert isinstance(real, str) and real.startswith("tcp://127.0.0.1:")
    assert int(real.rsplit(":", 1)[1]) > 0


@pytest.mark.parametrize("host", ["", "0.0.0.0"])
def test_all_interfaces_connect_via_127_0_0_1(links, host):
    server_link, _, server = links.stack("server")
    events = links.record(server)
    real = server_link.add_listener((host, 0))
    assert real[0] == "0.0.0.0" and real[1] > 0  # snakemq returns ("0.0.0.0", port) too
    client_link, _, client = links.stack("client")
    client_link.add_connector(("127.0.0.1", real[1]))
    links.pump(lambda: events.connected("client"), what="connect via 127.0.0.1")
    client.send_message("server", Message(b"via loopback", ttl=None))
    links.pump(lambda: events.received() == [b"via loopback"])
    server_link.del_listener(real)  # the returned address is the del_listener key


def test_ipc_endpoint_across_processes(links, peers, tmp_path):
    endpoint = "ipc://%s" % (tmp_path / "remote.sock")
    peer = peers("--ident", "remote", "--listen", endpoint)
    assert peer.wait_event("ready", links)["listeners"] == [endpoint]
    link, _, messaging = links.stack("local")
    events = links.record(messaging)
    link.add_connector(endpoint, reconnect_interval=0.2)
    links.pump(lambda: events.connected("remote"), timeout=10.0, what="connect over ipc")
    messaging.send_message("remote", Message(b"over ipc", ttl=None))
    peer.wait_event("recv", links, data="over ipc", ident="local")
    peer.command(cmd="send", to="local", data="back over ipc", ttl=None)
    links.pump(lambda: events.received() == [b"back over ipc"], what="reply over ipc")
