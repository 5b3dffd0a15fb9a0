"""Helpers for the delivery tests: what a ``--recv-summary`` peer received, and waiting on it.

Payloads are numbered by ``peer.py``'s ``send_many`` (``b"%010d" % seq``), so a
received message is identified by (sender ident, seq). Not a test module.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

N_MESSAGES = 20000


class Received:
    """The numbered messages one peer process reported (``got`` lines), per sender, in arrival order."""

    def __init__(self, peer: Any) -> None:
        self.peer = peer
        self.seqs: Dict[str, List[int]] = {}
        self._seen = 0

    def update(self) -> "Received":
        events = self.peer.drain()
        for event in events[self._seen:]:
            if event["event"] == "got":
                seqs = self.seqs.setdefault(event["ident"], [])
                for first, last in event["ranges"]:
                    seqs.extend(range(first, last + 1))
        self._seen = len(events)
        return self

    def of(self, ident: str) -> List[int]:
        self.update()
        return self.seqs.get(ident, [])

    def count(self, ident: str) -> int:
        return len(self.of(ident))

    def last(self, ident: str) -> int:
        seqs = self.of(ident)
        return seqs[-1] if seqs else -1


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               watch: Iterable[Any] = (), links: Any = None) -> Any:
    """Poll ``condition`` until it is true; fail at the deadline or when a watched peer died.

    ``links``: a ``Links`` tracker whose loops run while waiting (instead of a short sleep).
    """
    watch = list(watch)
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for peer in watch:
            if not peer.alive():
                raise AssertionError("peer %s exited (%s) while waiting for %s; stderr:\n%s"
                                     % (peer.proc.args[3:], peer.proc.returncode, what, peer.stderr()))
        if time.monotonic() > deadline:
            stderr = "".join("\n--- %s:\n%s" % (p.proc.args[3:], p.stderr()) for p in watch)
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (timeout, what, stderr))
        if links and links.live:
            for link in links.live:
                link.loop(poll_timeout=0.01, runtime=0.01)
        else:
            time.sleep(0.01)


def ready_address(peer: Any, timeout: float = 10.0) -> str:
    """``host:port`` of the peer's first listener."""
    ready = peer.wait_event("ready", timeout=timeout)
    host, port = ready["listeners"][0]
    return "%s:%d" % (host, port)


def stats(peer: Any, timeout: float = 10.0, links: Any = ()) -> Dict[str, Any]:
    """Ask the peer for a ``stats`` line and return it (running ``links`` meanwhile)."""
    before = len(peer.of("stats"))
    peer.command(cmd="stats")
    return peer.wait_for(lambda events: peer.of("stats")[before:] and peer.of("stats")[before],
                         links, timeout=timeout, what="stats")


def wait_acknowledged(sender: Any, ident: str, timeout: float = 10.0, links: Any = ()) -> None:
    """Until the sender has nothing queued or in flight for ``ident`` (everything acknowledged)."""
    wait_until(lambda: stats(sender, links=links).get("queued", {}).get(ident, 0) == 0, timeout,
               "the sender to have every message to %r acknowledged" % ident, watch=[sender],
               links=links)


def runs(seqs: Sequence[int]) -> str:
    """Compact text of a seq list for assertion messages: ``0-4999, 4100-19999``."""
    parts: List[str] = []
    start: Optional[int] = None
    prev: Optional[int] = None
    for seq in seqs:
        if prev is not None and seq == prev + 1:
            prev = seq
            continue
        if start is not None:
            parts.append("%d-%d" % (start, prev) if start != prev else "%d" % start)
        start = prev = seq
    if start is not None:
        parts.append("%d-%d" % (start, prev) if start != prev else "%d" % start)
    if len(parts) > 20:
        parts = parts[:10] + ["..."] + parts[-10:]
    return ", ".join(parts)


def assert_exactly_once_in_order(seqs: Sequence[int], first: int, count: int) -> None:
    assert list(seqs) == list(range(first, first + count)), (
        "expected %d-%d exactly once in order, got %d messages: %s"
        % (first, first + count - 1, len(seqs), runs(seqs)))


def acked_by_dead_peer(sender: Any, ident: str, timeout: float = 10.0) -> int:
    """How many messages to ``ident`` the sender saw acknowledged, once it noticed ``ident`` is gone."""
    sender.wait_event("disconnect", timeout=timeout, ident=ident)
    return int(stats(sender).get("acked", {}).get(ident, 0))


def assert_receiver_crash_contract(before: Sequence[int], after: Sequence[int], n: int,
                                   window: int, acked: Optional[int] = None) -> int:
    """Delivery across one receiver crash: nothing lost, in order, duplicates only the
    unacknowledged tail of what the killed process had received (at most one window).

    ``before``: what the killed process reported; ``after``: what the restarted one did;
    ``acked``: how many the sender had seen acknowledged by the killed process (then the
    duplicates must be exactly the messages it received but had not acknowledged).
    Returns the number of duplicates.
    """
    assert list(before) == list(range(len(before))), "before the crash: %s" % runs(before)
    assert after, "the restarted receiver got nothing (the killed one got %s)" % runs(before)
    resumed_at = after[0]
    assert list(after) == list(range(resumed_at, n)), (
        "after the restart: %s (the killed process got %s)" % (runs(after), runs(before)))
    assert resumed_at <= len(before), (
        "messages %d-%d were lost (the killed process got %s, the restarted one %s)"
        % (len(before), resumed_at - 1, runs(before), runs(after)))
    duplicates = len(before) - resumed_at
    assert duplicates <= window, (
        "%d messages delivered twice, more than one window (%d)" % (duplicates, window))
    if acked is not None:
        assert acked <= len(before), (
            "the sender saw %d acknowledged, the killed receiver reported only %d"
            % (acked, len(before)))
        assert resumed_at == acked, (
            "the killed receiver had acknowledged %d and received %d; the restarted one "
            "started at %d" % (acked, len(before), resumed_at))
    return duplicates
