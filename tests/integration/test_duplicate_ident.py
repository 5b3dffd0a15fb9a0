"""A second peer with an ident that is already connected is refused, loudly, on both sides.

ZeroMQ itself would park the second DEALER silently (libzmq issue 4503);
snakezmq's HELLO/PROBE handshake must turn that into an ERROR and
``on_error(DuplicateIdent)`` within 2 seconds, keep the first peer connected,
and not reconnect in a tight loop.
"""
from __future__ import annotations

import logging
import re

from snakezmq.exceptions import DuplicateIdent, SnakeMQException
from snakezmq.message import Message

REFUSAL_DEADLINE = 2.0  # the promise: refused and told within 2 s of starting to connect


def _duplicates(recorder):
    return [e[2] for e in recorder.of("error") if isinstance(e[2], DuplicateIdent)]


def _errors_about_client(caplog, side_marker):
    return [r for r in caplog.records
            if r.levelno == logging.ERROR and r.name.startswith("snakezmq")
            and "'client'" in r.getMessage() and side_marker in r.getMessage()]


def _peer_ports(text, listener_port):
    """Ports of the 127.0.0.1 addresses a report names, besides the listener's."""
    return set(re.findall(r"127\.0\.0\.1:(\d+)", text)) - {str(listener_port)}


def _local_address(link):
    """The "ip:port" of a Link's one connector's connection (what the listener sees)."""
    (connector,) = link._connections.connectors.values()
    return connector.local_address


def test_second_peer_with_same_ident_is_refused_and_told(links, caplog):
    caplog.set_level(logging.WARNING, logger="snakezmq")
    server_link, _, server = links.stack("server")
    server_events = links.record(server)
    address = server_link.add_listener(("127.0.0.1", 0))

    a_link, _, a = links.stack("client")
    a_events = links.record(a)
    a_link.add_connector(address)
    links.pump(lambda: server_events.connected("client") and a_events.connected("server"),
         what="first 'client' to connect")

    b_link, _, b = links.stack("client")
    b_events = links.record(b)
    b_link_connects = []
    b_link.on_connect.add(b_link_connects.append)
    b_link.add_connector(address)
    links.pump(lambda: _duplicates(b_events), timeout=REFUSAL_DEADLINE,
         what="DuplicateIdent on the refused peer")

    error = _duplicates(b_events)[0]
    assert isinstance(error, SnakeMQException)
    assert error.ident == "client"
    assert "client" in str(error)
    # The refused side logs ERROR naming the ident (its text names the listener's endpoint "at ...").
    assert _errors_about_client(caplog, "at tcp://"), caplog.text
    # The listener reports it too (ERROR log and on_error with the same exception type).
    links.pump(lambda: _duplicates(server_events), timeout=REFUSAL_DEADLINE,
         what="DuplicateIdent on the listener")
    assert _duplicates(server_events)[0].ident == "client"
    assert _errors_about_client(caplog, "on listener"), caplog.text
    # Both sides name both peers with their ports: the one that holds the ident (A), and
    # the refused one (B, the connection ZeroMQ parked).
    a_address, b_address = _local_address(a_link), _local_address(b_link)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", a_address) and a_address != b_address
    for report in [str(error), str(_duplicates(server_events)[0])] + [
            r.getMessage() for r in _errors_about_client(caplog, "")]:
        assert "in use by the peer at %s" % a_address in report, report
        assert "refused the peer at %s" % b_address in report, report

    # No churn: B never gets a link session during the next ~3 s, and A keeps its connection.
    links.pump_for(3.0)
    assert b_link_connects == []
    assert b_events.of("connect") == []
    assert a_events.of("disconnect") == [] and server_events.of("disconnect") == []
    assert [e[2] for e in server_events.of("connect")] == ["client"]
    assert len(_duplicates(b_events)) <= 2  # retried with a growing interval, not in a loop

    # Messages for "client" still go to A, and only to A.
    server.send_message("client", Message(b"for A", ttl=None))
    links.pump(lambda: a_events.received() == [b"for A"], what="message to 'client' at A")
    links.pump_for(0.2)
    assert b_events.received() == []
    # ... and A can still talk to the server.
    a.send_message("server", Message(b"from A", ttl=None))
    links.pump(lambda: server_events.received() == [b"from A"], what="message from A")


def test_refused_peer_in_another_process_is_told(links, peers, caplog):
    caplog.set_level(logging.WARNING, logger="snakezmq")
    server_link, _, server = links.stack("server")
    server_events = links.record(server)
    host, port = server_link.add_listener(("127.0.0.1", 0))
    a_link, _, _ = links.stack("client")
    a_link.add_connector((host, port))
    links.pump(lambda: server_events.connected("client"), what="first 'client'")

    b = peers("--ident", "client", "--connect", "%s:%d" % (host, port))
    b.wait_event("ready", links)  # printed right after add_connector: the clock starts here
    error = b.wait_event("error", links, timeout=REFUSAL_DEADLINE, type="DuplicateIdent")
    assert error["ident"] == "client"
    assert "client" in error["text"]
    logs = [e for e in b.of("log") if e["level"] == "ERROR" and "'client'" in e["text"]]
    assert logs, b.events
    assert _errors_about_client(caplog, "on listener"), caplog.text
    # ip:port of both peers (A holds the ident, B was refused) on both sides
    for report in [error["text"], logs[0]["text"]] + [
            r.getMessage() for r in _errors_about_client(caplog, "on listener")]:
        assert len(_peer_ports(report, port)) == 2, report
    assert b.of("connect") == []
    links.pump(lambda: _duplicates(server_events), what="listener's DuplicateIdent")
    assert server_events.of("disconnect") == []


def test_refused_peer_gets_in_once_the_first_one_leaves(links):
    server_link, _, server = links.stack("server")
    server_events = links.record(server)
    address = server_link.add_listener(("127.0.0.1", 0))
    a_link, _, _ = links.stack("client")
    a_link.add_connector(address, reconnect_interval=0.2)
    links.pump(lambda: server_events.connected("client"), what="first 'client'")
    b_link, _, b = links.stack("client")
    b_events = links.record(b)
    b_link.add_connector(address, reconnect_interval=0.2)
    links.pump(lambda: _duplicates(b_events), timeout=REFUSAL_DEADLINE, what="B refused")

    links.retire(a_link)
    links.pump(lambda: b_events.connected("server"), timeout=10.0,
               what="B accepted after A left (it keeps retrying, with back-off)")
    server.send_message("client", Message(b"for B", ttl=None))
    links.pump(lambda: b_events.received() == [b"for B"], what="message to 'client' at B")
