"""Why libzmq dropped a connection, when its socket monitor only says DISCONNECTED.

libzmq closes a connection whose peer sends a message over ``ZMQ_MAXMSGSIZE``
(or breaks ZMTP framing) and reports a bare ``EVENT_DISCONNECTED``, exactly as
for a peer that hung up. The transport keeps a duplicate of each connection's
descriptor, so after libzmq's close it can still look at the connection
(``_transport.monitor.ConnectionMonitor``) and tell us one ``Hangup``:

- ``PEER``: the peer hung up (end of stream or reset): it closed or its process died.
- ``MID_MESSAGE``: libzmq closed while the peer's bytes were still unread: it
  stopped reading in the middle of the stream, which it does for a message over
  the limit (the rest of that message is what is unread) or broken framing.
- ``QUIET``: libzmq closed on its own with nothing unread: a message over the limit
  whose rest libzmq had already read (or, with ZMTP heartbeats, which snakezmq no
  longer sets, a heartbeat timeout).

A cut is reported only for a peer that was heard shortly before (a live peer
answers pings every ``PING_INTERVAL``) and while the loop ran smoothly. Both
guards date from ZMTP heartbeats (libzmq then closed silent connections, and
connections nobody read because the loop was blocked); they stay as a margin.

Pure logic: times are float seconds on a monotonic clock, passed in by the caller.
"""
from __future__ import annotations

import enum
from typing import List, NamedTuple, Optional, Tuple

from ..exceptions import MessageSizeExceeded, SnakeMQException, WireError

STALL = 1.0  #: a loop pass or a gap between passes this long counts as a stalled loop
MATCH_WINDOW = 8.0  #: a cut waits this long for the listener to find the session it ended
MAX_PENDING = 64  #: cuts waiting for their session, at most


class Hangup(enum.Enum):
    PEER = "the peer hung up"
    MID_MESSAGE = "closed by libzmq with the peer's data unread"
    QUIET = "closed by libzmq with nothing unread"


def cut_while_sending(hangup: Optional[Hangup], silent_for: float, heartbeat_timeout: float) -> bool:
    """True: libzmq cut a live peer off (over the size limit, or broken framing).

    ``silent_for``: seconds since the peer was last heard; ``heartbeat_timeout``: a peer
    silent this long, less 1 s, is not reported (``sockets.QUIET_CLOSE_AFTER``).
    """
    if hangup is None or hangup is Hangup.PEER:
        return False
    return silent_for < heartbeat_timeout - 1.0


def cut_report(where: str, peer: str, conn_id: Optional[str], limit: int) -> Tuple[str, SnakeMQException]:
    """The WARNING text and the on_error exception for a peer libzmq cut off.

    ``limit``: ZMQ_MAXMSGSIZE of the socket (-1: none, so only broken framing cuts).
    """
    conn = " (conn %s)" % conn_id if conn_id is not None else ""
    if limit < 0:
        error: SnakeMQException = WireError(
            "ZeroMQ cut off the peer at %s while it was sending: it broke ZeroMQ's framing" % (peer or "?"))
        return "%s: %s%s" % (where, error, conn), error
    error = MessageSizeExceeded(limit, peer)
    return "%s: %s%s" % (where, error, conn), error


class PendingCut(NamedTuple):
    peer: str  #: "ip:port" as this side saw it ("" if unknown)
    hangup: Hangup
    until: float


def host_of(address: str) -> str:
    """"1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1", "1.2.3.4" -> "1.2.3.4"."""
    if address.startswith("["):
        return address[1:address.find("]")] if "]" in address else address
    host, sep, port = address.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else address


class PendingCuts:
    """A listener's cuts waiting for the session they ended.

    The ROUTER's DISCONNECTED does not say which peer went; the listener finds out
    by PINGing every session (the sweep), and the session whose routing id is
    gone is the one. ``match`` pairs it with a cut by address: the same
    ``ip:port`` when the session knows its port, else the same host.
    """

    def __init__(self) -> None:
        self._pending: List[PendingCut] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, peer: str, hangup: Hangup, now: float) -> None:
        self._pending.append(PendingCut(peer, hangup, now + MATCH_WINDOW))
        del self._pending[:-MAX_PENDING]

    def match(self, session_address: str, now: float) -> Optional[Hangup]:
        """The hangup of the cut that ended the session at ``session_address`` (removed), or None."""
        self._pending = [cut for cut in self._pending if cut.until > now]
        if not self._pending:
            return None
        exact = [cut for cut in self._pending if cut.peer and cut.peer == session_address]
        host = host_of(session_address)
        same_host = [cut for cut in self._pending if host and host_of(cut.peer) == host]
        unknown = [cut for cut in self._pending if not cut.peer and not session_address]  # ipc://
        found = exact or (same_host if host == session_address else []) or unknown
        if not found:
            return None
        self._pending.remove(found[0])
        return found[0].hangup


class LoopStalls:
    """Whether the loop kept reading lately (see the module's docstring).

    libzmq stops reading a connection whose queue is full, and with ZMTP heartbeats on
    it timed it out after ``heartbeat_timeout`` although the peer was alive. That needs the loop to have read
    nothing for that long: one pass that ran ``STALL`` or longer (blocking callbacks),
    or a gap between passes of ``heartbeat_timeout - STALL`` or longer (the application
    did not run the loop; a poll that waits that long is rare and only makes us quieter).
    """

    __slots__ = ("heartbeat_timeout", "last_pass", "stalled_at")

    def __init__(self, now: float, heartbeat_timeout: float) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.last_pass = now
        self.stalled_at = float("-inf")

    def passed(self, pass_started: float, now: float) -> None:
        """A loop pass that began (after its poll) at ``pass_started`` is at its end, ``now``."""
        self._check(pass_started, now)
        self.last_pass = now

    def smooth(self, pass_started: float, now: float) -> bool:
        """True: the loop kept reading over the last heartbeat timeout, this pass included."""
        self._check(pass_started, now)
        return now - self.stalled_at > self.heartbeat_timeout + STALL

    def _check(self, pass_started: float, now: float) -> None:
        if now - pass_started >= STALL or pass_started - self.last_pass >= self.heartbeat_timeout - STALL:
            self.stalled_at = now
