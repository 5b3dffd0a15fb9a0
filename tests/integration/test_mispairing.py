"""Mis-paired deployments are never silent: the log says what is wrong, once, at a slow rate.

The seed's users lost days to "no error in the logs, and no reply ever comes":
client and server not paired one-to-one. snakezmq warns about
- a connector whose listener is not there (after a grace period, then at a slow rate),
- messages waiting for an ident nobody connected as (once per ident, naming the
  idents that are connected: the "client"/"clinet" mix-up shows at once),
- a duplicate ident (both sides, with the ident and the peer addresses; the
  refusal itself is tested in test_duplicate_ident.py).
The grace periods are module constants, made short here with monkeypatch.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from typing import Any, Iterable, List

import pytest

import snakezmq._core.connector as connector_state
import snakezmq._core.protocol
from snakezmq.exceptions import DuplicateIdent
from snakezmq.message import Message

GRACE = 0.5
REPEAT = 2.0
RETRY = 0.1  # reconnect_interval: libzmq retries this often, far more often than the warning


def _records(caplog: Any, level: int, *needles: str) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("snakezmq") and r.levelno == level
            and all(n in r.getMessage() for n in needles)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def short_unreachable(monkeypatch):
    monkeypatch.setattr(connector_state, "UNREACHABLE_GRACE", GRACE)
    monkeypatch.setattr(connector_state, "UNREACHABLE_REPEAT", REPEAT)


@pytest.fixture
def silent_tcp_server() -> Iterable[int]:
    """Something that accepts TCP connections and never says a word (not snakezmq, not ZeroMQ)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # never accepted: the kernel completes the handshakes into the backlog
    yield server.getsockname()[1]
    server.close()


def _watch_unreachable(links: Any, caplog: Any, port: int) -> None:
    caplog.set_level(logging.INFO, logger="snakezmq")
    link, _, messaging = links.stack("client")
    link.add_connector(("127.0.0.1", port), reconnect_interval=RETRY)
    started = time.monotonic()
    endpoint = "tcp://127.0.0.1:%d" % port
    warnings = lambda: _records(caplog, logging.WARNING, endpoint)  # noqa: E731

    links.pump(lambda: warnings(), timeout=GRACE + 3, what="the unreachable-listener warning")
    first_at = time.monotonic()
    assert first_at - started >= GRACE * 0.9, "warned before the grace period"
    assert len(warnings()) == 1
    text = warnings()[0].getMessage()
    assert "listener" in text and "still retrying" in text, text

    # Slow repeats: one more after REPEAT, not one per retry (there were ~20 retries by then).
    links.pump(lambda: len(warnings()) >= 2, timeout=REPEAT + 3, what="the repeated warning")
    assert time.monotonic() - first_at >= REPEAT * 0.9
    links.pump_for(REPEAT * 0.5)
    assert len(warnings()) == 2
    assert _records(caplog, logging.ERROR) == []  # nothing else was said louder
    # Nothing of the sort happened on the Messaging layer.
    assert messaging.identifier == "client"


def test_connector_to_nothing_warns_after_grace_at_a_slow_rate(links, caplog, short_unreachable):
    _watch_unreachable(links, caplog, _free_port())


def test_connector_to_a_silent_non_snakezmq_server_warns(links, caplog, short_unreachable,
                                                          silent_tcp_server):
    """The TCP connection comes up, the ZeroMQ handshake never does: still "no listener"."""
    _watch_unreachable(links, caplog, silent_tcp_server)


def test_unreachable_warning_stops_once_connected(links, caplog, short_unreachable):
    caplog.set_level(logging.INFO, logger="snakezmq")
    port = _free_port()
    client_link, _, client = links.stack("client")
    client_events = links.record(client)
    client_link.add_connector(("127.0.0.1", port), reconnect_interval=RETRY)
    links.pump(lambda: _records(caplog, logging.WARNING, str(port)), timeout=GRACE + 3,
               what="the first warning")
    server_link, _, _ = links.stack("server")
    server_link.add_listener(("127.0.0.1", port))
    links.pump(lambda: client_events.connected("server"), what="the late listener to be found")
    links.pump_for(REPEAT + 0.5)
    assert len(_records(caplog, logging.WARNING, str(port))) == 1


@pytest.fixture
def short_unclaimed(monkeypatch):
    monkeypatch.setattr(snakezmq._core.protocol, "UNCLAIMED_GRACE", GRACE)


def _unclaimed(caplog: Any, ident: str) -> List[logging.LogRecord]:
    return _records(caplog, logging.WARNING, "messages for ident %r" % ident)


def test_seed_client_server_mixup_is_one_warning_naming_both_idents(links, caplog, short_unclaimed):
    """The seed's scenario with a typo: the client identifies as "clinet"."""
    caplog.set_level(logging.INFO, logger="snakezmq")
    server_link, _, server = links.stack("server")
    server_events = links.record(server)
    address = server_link.add_listener(("127.0.0.1", 0))
    client_link, _, client = links.stack("clinet")
    client_events = links.record(client)
    client_link.add_connector(address, reconnect_interval=RETRY)
    server.send_message("client", Message(b'{"type": "execute", "value": "abc"}', ttl=600))
    client.send_message("server", Message(b'{"type": "status", "value": "ready"}', ttl=600))
    links.pump(lambda: server_events.connected("clinet") and client_events.connected("server"),
               what="the mis-named client to connect")
    started = time.monotonic()

    links.pump(lambda: _unclaimed(caplog, "client"), timeout=GRACE + 3,
               what="the warning about messages for 'client'")
    assert time.monotonic() - started <= GRACE + 2
    text = _unclaimed(caplog, "client")[0].getMessage()
    assert "'clinet'" in text, text  # the connected idents: the typo is in plain sight
    assert "no peer with that ident is connected" in text, text
    # The client's own message did arrive: only one direction is mis-paired.
    assert [e[3].data for e in server_events.of("recv")] == [b'{"type": "status", "value": "ready"}']

    # One warning per ident, not one per message or per loop pass.
    server.send_message("client", Message(b"again", ttl=600))
    links.pump_for(GRACE * 3)
    assert len(_unclaimed(caplog, "client")) == 1
    assert client_events.of("recv") == []
    # Another unknown ident gets its own warning.
    server.send_message("worker", Message(b"job", ttl=600))
    links.pump(lambda: _unclaimed(caplog, "worker"), timeout=GRACE + 3, what="the warning for 'worker'")
    assert len(_unclaimed(caplog, "client")) == 1 and len(_unclaimed(caplog, "worker")) == 1


def test_client_sending_to_a_misspelt_server_is_warned_with_the_connected_idents(
        links, caplog, short_unclaimed):
    caplog.set_level(logging.INFO, logger="snakezmq")
    server_link, _, _ = links.stack("server")
    address = server_link.add_listener(("127.0.0.1", 0))
    client_link, _, client = links.stack("client")
    client_events = links.record(client)
    client_link.add_connector(address, reconnect_interval=RETRY)
    client.send_message("sever", Message(b"status", ttl=600))
    links.pump(lambda: client_events.connected("server"), what="connect")
    links.pump(lambda: _unclaimed(caplog, "sever"), timeout=GRACE + 3, what="the warning for 'sever'")
    text = _unclaimed(caplog, "sever")[0].getMessage()
    assert "'server'" in text, text


def test_no_warning_when_the_ident_connects_within_the_grace_period(links, caplog, short_unclaimed):
    caplog.set_level(logging.INFO, logger="snakezmq")
    server_link, _, server = links.stack("server")
    address = server_link.add_listener(("127.0.0.1", 0))
    server.send_message("client", Message(b"soon", ttl=600))
    client_link, _, client = links.stack("client")
    client_events = links.record(client)
    client_link.add_connector(address, reconnect_interval=RETRY)
    links.pump(lambda: client_events.received() == [b"soon"], what="delivery")
    links.pump_for(GRACE * 2)
    assert _unclaimed(caplog, "client") == []


def test_duplicate_ident_is_reported_on_both_sides_with_ident_and_addresses(links, caplog):
    """test_duplicate_ident.py checks the refusal; this checks what the reports say.

    The second "client" connects from another loopback address (ZeroMQ's
    ``tcp://source;destination`` endpoint), so the two peers' addresses differ.
    """
    caplog.set_level(logging.INFO, logger="snakezmq")
    server_link, _, server = links.stack("server")
    server_events = links.record(server)
    host, port = server_link.add_listener(("127.0.0.1", 0))
    first_link, _, _ = links.stack("client")
    first_link.add_connector((host, port))
    links.pump(lambda: server_events.connected("client"), what="the first 'client'")
    second_link, _, second = links.stack("client")
    second_events = links.record(second)
    second_link.add_connector("tcp://127.0.0.2:0;127.0.0.1:%d" % port)

    def duplicates(events: Any) -> List[DuplicateIdent]:
        return [e[2] for e in events.of("error") if isinstance(e[2], DuplicateIdent)]

    links.pump(lambda: duplicates(second_events) and duplicates(server_events), timeout=5.0,
               what="DuplicateIdent on both sides")
    for error in (duplicates(server_events)[0], duplicates(second_events)[0]):
        assert error.ident == "client"
        text = str(error)
        assert "'client'" in text, text
        assert "in use by the peer at 127.0.0.1" in text, text  # the first one's address
        assert "refused the peer at 127.0.0.2" in text, text  # the second one's address
    assert "tcp://127.0.0.1:%d" % port in str(duplicates(server_events)[0])  # which listener
    assert str(port) in str(duplicates(second_events)[0])
    for error in (duplicates(server_events)[0], duplicates(second_events)[0]):
        assert _records(caplog, logging.ERROR, str(error)[:60]), caplog.text


def test_mispairing_example_shows_the_explaining_line():
    """examples/mispairing.py: the seed's server and a client that identifies as "clinet"."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, os.path.join(root, "examples", "mispairing.py"),
                             "--runtime", "6"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    explained = result.stdout.split("---- the line that explains it ----")[1]
    assert "messages for ident 'client' have waited" in explained, result.stdout
    assert "connected idents: 'clinet'" in explained, result.stdout
