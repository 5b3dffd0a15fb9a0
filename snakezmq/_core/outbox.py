"""Per-destination outgoing queues: every decision about when a message may be
sent, resent, acknowledged or dropped lives in this file.

Theory of operation (times are float seconds on a monotonic clock, passed in):
- Rule 1, TTL (snakemq's rule): a message's ttl counts down only while its
  destination is not connected. ``None`` never expires. It is charged from the
  later of its push and the start of the absence (snakemq charges from the
  absence start even for messages pushed later: a bug we do not copy).
- Rule 2, expiry: a message whose remaining ttl drops below zero while its
  destination is away is dropped when that happens (``expire(now)``), not
  only when the destination comes back. A ttl of exactly 0 is kept while
  connected (RPC requests rely on it) and expires at once while away.
- Rule 3, ownership: the outbox owns a message until the peer acknowledges it.
  Sent messages wait in ``inflight``; a disconnect puts them back at the front
  of the queue with their sequence numbers, so the receiver can skip what it
  already has.
- Rule 4, window: at most ``window`` messages (and ``window_bytes``) are in
  flight per destination, so a slow or absent peer never fills ZeroMQ queues.
Not thread-safe: the caller (Messaging) holds its lock.
"""
from __future__ import annotations

import bisect
import collections
import heapq
import itertools
from typing import Any, Deque, Dict, Iterator, List, NamedTuple, Optional, Set

WINDOW = 16384  #: messages in flight per destination
WINDOW_BYTES = 32 * 1024 * 1024  #: payload bytes in flight per destination (a larger message goes alone)


class MessageDropped(NamedTuple):
    ident: str
    message: Any


class Entry:
    """A queued message with its ttl bookkeeping and (once sent) its sequence number."""

    __slots__ = ("message", "ttl", "charged_at", "seq", "deadline")

    def __init__(self, message: Any, ttl: Optional[float], now: float) -> None:
        self.message = message
        self.ttl = ttl  #: remaining seconds as of ``charged_at`` (None: never expires)
        self.charged_at = now
        self.seq = 0  #: 0 = not sent yet; -1 = dropped
        self.deadline = 0.0  #: when it expires, while its destination is away

    def __lt__(self, other: "Entry") -> bool:
        # Entries are their own expiry-heap items: no tuple, float and counter per message.
        return self.deadline < other.deadline

    def remaining(self, now: float, away_since: Optional[float]) -> Optional[float]:
        if self.ttl is None or away_since is None:
            return self.ttl
        return self.ttl - (now - max(self.charged_at, away_since))


class PeerQueue:
    """What is queued for, and in flight to, one destination ident."""

    def __init__(self, ident: str, now: float) -> None:
        self.ident = ident
        self.pending: Deque[Entry] = collections.deque()
        self.inflight: Deque[Entry] = collections.deque()
        self.inflight_bytes = 0
        self.away_since: Optional[float] = now  #: None while connected
        self.next_seq = 1
        self.expiry: List[Entry] = []  #: heap by deadline, only while away
        self.dropped_in_pending = 0
        self.waiting_reported = False  #: "nobody with this ident is connected" was reported

    def __len__(self) -> int:
        return len(self.pending) - self.dropped_in_pending + len(self.inflight)

    def messages(self) -> Iterator[Any]:
        for entry in itertools.chain(self.inflight, self.pending):
            if entry.seq >= 0:
                yield entry.message


class Outbox:
    """All destinations' queues."""

    def __init__(self, window: int = WINDOW, window_bytes: int = WINDOW_BYTES) -> None:
        self.window = window
        self.window_bytes = window_bytes
        self.queues: Dict[str, PeerQueue] = {}
        #: connected idents with messages waiting to be sent (the only ones a flush visits)
        self.sendable: Set[str] = set()

    def queue(self, ident: str, now: float) -> PeerQueue:
        queue = self.queues.get(ident)
        if queue is None:
            queue = self.queues[ident] = PeerQueue(ident, now)
        return queue

    def push(self, ident: str, message: Any, now: float) -> List[MessageDropped]:
        """Queue ``message``; a ttl <= 0 message for an absent peer is dropped at once."""
        queue = self.queues.get(ident)
        if queue is None:
            queue = self.queue(ident, now)
        ttl = message.ttl
        if queue.away_since is None:
            queue.pending.append(Entry(message, ttl, now))
            self.sendable.add(ident)
            return []
        if ttl is None:
            queue.pending.append(Entry(message, ttl, now))
            return []
        if ttl <= 0:
            return [MessageDropped(ident, message)]
        entry = Entry(message, ttl, now)
        entry.deadline = now + ttl
        queue.pending.append(entry)
        heapq.heappush(queue.expiry, entry)
        return []

    def peer_connected(self, ident: str, now: float) -> List[MessageDropped]:
        """Charge the absence to every queued ttl and drop what ran out (snakemq's order)."""
        queue = self.queue(ident, now)
        dropped = self.expire_queue(queue, now)
        for entry in queue.pending:
            if entry.ttl is not None and entry.seq >= 0:
                entry.ttl = entry.remaining(now, queue.away_since)
        queue.away_since = None
        queue.waiting_reported = False
        queue.expiry = []
        self._compact(queue, force=True)
        if queue.pending:
            self.sendable.add(ident)
        return dropped

    def peer_disconnected(self, ident: str, now: float) -> List[MessageDropped]:
        """Unacknowledged messages go back to the queue front; their ttl clocks restart."""
        queue = self.queue(ident, now)
        queue.pending.extendleft(reversed(queue.inflight))
        queue.inflight.clear()
        queue.inflight_bytes = 0
        queue.away_since = now
        self.sendable.discard(ident)
        for entry in queue.pending:
            entry.charged_at = now
            if entry.ttl is not None and entry.seq >= 0:
                entry.deadline = now + entry.ttl
                queue.expiry.append(entry)
        heapq.heapify(queue.expiry)
        return self.expire_queue(queue, now)

    def take_sendable(self, ident: str) -> List[Entry]:
        """Entries that may go out now (window permitting), in order, moved to in-flight."""
        queue = self.queues.get(ident)
        if queue is None or queue.away_since is not None or not queue.pending:
            self.sendable.discard(ident)
            return []
        taken = self._take_skipping_dropped(queue) if queue.dropped_in_pending else self._take(queue)
        if not queue.pending:
            self.sendable.discard(ident)
        return taken

    def _take(self, queue: PeerQueue) -> List[Entry]:
        """take_sendable without dropped entries in the way: in one batch."""
        room = min(self.window - len(queue.inflight), len(queue.pending))
        if room <= 0:
            return []
        popleft = queue.pending.popleft
        taken = [popleft() for _ in range(room)]
        sizes = [len(entry.message.data) for entry in taken]
        size = sum(sizes)
        if queue.inflight_bytes + size > self.window_bytes:  # keep what does not fit
            fits = bisect.bisect_right(list(itertools.accumulate(sizes)),
                                       self.window_bytes - queue.inflight_bytes)
            fits = fits or (0 if queue.inflight else 1)  # a message larger than the window goes alone
            queue.pending.extendleft(reversed(taken[fits:]))
            del taken[fits:]
            size = sum(sizes[:fits])
        next_seq = queue.next_seq
        for entry in taken:
            if not entry.seq:  # a resent entry keeps its number
                entry.seq = next_seq
                next_seq += 1
        queue.next_seq = next_seq
        queue.inflight.extend(taken)
        queue.inflight_bytes += size
        return taken

    def _take_skipping_dropped(self, queue: PeerQueue) -> List[Entry]:
        """take_sendable, one entry at a time, when dropped entries sit among the pending ones."""
        taken = []
        while queue.pending and len(queue.inflight) < self.window:
            entry = queue.pending[0]
            if entry.seq >= 0 and queue.inflight and \
                    queue.inflight_bytes + len(entry.message.data) > self.window_bytes:
                break  # a message larger than the window still goes out alone
            queue.pending.popleft()
            if entry.seq < 0:
                queue.dropped_in_pending -= 1
                continue
            if entry.seq == 0:
                entry.seq = queue.next_seq
                queue.next_seq += 1
            queue.inflight.append(entry)
            queue.inflight_bytes += len(entry.message.data)
            taken.append(entry)
        return taken

    def drop_in_flight(self, ident: str, entry: Entry) -> List[MessageDropped]:
        """Give up on a message that went in flight but cannot be sent (the receiver skips
        its sequence number: acks count across such gaps)."""
        queue = self.queues.get(ident)
        if queue is None or entry not in queue.inflight:
            return []
        queue.inflight.remove(entry)
        queue.inflight_bytes -= len(entry.message.data)
        entry.seq = -1
        return [MessageDropped(ident, entry.message)]

    def acknowledge(self, ident: str, upto_seq: int) -> List[Any]:
        """The peer has every message up to ``upto_seq``: returns those messages, now sent."""
        queue = self.queues.get(ident)
        if queue is None or not queue.inflight or queue.inflight[0].seq > upto_seq:
            return []
        inflight = queue.inflight
        count = min(upto_seq - inflight[0].seq + 1, len(inflight))  # if the seqs are consecutive
        if inflight[count - 1].seq > upto_seq:  # gaps: messages that expired while away
            count = sum(1 for entry in itertools.islice(inflight, count) if entry.seq <= upto_seq)
        popleft = inflight.popleft
        sent = [popleft().message for _ in range(count)]
        queue.inflight_bytes -= sum(map(len, [message.data for message in sent]))
        return sent

    def expire(self, now: float) -> List[MessageDropped]:
        """Drop every message whose ttl ran out while its destination is away."""
        dropped: List[MessageDropped] = []
        for queue in list(self.queues.values()):
            if queue.expiry and queue.expiry[0].deadline < now:
                dropped += self.expire_queue(queue, now)
        return dropped

    def expire_queue(self, queue: PeerQueue, now: float) -> List[MessageDropped]:
        dropped = []
        heap = queue.expiry
        while heap and heap[0].deadline < now:
            entry = heapq.heappop(heap)
            if entry.seq >= 0:
                entry.seq = -1
                queue.dropped_in_pending += 1
                dropped.append(MessageDropped(queue.ident, entry.message))
        self._compact(queue)
        return dropped

    def unclaimed(self, now: float, grace: float) -> List[str]:
        """Idents that have had messages waiting for ``grace`` seconds with no peer connected.

        Each ident is reported once per absence (the seed article's mis-paired
        deployment: messages for an ident nobody uses, and no error anywhere).
        """
        found = []
        for queue in self.queues.values():
            if (not queue.waiting_reported and queue.away_since is not None
                    and now - queue.away_since >= grace and len(queue)):
                queue.waiting_reported = True
                found.append(queue.ident)
        return found

    def next_deadline(self) -> float:
        return min((q.expiry[0].deadline for q in self.queues.values() if q.expiry),
                   default=float("inf"))

    def ttl_now(self, entry: Entry, ident: str, now: float) -> Optional[float]:
        queue = self.queues.get(ident)
        return entry.remaining(now, queue.away_since if queue else None)

    def forget_empty(self, ident: str) -> None:
        queue = self.queues.get(ident)
        if queue is not None and not queue.pending and not queue.inflight and queue.away_since is not None:
            del self.queues[ident]
            self.sendable.discard(ident)

    def _compact(self, queue: PeerQueue, force: bool = False) -> None:
        """Remove dropped entries from the deque once they are many (bounded memory)."""
        if queue.dropped_in_pending and (force or queue.dropped_in_pending * 2 > len(queue.pending)):
            queue.pending = collections.deque(e for e in queue.pending if e.seq >= 0)
            queue.dropped_in_pending = 0
