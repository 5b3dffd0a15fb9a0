"""CurveZMQ plumbing: the process's ZAP handler, the listener's key/ident checks, handshake failures.

ZeroMQ has one ZAP endpoint per context (``inproc://zeromq.zap.01``) and snakezmq
uses one context per process, so one pyzmq ``ThreadAuthenticator`` serves every
secure listener of every Link. Each ``CurveConfig`` has its own ZAP domain, and
the authenticator's curve callback asks the config of that domain whether a key
is allowed. The authenticator thread starts with the first secure listener and
is stopped (and joined) when the last one closes (``del_listener`` / ``cleanup``).

The ZAP User-Id is pyzmq's default: the client's public key in Z85. The listener
looks the ident binding up in its own config, so two listeners with different
allowlists in one process never mix, and log lines can name the key.
"""
from __future__ import annotations

import errno
import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from .._core import ratelimit
from . import sockets

log = logging.getLogger("snakezmq.link")
START_RETRY = 2.0  #: seconds to wait for a just-stopped authenticator's endpoint to be released
REPEAT_AFTER = 60.0  #: the same failure is logged at ERROR at most this often


def log_failure(limit: ratelimit.RateLimit, key: Any, text: str, level: int = logging.ERROR) -> None:
    """Log a security failure at ``level``; the same ``key`` at most once a minute (else DEBUG)."""
    at, tail = limit.level(key, level, time.monotonic())
    log.log(at, "%s%s", text, tail)


def failure_limit() -> ratelimit.RateLimit:
    """One line per kind of failure per ``REPEAT_AFTER`` seconds; the repeats are counted."""
    return ratelimit.RateLimit(REPEAT_AFTER, burst=1)


def has_curve() -> bool:
    """Whether this libzmq was built with CURVE support."""
    return bool(zmq.has("curve"))


def z85_key(key: bytes) -> Optional[bytes]:
    """A CURVE key as 40 bytes of Z85 text (``zmq.auth``'s format); None if ``key`` is none."""
    if len(key) == 32:
        return z85.encode(key)
    if len(key) == 40:
        try:
            if len(z85.decode(key)) == 32:
                return key
        except (ValueError, KeyError, TypeError):
            pass
    return None


def load_certificate(path: str) -> Tuple[bytes, Optional[bytes]]:
    """``(public key, secret key or None)`` from a file written by ``zmq.auth.create_certificates``."""
    public, secret = zmq.auth.load_certificate(path)
    return public, secret


def create_certificate(directory: str, name: str) -> Tuple[str, str]:
    """Write ``directory/name.key`` and ``name.key_secret`` (``zmq.auth.create_certificates``);
    returns their paths."""
    public, secret = zmq.auth.create_certificates(directory, name)
    return str(public), str(secret)


def short_key(key: Any) -> str:
    """The first 8 characters of a key's Z85 text, for log lines."""
    if not key:
        return "(no key)"
    text = key.decode("ascii", "replace") if isinstance(key, bytes) else str(key)
    return text[:8] + "..."


# -- the ZAP handler --------------------------------------------------------------------


class _Domain:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.users = 0
        self.endpoints: List[str] = []


class _ZapService:
    """The process's ZAP handler and the configs it answers for (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._auth: Optional[ThreadAuthenticator] = None
        self._domains: Dict[str, _Domain] = {}
        self._denied = failure_limit()

    def acquire(self, config: Any) -> None:
        with self._lock:
            if self._auth is None:
                self._auth = _start_authenticator()
            domain = self._domains.get(config.zap_domain)
            if domain is None:
                domain = self._domains[config.zap_domain] = _Domain(config)
                # pyzmq's dict of providers only grows while this authenticator runs:
                # removing an entry could race with its thread.
                self._auth.configure_curve_callback(config.zap_domain, self)
            domain.users += 1

    def bound(self, config: Any, endpoint: str) -> None:
        with self._lock:
            self._domains[config.zap_domain].endpoints.append(endpoint)

    def release(self, config: Any, endpoint: Optional[str]) -> None:
        with self._lock:
            domain = self._domains.get(config.zap_domain)
            if domain is None:
                return
            domain.users -= 1
            if endpoint in domain.endpoints:
                domain.endpoints.remove(endpoint)
            if domain.users <= 0:
                del self._domains[config.zap_domain]
            auth = self._auth if not self._domains else None
            if auth is not None:
                self._auth = None
        if auth is not None:
            auth.stop()  # joins the thread

    def running(self) -> bool:
        with self._lock:
            return self._auth is not None and self._auth.is_alive()

    def callback(self, domain_name: str, key: bytes) -> bool:
        """pyzmq's curve callback (runs in the authenticator thread; never raises)."""
        try:
            with self._lock:  # (also guards _denied: a stopping and a new authenticator may overlap)
                domain = self._domains.get(domain_name)
                if domain is not None and domain.config.allows_key(key):
                    return True
                where = ", ".join(domain.endpoints) if domain is not None else ""
                log_failure(self._denied, (domain_name, key), "%s: refused a client with CURVE key "
                            "%s: not in the listener's allowed client keys; it gets nothing through"
                            % (where or "listener", short_key(key)))
        except Exception:  # an exception would kill the authenticator thread
            log.exception("ZAP callback failed; refusing the client")
        return False


def _start_authenticator() -> ThreadAuthenticator:
    deadline = time.monotonic() + START_RETRY
    while True:
        auth = ThreadAuthenticator(sockets.context())
        try:
            auth.start()
            return auth
        except zmq.ZMQError as exc:
            if auth.zap_socket is not None:
                auth.zap_socket.close(linger=0)
            if exc.errno != errno.EADDRINUSE:
                raise
            if time.monotonic() > deadline:
                raise RuntimeError("cannot start snakezmq's ZAP authenticator: another ZAP handler "
                                   "(a zmq.auth authenticator?) already runs on the process's "
                                   "ZeroMQ context (zmq.Context.instance())") from exc
        time.sleep(0.002)  # a just-stopped authenticator's inproc endpoint is released asynchronously


ZAP = _ZapService()


# -- the listener's checks ----------------------------------------------------------------


def user_id(frame: Any) -> Optional[str]:
    """The ZAP User-Id (client key, Z85) of a received frame; None when there is none."""
    try:
        return frame.get("User-Id") or None
    except (zmq.ZMQError, AttributeError, TypeError):
        return None


class CurveGuard:
    """A secure listener's share of the ZAP handler, and its ident-to-key checks."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.endpoint: Optional[str] = None
        self._session_keys: Dict[bytes, Optional[str]] = {}  # routing id -> key of its session
        ZAP.acquire(config)

    def bound(self, endpoint: str) -> None:
        self.endpoint = endpoint
        ZAP.bound(self.config, endpoint)

    def close(self) -> None:
        if self.config is not None:
            ZAP.release(self.config, self.endpoint)
            self.config = None

    def refusal(self, frame: Any, ident: Optional[str]) -> Optional[Tuple[str, str]]:
        """None if the frame's key may use ``ident``; else (text for the peer, key for the log)."""
        key = user_id(frame)
        text = self.config.ident_refusal(key, ident)
        return None if text is None else (text, key or "")

    def session_started(self, rid: bytes, frame: Any) -> None:
        self._session_keys[rid] = user_id(frame)

    def session_ended(self, rid: bytes) -> None:
        self._session_keys.pop(rid, None)

    def same_key(self, rid: bytes, frame: Any) -> bool:
        """False when ``rid`` has a session and this frame came with another key (a stranger)."""
        if rid not in self._session_keys:
            return True
        return self._session_keys[rid] == user_id(frame)


# -- handshake failures seen by socket monitors ---------------------------------------------

MISMATCH = getattr(zmq, "PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH", 0x11000002)
_CRYPTO = getattr(zmq, "PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC", 0x11000001)


def failure_level(event: int, value: int) -> int:
    """ERROR for security failures (key refused, mechanism mismatch, decryption); else WARNING."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH or value in (MISMATCH, _CRYPTO):
        return logging.ERROR
    return logging.WARNING


def peer_hung_up(event: int, value: int) -> bool:
    """A ZeroMQ peer closed the connection in the middle of the greeting (end of stream).

    A peer that saw a security mechanism it does not speak hangs up like this, and
    often before this side read its greeting (then this side gets no mismatch event:
    whichever side reads the other's greeting first reports the mismatch). A bare TCP
    connection (a health check) is reset instead (ECONNRESET): not this."""
    return event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL and value == errno.EPIPE


def refused(event: int, value: int, secure: bool) -> bool:
    """Whether a connector's failed handshake is a refusal that retrying will not fix: a
    refused key, a security mechanism mismatch, or (with CurveZMQ) a listener that hangs up
    during the CURVE handshake, which it does for a wrong server public key."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH or value in (MISMATCH, _CRYPTO):
        return True
    return secure and event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


def describe_failure(event: int, value: int, listening: bool, secure: bool = False) -> str:
    """Why a ZMTP handshake failed, in words (monitor event and value); ``secure``: this side
    uses CurveZMQ."""
    if listening:
        return _listener_failure(event, value)
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return ("the listener refused this side's CURVE key (ZAP status %d): add this key's public "
                "certificate to the listener's allowed clients" % value)
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == MISMATCH:
        if secure:
            return ("the listener does not use CurveZMQ (it is plaintext): remove this side's "
                    "CurveConfig, or give the listener one")
        return ("the listener requires CurveZMQ: this side needs a CurveConfig with its own keys "
                "and the listener's public key (server_public_key)")
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == _CRYPTO:
        return "the CURVE handshake failed to decrypt: is server_public_key the listener's key?"
    if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        if secure:
            return ("the listener closed the connection during the CURVE handshake (errno %d): "
                    "most likely server_public_key is not the listener's public key" % value)
        return ("the listener closed the connection during the ZeroMQ handshake (errno %d): it may "
                "require CurveZMQ (this side has no CurveConfig), or it is not a ZeroMQ service" % value)
    return "connection handshake failed (ZeroMQ monitor event %d, value %#x)" % (event, value)


def _listener_failure(event: int, value: int) -> str:
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return "a client's CURVE key is not allowed (ZAP status %d); it was refused" % value
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == MISMATCH:
        return ("a client connected with another security mechanism than this listener "
                "(no CURVE key, or CURVE to a plaintext listener); it was refused")
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == _CRYPTO:
        return ("a client's CURVE handshake failed to decrypt: it uses a wrong server public "
                "key (or sent corrupt data); it was refused")
    return "connection handshake failed (ZeroMQ monitor event %d, value %#x)" % (event, value)
