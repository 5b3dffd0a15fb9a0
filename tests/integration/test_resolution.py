"""A connector to a host that does not resolve (yet) keeps retrying with a warning; never raises."""
from __future__ import annotations

import logging

HOST = "name.invalid"  # RFC 2606: guaranteed never to resolve


def test_unresolvable_host_warns_and_keeps_looping(links, caplog):
    caplog.set_level(logging.WARNING, logger="snakezmq")
    link, _, messaging = links.stack("client")
    errors = []
    messaging.on_error.add(lambda conn_id, exc: errors.append(exc))

    key = link.add_connector((HOST, 4321), reconnect_interval=0.2)  # must not raise

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and r.name.startswith("snakezmq") and HOST in r.getMessage()]
    assert warnings, caplog.text
    links.pump_for(1.0)  # any exception from the loop fails the test
    assert errors == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    link.del_connector(key)  # the returned key works for del_connector


def test_unresolvable_connector_does_not_disturb_a_working_one(links):
    server_link, _, server = links.stack("server")
    server_events = links.record(server)
    address = server_link.add_listener(("127.0.0.1", 0))
    client_link, _, client = links.stack("client")
    client_link.add_connector((HOST, 4321), reconnect_interval=0.2)
    client_link.add_connector(address, reconnect_interval=0.2)
    links.pump(lambda: server_events.connected("client"), what="the resolvable connector")
