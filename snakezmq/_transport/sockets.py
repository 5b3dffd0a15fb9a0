"""Create and configure snakezmq's ZeroMQ sockets: every socket option lives here."""
from __future__ import annotations

import errno
import os
import time
from typing import Any, Optional, Union, cast

import zmq

SNDHWM = 100000  # the outbox window bounds what is in flight; this only caps raw Link use
BYE_LINGER_MS = 300  # long enough to flush a BYE, short enough not to hold a dead peer
CONNECT_TIMEOUT_MS = 2000  # a connect attempt lives this long (see make_dealer)
#: _core.drops reports a cut only for a peer heard within this (less 1 s). libzmq closes no
#: silent connection by itself (no ZMTP heartbeats); the value is the former heartbeat timeout.
QUIET_CLOSE_AFTER = 4.0
# CONNECTED / ACCEPTED carry the new connection's descriptor (monitor.ConnectionMonitor).
MONITORED_DEALER = (zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
# HANDSHAKE_FAILED_NO_DETAIL on listeners too: a client that saw CURVE when it has no key (or the
# reverse) hangs up, often before the listener read its greeting (the listener then only sees
# this event, with EPIPE). Every bare TCP connect (a health check) makes one too, with ECONNRESET:
# the listener ignores those (curve.peer_hung_up).
MONITORED_ROUTER = (zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


def context() -> zmq.Context[zmq.Socket[Any]]:
    """The process-wide context (pyzmq's pattern), so inproc:// works between Links."""
    return zmq.Context.instance()


def _common(sock: zmq.Socket[Any]) -> None:
    # No ZMTP heartbeats (ZMQ_HEARTBEAT_IVL): in libzmq 4.3.5 their timer can call
    # out_event on a connection with _io_error set and abort the process (issues 4364,
    # 4841). Link PING/PONG detects dead peers; the listener ends a silent peer's TCP
    # connection itself (HeldConnections.shut). docs/protocol.md, "Liveness".
    sock.sndhwm = SNDHWM
    sock.linger = 0


def make_router(security: Optional[object] = None) -> zmq.Socket[Any]:
    sock = context().socket(zmq.ROUTER)
    _common(sock)
    # Without ROUTER_MANDATORY a send to an unknown routing id is dropped silently.
    sock.router_mandatory = 1
    # No ROUTER_HANDOVER: a second connection with a live routing id must not
    # silently cut off the first (libzmq issue 4503); the PROBE handshake reports it.
    if security is not None:
        _curve_server(sock, security)
    return sock


def make_dealer(routing_id: bytes, reconnect_interval: float,
                security: Optional[object] = None) -> zmq.Socket[Any]:
    sock = context().socket(zmq.DEALER)
    _common(sock)
    sock.routing_id = routing_id
    # Not IMMEDIATE: with it, libzmq throws away what the DEALER received and the
    # application has not read yet when the connection drops (a listener that sent and
    # closed lost its last packets). Frames queued while the connection is down go out
    # before the next HELLO: the listener gives them to the old session or answers RESET,
    # never to the new session (docs/protocol.md, "Session handshake").
    sock.immediate = 0
    # libzmq adds a random delay of up to one more interval to each retry: halve
    # it so retries come on average every reconnect_interval, at most 1x apart.
    sock.reconnect_ivl = max(1, int(reconnect_interval * 500))
    # A connect attempt whose SYNs are lost (a partition) would otherwise wait for the
    # kernel's SYN backoff (1, 2, 4, 8... s): give up and retry, so a healed network is
    # found within seconds.
    sock.connect_timeout = CONNECT_TIMEOUT_MS
    if security is not None:
        _curve_client(sock, security)
    return sock


def _curve_server(sock: zmq.Socket[Any], config: Any) -> None:
    """A ``security.CurveConfig``'s keys on a listener; clients are checked by ZAP (``curve``)."""
    sock.curve_server = True
    sock.curve_publickey = config.public_key
    sock.curve_secretkey = config.secret_key
    sock.zap_domain = config.zap_domain.encode()


def _curve_client(sock: zmq.Socket[Any], config: Any) -> None:
    if config.server_public_key is None:
        raise ValueError("a connector's CurveConfig needs server_public_key")
    sock.curve_serverkey = config.server_public_key
    sock.curve_publickey = config.public_key
    sock.curve_secretkey = config.secret_key


def random_routing_id(prefix: bytes) -> bytes:
    """A routing id nobody else uses (ids starting with a zero byte are libzmq's own)."""
    return prefix + os.urandom(8).hex().encode()


BIND_RETRY_SECONDS = 1.0


def bind(sock: zmq.Socket[Any], endpoint: str) -> str:
    """Bind and return the real endpoint (port 0 / ``*`` resolved).

    A port released by a socket closed an instant ago is freed by libzmq's I/O
    thread slightly later, so EADDRINUSE is retried briefly (snakemq re-binds at once).
    """
    deadline = time.monotonic() + BIND_RETRY_SECONDS
    while True:
        try:
            sock.bind(endpoint)
            break
        except zmq.ZMQError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    last = cast(Union[bytes, str], sock.last_endpoint)  # pyzmq types options as bytes | str | int
    return last.decode() if isinstance(last, bytes) else last

