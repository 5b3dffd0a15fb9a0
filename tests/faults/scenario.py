"""One fault scenario: a listener process in namespace ``a``, a connector in ``b``, numbered
streams between them through the public Messaging API (tests/integration/peer.py), faults on
the link, and the delivery contract checked at the end.

Every peer event carries its ``time.monotonic()`` (the clock is system-wide), so detection and
reconnect times are measured from the moment the test applied a fault or healed it.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..integration.delivery import Received, runs, stats, wait_until
from .netns import ADDRESSES, NetPair

PORT = 7450  #: inside our own namespace: no other listener can hold it
LISTENER, CONNECTOR = "lst", "con"  #: idents; the listener runs in side a, the connector in b
DETECT_BOUND = 8.0  #: a silent peer is noticed this long after the fault began (README)
RECONNECT_BOUND = 5.0  #: sessions are back this long after the heal (README)
DRAIN_TIMEOUT = 30.0  #: after the last fault, everything is acknowledged within this
MAX_RUNTIME = 300  #: a peer never outlives a stuck test by more than this


class Stream(NamedTuple):
    sender: str  #: ident
    receiver: str
    n: int
    rate: float  #: messages per second
    size: int = 100


class Outcome(NamedTuple):
    """What one scenario measured (the soak sums these up)."""
    messages: int
    faults: int
    lost: int
    duplicates: int
    detection: Optional[float]  #: worst time from a fault to on_disconnect (None: none expected)
    reconnect: Optional[float]  #: worst time from a heal to on_connect on both sides
    disconnects: int = 0  #: on_disconnect calls, both sides


class Scenario:
    """Two peer processes across ``net`` and what happened between them."""

    def __init__(self, net: NetPair, peers: Callable[..., Any],
                 reconnect_interval: Optional[float] = None) -> None:
        self.net = net
        self._start_peer = peers
        self.reconnect_interval = reconnect_interval
        #: (interval, wait) of both peers' Messaging keepalive (None: off), set before ``start``
        self.keepalive: Optional[Tuple[float, float]] = None
        self.peer: Dict[str, Any] = {}  #: ident: its current process
        self.started: List[Any] = []
        self.faults = 0
        self.fault_at: Optional[float] = None
        self.streams: List[Stream] = []
        self.detections: List[float] = []
        self.reconnects: List[float] = []

    # -- processes ---------------------------------------------------------------------

    def start(self) -> "Scenario":
        """Both peers up and connected on the Messaging layer."""
        self.start_listener()
        self.start_connector()
        self.wait_connected(since=0.0)
        return self

    def start_listener(self) -> Any:
        self.peer[LISTENER] = self._peer("a", "--ident", LISTENER,
                                         "--listen", "%s:%d" % (ADDRESSES["a"], PORT))
        self.peer[LISTENER].wait_event("ready", timeout=20)
        return self.peer[LISTENER]

    def start_connector(self) -> Any:
        args = ["--ident", CONNECTOR, "--connect", "%s:%d" % (ADDRESSES["a"], PORT)]
        if self.reconnect_interval is not None:
            args += ["--reconnect-interval", str(self.reconnect_interval)]
        self.peer[CONNECTOR] = self._peer("b", *args)
        return self.peer[CONNECTOR]

    def _peer(self, side: str, *args: str) -> Any:
        if self.keepalive is not None:
            args += ("--keepalive", "%s,%s" % self.keepalive)
        peer = self._start_peer(*args, "--recv-summary", "--max-runtime", str(MAX_RUNTIME),
                                prefix=self.net.prefix(side))
        self.started.append(peer)
        return peer

    def close(self) -> None:
        """Kill and reap every process this scenario started."""
        for peer in self.started:
            peer.close()

    def other(self, ident: str) -> str:
        return CONNECTOR if ident == LISTENER else LISTENER

    def alive(self) -> List[Any]:
        return [peer for peer in self.peer.values() if peer.alive()]

    def wait_connected(self, since: float, timeout: float = 20.0) -> float:
        """Until both sides have a Messaging on_connect after ``since``; returns the later time."""
        def connected_at() -> Optional[float]:
            times = [self._first(ident, "connect", since) for ident in self.peer]
            return max(times) if None not in times else None  # type: ignore[type-var]
        return float(wait_until(connected_at, timeout, "both sides to connect", watch=self.alive()))

    def _first(self, ident: str, kind: str, since: float) -> Optional[float]:
        events = self.peer[ident].of(kind)
        times = [e["t"] for e in events if e["t"] >= since and e.get("ident") == self.other(ident)]
        return min(times) if times else None

    # -- traffic ---------------------------------------------------------------------------

    def stream(self, sender: str, n: int, rate: float, size: int = 100) -> Stream:
        """``sender`` sends ``n`` numbered messages (ttl None) to the other side, paced."""
        stream = Stream(sender, self.other(sender), n, rate, size)
        self.peer[sender].command(cmd="send_many", to=stream.receiver, n=n, rate=rate, size=size,
                                  ttl=None, report_every=max(1, min(100, n // 10)))
        self.streams.append(stream)
        return stream

    def received(self, stream: Stream) -> List[int]:
        return Received(self.peer[stream.receiver]).of(stream.sender)

    def wait_received(self, stream: Stream, count: int, timeout: float = 20.0) -> None:
        wait_until(lambda: len(self.received(stream)) >= count, timeout,
                   "%s to receive %d from %s" % (stream.receiver, count, stream.sender),
                   watch=self.alive())

    # -- faults ---------------------------------------------------------------------------------

    def fault(self, apply: Callable[[], None]) -> float:
        """Apply a fault now; returns when."""
        apply()
        self.faults += 1
        self.fault_at = time.monotonic()
        return self.fault_at

    def heal(self, undo: Optional[Callable[[], None]] = None) -> float:
        (undo or self.net.heal)()
        return time.monotonic()

    def hold(self, seconds: float) -> None:
        """Let a fault last ``seconds`` (a schedule, not a synchronisation), watching the peers."""
        until = time.monotonic() + seconds
        wait_until(lambda: time.monotonic() >= until, seconds + 5, "the fault to last %.1f s"
                   % seconds, watch=self.alive())

    def wait_noticed(self, idents: Sequence[str] = (LISTENER, CONNECTOR)) -> float:
        """Until each of ``idents`` had on_disconnect since the fault; returns the worst delay."""
        assert self.fault_at is not None
        since = self.fault_at

        def worst() -> Optional[float]:
            times = [self._first(ident, "disconnect", since) for ident in idents]
            return max(times) - since if None not in times else None  # type: ignore[type-var]
        delay = float(wait_until(worst, DETECT_BOUND + 10, "on_disconnect on %s" % ", ".join(idents),
                                 watch=[self.peer[i] for i in idents]))
        self.detections.append(delay)
        assert delay <= DETECT_BOUND, "the peer loss was noticed after %.1f s" % delay
        return delay

    def wait_reconnected(self, healed_at: float) -> float:
        delay = self.wait_connected(healed_at, timeout=RECONNECT_BOUND + 15) - healed_at
        self.reconnects.append(delay)
        assert delay <= RECONNECT_BOUND, "reconnected %.1f s after the heal" % delay
        return delay

    def disconnects(self, since: float = 0.0) -> List[Dict[str, Any]]:
        return [e for peer in self.peer.values() for e in peer.of("disconnect") if e["t"] >= since]

    # -- the delivery contract ---------------------------------------------------------------

    def check_acked_arrived(self) -> None:
        """on_message_sent only for what arrived: no sender saw more acknowledged than received."""
        for stream in self.streams:
            acked = int(stats(self.peer[stream.sender]).get("acked", {}).get(stream.receiver, 0))
            got = len(self.received(stream))  # read after the sender's count
            assert acked <= got, "%s saw %d acknowledged, %s had received %d" % (
                stream.sender, acked, stream.receiver, got)

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Until every stream arrived and was acknowledged."""
        for stream in self.streams:  # the last one arrived (a restarted receiver: only the tail)
            wait_until(lambda s=stream: (self.received(s) or [-1])[-1] == s.n - 1, timeout,
                       "%s to receive all %d from %s" % (stream.receiver, stream.n, stream.sender),
                       watch=self.alive())
            wait_until(lambda s=stream: self._acked(s) >= s.n, timeout,
                       "%s to see all %d acknowledged" % (stream.sender, stream.n), watch=self.alive())

    def _acked(self, stream: Stream) -> int:
        return int(stats(self.peer[stream.sender]).get("acked", {}).get(stream.receiver, 0))

    def outcome(self) -> Outcome:
        """Counts over every stream (call after ``drain``)."""
        lost = duplicates = 0
        for stream in self.streams:
            seqs = self.received(stream)
            lost += len(set(range(stream.n)) - set(seqs))
            duplicates += len(seqs) - len(set(seqs))
        return Outcome(sum(s.n for s in self.streams), self.faults, lost, duplicates,
                       max(self.detections, default=None), max(self.reconnects, default=None),
                       len(self.disconnects()))

    def assert_contract(self) -> Outcome:
        """Everything arrived exactly once, in order; acknowledged exactly once; no errors."""
        self.drain()
        for stream in self.streams:
            seqs = self.received(stream)
            assert seqs == list(range(stream.n)), "%s -> %s: %d of %d, got %s" % (
                stream.sender, stream.receiver, len(seqs), stream.n, runs(seqs))
            acked = self._acked(stream)
            assert acked == stream.n, "%s saw %d on_message_sent for %d messages" % (
                stream.sender, acked, stream.n)
        for ident, peer in self.peer.items():
            assert not peer.of("error"), "%s: %s" % (ident, peer.of("error"))
        return self.outcome()
