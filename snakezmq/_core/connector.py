"""The life of one connector (DEALER): connect, HELLO, probe, session, retry.

Theory of operation:
- Phases: WAITING (no socket; ``retry_at`` says when to make one), CONNECTING
  (socket connecting; libzmq retries by itself), HELLO_SENT, PROBING (no
  WELCOME came: ask the listener through a probe socket why), ESTABLISHED.
- Every input returns a list of actions; the I/O shell performs them in order.
- Nothing here is silent: a refused, unanswered or unreachable connector
  yields a ``Problem`` the shell logs (and reports to ``on_error`` if
  ``report``), rate-limited so a dead listener is not a log flood.
Times are float seconds on a monotonic clock, passed in by the caller.
"""
from __future__ import annotations

import enum
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

from ..exceptions import (ConnectionRefused, DuplicateIdent, SnakeMQException,
                          SnakeMQIncompatibleProtocol)
from .drops import Hangup, cut_report, cut_while_sending
from .liveness import DataAge, Liveness, Verdict, unknown
from .wire import LINK_VERSION

HELLO_TIMEOUT = 1.0  #: no WELCOME this long after HELLO: probe
PROBE_TIMEOUT = 3.0  #: no PROBED this long: the listener is not answering us
PROBE_WAIT_RETRY = 1.0  #: after PROBED "wait", probe again this much later
UNREACHABLE_GRACE = 5.0  #: warn when no connection came up for this long
UNREACHABLE_REPEAT = 60.0  #: and repeat the warning this often
MAX_REFUSED_BACKOFF = 30.0
Action = Tuple[Any, ...]  #: one of the NamedTuples below


class Phase(enum.Enum):
    WAITING = "waiting"
    CONNECTING = "connecting"
    HELLO_SENT = "hello sent"
    PROBING = "probing"
    ESTABLISHED = "established"


class CreateSocket(NamedTuple):
    pass


class DestroySocket(NamedTuple):
    pass


class SendHello(NamedTuple):
    nonce: bytes


class SendPing(NamedTuple):
    pass


class SendBye(NamedTuple):
    pass


class OpenProbe(NamedTuple):
    nonce: bytes


class CloseProbe(NamedTuple):
    pass


class Connected(NamedTuple):
    conn_id: str


class Disconnected(NamedTuple):
    conn_id: str


class Problem(NamedTuple):
    """Something the user must hear about: logged at ``level``; ``error`` goes to on_error."""
    level: str
    text: str
    error: Optional[SnakeMQException] = None
    conn_id: Optional[str] = None  #: the connection it concerns, if any


class ConnectorState:
    """One connector's phase and timers."""

    def __init__(self, endpoint: str, reconnect_interval: float,
                 new_conn_id: Callable[[], str], new_nonce: Callable[[], bytes]) -> None:
        self.endpoint = endpoint
        self.reconnect_interval = reconnect_interval
        self._new_conn_id = new_conn_id
        self._new_nonce = new_nonce
        self.phase = Phase.WAITING
        self.conn_id: Optional[str] = None
        self.nonce = b""
        self.retry_at = 0.0
        self.deadline = 0.0  #: hello or probe deadline
        self.connecting_since = 0.0
        self.next_unreachable_warning = 0.0
        self.refusals = 0
        self.liveness: Optional[Liveness] = None
        self.last_failure: Optional[str] = None  #: why the last handshake failed (until one works)

    def start(self, now: float) -> List[Action]:
        self.phase = Phase.CONNECTING
        self.connecting_since = now
        self.next_unreachable_warning = now + UNREACHABLE_GRACE
        return [CreateSocket()]

    def transport_up(self, now: float) -> List[Action]:
        """The socket monitor saw a completed ZMTP handshake: say HELLO."""
        if self.phase is not Phase.CONNECTING:
            return []
        return self._send_hello(now)

    def transport_down(self, now: float, hangup: Optional[Hangup] = None, limit: int = -1,
                       heartbeat_timeout: float = 0.0, peer: str = "") -> List[Action]:
        """The TCP connection dropped; libzmq reconnects the same socket by itself.

        ``hangup``: what the shell saw of the dropped connection (None: nothing); a live
        listener that libzmq cut off while it was sending (over ``limit``, this side's
        ZMQ_MAXMSGSIZE, or broken framing) is a WARNING and on_error (``_core.drops``;
        ``heartbeat_timeout``: see ``drops.cut_while_sending``, 0 to never report).
        """
        actions: List[Action] = []
        if self.phase is Phase.ESTABLISHED and self.liveness is not None and cut_while_sending(
                hangup, now - self.liveness.last_heard, heartbeat_timeout):
            text, error = cut_report(self.endpoint, peer, self.conn_id, limit)
            actions.append(Problem("warning", text, error, self.conn_id))
        actions += self._end_session()
        if self.phase is Phase.PROBING:
            actions.append(CloseProbe())
        if self.phase is not Phase.WAITING:
            self._enter_connecting(now)
        return actions

    def welcome(self, nonce: bytes, now: float, version: int = LINK_VERSION) -> List[Action]:
        """The listener's WELCOME: the session starts, unless it speaks another link version."""
        if self.phase not in (Phase.HELLO_SENT, Phase.PROBING) or nonce != self.nonce:
            return []
        actions: List[Action] = [CloseProbe()] if self.phase is Phase.PROBING else []
        if version != LINK_VERSION:
            error = SnakeMQIncompatibleProtocol(
                "%s speaks snakezmq link protocol version %d, this side speaks %d: run compatible "
                "snakezmq versions on both sides" % (self.endpoint, version, LINK_VERSION))
            problem = Problem("error", "%s; retrying with a growing interval" % error, error)
            return actions + [SendBye(), problem] + self._restart_refused(now)
        self.phase = Phase.ESTABLISHED
        self.refusals = 0
        self.last_failure = None
        self.conn_id = self._new_conn_id()
        self.liveness = Liveness(now)
        return actions + [Connected(self.conn_id)]

    def heard(self, now: float) -> None:
        if self.liveness is not None:
            self.liveness.heard(now)

    def bye(self, now: float) -> List[Action]:
        """The listener closed our session: reconnect after reconnect_interval, as snakemq does."""
        return self._end_session() + self._restart_later(now, self.reconnect_interval)

    def reset(self, now: float) -> List[Action]:
        """The listener has no session for us (it ended ours): start a new one."""
        phase = self.phase
        actions = self._end_session()
        if phase in (Phase.ESTABLISHED, Phase.HELLO_SENT):
            actions += self._send_hello(now)
        return actions

    def close(self, now: float) -> List[Action]:
        """User ``close(conn_id)``: say BYE, drop the socket, reconnect later."""
        actions: List[Action] = [SendBye()] if self.phase is Phase.ESTABLISHED else []
        return actions + self._end_session() + self._restart_later(now, self.reconnect_interval)

    def refused(self, code: str, text: str, now: float) -> List[Action]:
        problem = Problem("error", "%s refused the connection (%s): %s" % (self.endpoint, code, text),
                          ConnectionRefused("%s: %s" % (code, text), self.endpoint))
        probe: List[Action] = [CloseProbe()] if self.phase is Phase.PROBING else []
        return probe + self._end_session() + [problem] + self._restart_refused(now)

    def handshake_refused(self, text: str, now: float) -> List[Action]:
        """The ZMTP/CURVE handshake failed in a way retrying will not fix (a refused key, a
        security mechanism mismatch): report it, retry with a growing interval."""
        error = ConnectionRefused(text, self.endpoint)
        problem = Problem("error", "%s; retrying with a growing interval" % error, error)
        self.last_failure = text
        probe: List[Action] = [CloseProbe()] if self.phase is Phase.PROBING else []
        return probe + self._end_session() + [problem] + self._restart_refused(now)

    def handshake_failed(self, text: str) -> None:
        """Another handshake failure (libzmq retries): the listener is there, so the warning
        after ``UNREACHABLE_GRACE`` says what failed instead of "no listener reachable"."""
        self.last_failure = text

    def probed(self, status: str, text: str, ident: str, now: float, local: str = "") -> List[Action]:
        """The listener's answer to our PROBE; ``local``: this side's address, for the report."""
        if self.phase is not Phase.PROBING:
            return []
        if status == "retry":
            # A fresh connection gets identified; the parked one never would.
            self._enter_connecting(now)
            return [CloseProbe(), DestroySocket(), CreateSocket()]
        if status == "wait":
            self.phase = Phase.HELLO_SENT
            self.deadline = now + PROBE_WAIT_RETRY
            return [CloseProbe()]
        if local and local not in text:
            text += " (this side is %s)" % local
        error = DuplicateIdent(ident, "at %s: %s" % (self.endpoint, text))
        return [CloseProbe(), Problem("error", str(error), error)] + self._restart_refused(now)

    def tick(self, now: float, data_age: DataAge = unknown) -> List[Action]:
        """Timers: reconnect, hello/probe timeouts, warnings, liveness (``data_age``: when TCP
        data from the listener last arrived, asked only when a liveness verdict is due)."""
        phase = self.phase
        if phase is Phase.WAITING:
            return self.start(now) if now >= self.retry_at else []
        if phase is Phase.CONNECTING:
            return self._warn_unreachable(now)
        if phase is Phase.HELLO_SENT and now >= self.deadline:
            self.phase = Phase.PROBING
            self.deadline = now + PROBE_TIMEOUT
            return [OpenProbe(self.nonce)]
        if phase is Phase.PROBING and now >= self.deadline:
            text = ("%s accepted the connection but does not answer the snakezmq handshake "
                    "(is it a snakezmq listener of the same version? is it frozen?); reconnecting"
                    % self.endpoint)
            self._enter_connecting(now)
            return [CloseProbe(), Problem("warning", text), DestroySocket(), CreateSocket()]
        if phase is Phase.ESTABLISHED and self.liveness is not None:
            verdict = self.liveness.check(now, data_age)
            if verdict is Verdict.PING:
                return [SendPing()]
            if verdict is Verdict.DEAD:
                text = "%s stopped answering; reconnecting" % self.endpoint
                actions = self._end_session() + [Problem("warning", text), DestroySocket()]
                self._enter_connecting(now)
                return actions + [CreateSocket()]
        return []

    def next_deadline(self) -> float:
        phase = self.phase
        if phase is Phase.WAITING:
            return self.retry_at
        if phase is Phase.CONNECTING:
            return self.next_unreachable_warning
        if phase is Phase.ESTABLISHED and self.liveness is not None:
            return self.liveness.next_deadline()
        return self.deadline

    def _send_hello(self, now: float) -> List[Action]:
        self.phase = Phase.HELLO_SENT
        self.nonce = self._new_nonce()
        self.deadline = now + HELLO_TIMEOUT
        return [SendHello(self.nonce)]

    def _enter_connecting(self, now: float) -> None:
        self.phase = Phase.CONNECTING
        self.connecting_since = now
        self.next_unreachable_warning = now + UNREACHABLE_GRACE

    def _warn_unreachable(self, now: float) -> List[Action]:
        if now < self.next_unreachable_warning:
            return []
        self.next_unreachable_warning = now + UNREACHABLE_REPEAT
        if self.last_failure is not None:
            return [Problem("warning", "the listener at %s has not completed the ZeroMQ handshake "
                            "for %.0f s (last failure: %s); still retrying" % (
                                self.endpoint, now - self.connecting_since, self.last_failure))]
        return [Problem("warning", "no snakezmq listener reachable at %s for %.0f s; still retrying "
                        "(check the address, and that the listener is running)"
                        % (self.endpoint, now - self.connecting_since))]

    def _end_session(self) -> List[Action]:
        if self.phase is not Phase.ESTABLISHED or self.conn_id is None:
            return []
        conn_id, self.conn_id, self.liveness = self.conn_id, None, None
        self.phase = Phase.CONNECTING
        return [Disconnected(conn_id)]

    def _restart_later(self, now: float, delay: float) -> List[Action]:
        actions: List[Action] = [CloseProbe()] if self.phase is Phase.PROBING else []
        self.phase = Phase.WAITING
        self.retry_at = now + delay
        return actions + [DestroySocket()]

    def _restart_refused(self, now: float) -> List[Action]:
        self.refusals += 1
        delay = min(max(self.reconnect_interval, 1.0) * 2 ** (self.refusals - 1), MAX_REFUSED_BACKOFF)
        self.phase = Phase.WAITING
        self.retry_at = now + delay
        return [DestroySocket()]
