"""CurveZMQ mistakes, said plainly (issue 15): every refusal reaches on_error, a refused
connector never claims the listener is unreachable, a plaintext client's error never
mentions a CurveConfig it does not have, and the listener always logs a plaintext client."""
from __future__ import annotations

import errno
import logging
import socket
from typing import Any, Dict, List

import pytest
import zmq

from snakezmq._core import connector as c
from snakezmq._transport import curve
from snakezmq.exceptions import ConnectionRefused
from snakezmq.security import CurveConfig

from .test_security import client, client_config, keys, secure_server  # noqa: F401  (fixture)

WAIT = 10.0
ZMTP_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"


def test_wrong_server_key_reaches_on_error(links, keys):
    address, _, _ = secure_server(links, keys)
    wrong = CurveConfig.from_files(keys["secret"]("alice"),
                                   server_public_file=str(keys["dir"] / "stray" / "fakeserver.key"))
    _, _, events = client(links, "alice", address, wrong)
    links.pump(lambda: events.of("error"), WAIT, "on_error on the client with a wrong server key")
    error = events.of("error")[0][2]
    assert isinstance(error, ConnectionRefused) and "server_public_key" in str(error)


@pytest.mark.parametrize("case", ["plaintext", "unknown key"])
def test_a_definite_refusal_reaches_on_error_once_per_layer(links, keys, case):
    """ConnectionRefused goes to packeter.on_error and, through it, to messaging.on_error."""
    address, _, _ = secure_server(links, keys)
    link, packeter, messaging = links.stack("alice")
    seen: Dict[str, List[Any]] = {"packeter": [], "messaging": []}
    packeter.on_error.add(lambda conn_id, exc: seen["packeter"].append(exc))
    messaging.on_error.add(lambda conn_id, exc: seen["messaging"].append(exc))
    link.add_connector(address, ssl_config=None if case == "plaintext" else client_config(keys, "mallory"))
    links.pump(lambda: seen["messaging"], WAIT, "on_error")
    assert len(seen["packeter"]) == len(seen["messaging"]) == 1
    assert seen["packeter"][0] is seen["messaging"][0]
    assert isinstance(seen["messaging"][0], ConnectionRefused)
    if case == "plaintext":
        assert "the listener requires CurveZMQ" in str(seen["messaging"][0])


def test_refused_connector_waits_and_never_claims_nobody_listens():
    """After a definite refusal the connector retries with a growing interval, without
    the "no snakezmq listener reachable" warning (the listener was reached)."""
    state = c.ConnectorState("tcp://127.0.0.1:9", 0.5, lambda: "c1", lambda: b"\x01" * 8)
    state.start(0)
    actions = state.handshake_refused("the listener requires CurveZMQ", 0.1)
    problems = [a for a in actions if isinstance(a, c.Problem)]
    assert [type(p.error) for p in problems] == [ConnectionRefused] and problems[0].level == "error"
    assert state.phase is c.Phase.WAITING and c.DestroySocket() in actions
    texts = [a.text for t in (1.0, 2.0, c.UNREACHABLE_GRACE + 1, 30.0)
             for a in state.tick(t) if isinstance(a, c.Problem)]
    assert not any("no snakezmq listener reachable" in text for text in texts)


def test_a_failed_handshake_is_named_in_the_slow_connection_warning():
    state = c.ConnectorState("tcp://127.0.0.1:9", 0.5, lambda: "c1", lambda: b"\x01" * 8)
    state.start(0)
    state.handshake_failed("the listener closed the connection during the ZeroMQ handshake")
    [problem] = state.tick(c.UNREACHABLE_GRACE)
    assert "has not completed the ZeroMQ handshake" in problem.text
    assert "listener closed the connection" in problem.text and "no snakezmq listener" not in problem.text


@pytest.mark.parametrize("event, value", [
    (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, errno.EPIPE),
    (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, errno.ECONNRESET),
    (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, curve.MISMATCH),
    (zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400),
])
def test_a_plaintext_client_is_never_told_about_its_curve_config(event, value):
    text = curve.describe_failure(event, value, listening=False, secure=False)
    assert "with a CurveConfig" not in text and "server_public_key is not" not in text
    assert "remove this side's CurveConfig" not in text


def _greet_and_hang_up(address: Any, reset: bool) -> bytes:
    """A ZeroMQ peer's greeting up to the mechanism, then a hang-up: as a plaintext client
    does when it reads CURVE first (``reset``: a reset instead, as a bare TCP connect)."""
    with socket.create_connection(address, timeout=WAIT) as sock:
        sock.sendall(ZMTP_SIGNATURE + b"\x03")
        greeting = b""
        while len(greeting) < 64:
            chunk = sock.recv(64 - len(greeting))
            if not chunk:
                break
            greeting += chunk
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return greeting


def test_the_listener_logs_a_client_that_hangs_up_on_seeing_curve(links, keys, caplog):
    """Whichever side reads the other's greeting first reports the mechanism mismatch; when it
    is the client, the listener only sees the hang-up: it must still say what happened."""
    caplog.set_level(logging.DEBUG, logger="snakezmq")
    address, _, _ = secure_server(links, keys)
    greeting = _greet_and_hang_up(address, reset=True)  # a health check: no ERROR
    assert greeting[12:17] == b"CURVE"
    links.pump_for(0.3)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    _greet_and_hang_up(address, reset=False)
    links.pump(lambda: any("another security mechanism" in r.getMessage() for r in caplog.records
                           if r.levelno == logging.ERROR), WAIT, "the listener's ERROR line")
