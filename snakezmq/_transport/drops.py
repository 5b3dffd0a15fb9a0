"""Dropped connections and failed handshakes, as socket monitors report them (``_core.drops`` decides).

``DropWatch``, for a Listener and a Connector alike: whether the loop kept reading (only
then may a DISCONNECTED be libzmq cutting a peer off), and the handshake failures' words
and rate limit. ``ListenerDrops``: a ROUTER's monitor, whose DISCONNECTED does not say
which peer went: every session is PINGed (a sweep), and the cut waits for the session
that turns out gone.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional, Protocol

import zmq

from .._core.drops import Hangup, LoopStalls, PendingCuts, cut_report, cut_while_sending
from .._core.liveness import Sweeps
from .._core.sessions import SessionTable
from ..exceptions import ConnectionRefused
from . import curve, sockets
from .monitor import ConnectionMonitor
from .peer_io import Sink

log = logging.getLogger("snakezmq.link")


class DropWatch:
    """One socket's loop stalls and handshake failures (``endpoint``: what the lines name)."""

    def __init__(self, endpoint: str, sink: Sink) -> None:
        self.endpoint = endpoint
        self.sink = sink
        self.stalls = LoopStalls(time.monotonic(), sockets.QUIET_CLOSE_AFTER)
        self.failures = curve.failure_limit()

    def passed(self, now: float) -> None:
        """The loop pass that began (after its poll) at ``now`` is at its end."""
        self.stalls.passed(now, time.monotonic())

    def smooth(self, now: float) -> bool:
        """True: the loop kept reading lately (``LoopStalls.smooth``), this pass included."""
        return self.stalls.smooth(now, time.monotonic())

    def listener_failure(self, event: int, value: int) -> None:
        """A failed handshake: say why (rate-limited). A bare TCP connection is not worth a line."""
        if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL and not curve.peer_hung_up(event, value):
            return
        if curve.peer_hung_up(event, value):  # reported as the mismatch the peer saw
            event, value = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, curve.MISMATCH
        curve.log_failure(self.failures, (event, value), "%s: %s" % (
            self.endpoint, curve.describe_failure(event, value, listening=True)),
            curve.failure_level(event, value))

    def connector_failure(self, event: int, value: int, secure: bool,
                          failed: Callable[[str], None]) -> Optional[str]:
        """ZMTP/CURVE handshake failure (``secure``: this side uses CurveZMQ). A refusal (key,
        mechanism, wrong server key) is returned, for an ERROR and ``on_error(ConnectionRefused)``
        and a retry with a growing interval. Else ``failed(text)``, then: a listener that hangs
        up on a plaintext connector's greeting (it most likely requires CURVE) is an ERROR and
        ``on_error`` too, but libzmq retries as usual (a service that hangs up on everyone may
        take the next one). Others: a rate-limited WARNING."""
        text = curve.describe_failure(event, value, listening=False, secure=secure)
        if curve.refused(event, value, secure):
            return text
        failed(text)
        if curve.peer_hung_up(event, value):  # likely a CURVE listener; libzmq retries as usual
            self.sink._problem("error", "%s: %s" % (self.endpoint, text), ConnectionRefused(text, self.endpoint))
            return None
        level, tail = self.failures.level((event, value), logging.WARNING, time.monotonic())
        if level == logging.DEBUG:
            log.debug("%s: %s", self.endpoint, text)
        else:
            self.sink._problem("warning", "%s: %s%s" % (self.endpoint, text, tail))
        return None


class DropHost(Protocol):
    """What ListenerDrops needs of its Listener."""

    endpoint: str
    sink: Sink
    sessions: SessionTable
    monitor: ConnectionMonitor
    limit: int

    def ping(self, rid: bytes, now: float) -> bool:
        """PING ``rid``; False (and its session soon ended) when its connection is gone."""


class ListenerDrops:
    """A listener's monitor events: connections accepted and dropped, failed handshakes."""

    def __init__(self, host: DropHost) -> None:
        self.host = host
        self.watch = DropWatch(host.endpoint, host.sink)
        self.sweeps = Sweeps()
        self.cuts = PendingCuts()

    def on_monitor(self, now: float) -> None:
        monitor = self.host.monitor
        swept = False
        while True:
            next_event = monitor.next_event()
            if next_event is None:
                return
            event, value = next_event
            if event == zmq.EVENT_ACCEPTED:
                monitor.opened(value)
            elif event == zmq.EVENT_DISCONNECTED:
                hangup, remote = monitor.dropped(value)
                if hangup is not None and hangup is not Hangup.PEER and self.watch.smooth(now):
                    self.cuts.add(remote, hangup, now)  # for the session the sweep finds gone
                self.sweeps.dropped(now)  # and once more a moment later (libzmq frees the id late)
                if not swept:
                    swept = True
                    self.sweep(now)
            else:
                self.watch.listener_failure(event, value)

    def sweep(self, now: float) -> None:
        """Some peer's connection ended and ZeroMQ does not say which: PING every session;
        the ones whose routing id is gone end at once."""
        for session in self.host.sessions:
            self.host.ping(session.rid, now)

    def tick(self, now: float) -> None:
        """The follow-up sweep, when due."""
        if self.sweeps.due(now):
            self.sweep(now)

    def next_deadline(self) -> float:
        return self.sweeps.next_deadline()

    def report_cut(self, rid: bytes, now: float) -> None:
        """WARNING and on_error if libzmq cut this session's peer off while it was sending."""
        if not self.cuts:
            return
        session = self.host.sessions.by_rid(rid)
        if session is None:
            return
        hangup = self.cuts.match(session.peer_address, now)
        if cut_while_sending(hangup, now - session.liveness.last_heard, sockets.QUIET_CLOSE_AFTER):
            text, error = cut_report(self.host.endpoint, session.peer_address, session.conn_id,
                                     self.host.limit)
            self.host.sink._problem("warning", text, error, session.conn_id)
