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
- Rule 5, streams: each queue numbers its messages in a stream of its own, named by
  its ``epoch`` (unique within the Outbox). A queue that is forgotten and made again
  gets a new epoch, so sequence numbers never restart within a stream a receiver
  may remember (see ``_core.delivered``). ``acked_upto`` is how far the queue has
  processed acks, and ``restored`` counts messages restored from storage that are
  neither acknowledged nor dropped: both are reported to the receiver.
Representation: see ``_core.peer_queue``.
Not thread-safe: the caller (Messaging) holds its lock.
"""
from __future__ import annotations

import bisect
import collections
import heapq
import itertools
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from .peer_queue import Entry, MessageDropped, PeerQueue, Taken, data_sizes, entry_sizes, message_of

WINDOW = 16384  #: messages in flight per destination
WINDOW_BYTES = 32 * 1024 * 1024  #: payload bytes in flight per destination (a larger message goes alone)


class Outbox:
    """All destinations' queues."""

    def __init__(self, window: int = WINDOW, window_bytes: int = WINDOW_BYTES) -> None:
        self.window = window
        self.window_bytes = window_bytes
        self.queues: Dict[str, PeerQueue] = {}
        self.epochs = 0  #: epochs handed out so far
        #: connected idents with messages waiting to be sent (the only ones a flush visits)
        self.sendable: Set[str] = set()

    def queue(self, ident: str, now: float) -> PeerQueue:
        queue = self.queues.get(ident)
        if queue is None:
            self.epochs += 1
            queue = self.queues[ident] = PeerQueue(ident, now, self.epochs)
        return queue

    def push(self, ident: str, message: Any, now: float) -> List[MessageDropped]:
        """Queue ``message``; a ttl <= 0 message for an absent peer is dropped at once."""
        queue = self.queues.get(ident)
        if queue is None:
            queue = self.queue(ident, now)
        if queue.away_since is None:
            queue.fresh.append(message)
            self.sendable.add(ident)
            return []
        ttl = message.ttl
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

    def restore(self, ident: str, message: Any, now: float) -> List[MessageDropped]:
        """Queue ``message`` loaded from storage by a restarted sender (its destination is
        away: nothing is connected yet). Counted in ``restored`` until acked or dropped."""
        queue = self.queue(ident, now)
        if queue.away_since is None:
            raise ValueError("restore() is for a destination that is not connected")
        dropped = self.push(ident, message, now)
        if not dropped:
            queue.pending[-1].restored = True
            queue.restored += 1
        return dropped

    def resume(self, ident: str, delivered: Optional[int]) -> List[Any]:
        """The receiver knows this queue's stream and delivered up to ``delivered`` (None: it
        does not know the stream, so everything unacknowledged goes again). Returns the
        messages now known sent; call before ``peer_connected``."""
        queue = self.queues.get(ident)
        if queue is None or delivered is None:
            return []
        delivered = min(delivered, queue.next_seq - 1)
        queue.acked_upto = max(queue.acked_upto, delivered)
        sent = []
        pending = queue.pending
        while pending and pending[0].seq != 0 and pending[0].seq <= delivered:
            entry = pending.popleft()
            if entry.seq < 0:
                queue.dropped_in_pending -= 1
                continue
            entry.seq = -1  # (no longer queued: an expiry heap still holding it skips it)
            queue.restored -= entry.restored
            sent.append(entry.message)
        return sent

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
        resent = [item if type(item) is Entry else Entry(item, item.ttl, now, seq)
                  for item, seq in zip(queue.inflight, queue.inflight_seqs)]
        queue.pending.extendleft(reversed(resent))
        queue.pending.extend(Entry(message, message.ttl, now) for message in queue.fresh)
        queue.fresh.clear()
        queue.inflight.clear()
        queue.inflight_seqs.clear()
        queue.inflight_entries = queue.inflight_bytes = 0
        queue.away_since = now
        self.sendable.discard(ident)
        for entry in queue.pending:
            entry.charged_at = now
            if entry.ttl is not None and entry.seq >= 0:
                entry.deadline = now + entry.ttl
                queue.expiry.append(entry)
        heapq.heapify(queue.expiry)
        return self.expire_queue(queue, now)

    def take_sendable(self, ident: str) -> Taken:
        """What may go out now (window permitting), in order, moved in flight."""
        taken = Taken()
        queue = self.queues.get(ident)
        if queue is None or queue.away_since is not None or not (queue.pending or queue.fresh):
            self.sendable.discard(ident)
            return taken
        if queue.pending:
            if queue.dropped_in_pending:
                self._take_one_by_one(queue, taken)
            else:
                self._take_entries(queue, taken)
        if not queue.pending and queue.fresh:
            self._take_fresh(queue, taken)
        if not queue.pending and not queue.fresh:
            self.sendable.discard(ident)
        return taken

    def _fitting(self, queue: PeerQueue, sizes: List[int]) -> int:
        """How many of the next messages (of ``sizes`` bytes) fit the window's bytes."""
        if queue.inflight_bytes + sum(sizes) <= self.window_bytes:
            return len(sizes)
        fits = bisect.bisect_right(list(itertools.accumulate(sizes)),
                                   self.window_bytes - queue.inflight_bytes)
        return fits or (0 if queue.inflight else 1)  # a message larger than the window goes alone

    def _pop_fitting(self, queue: PeerQueue, source: Deque[Any],
                     sizes_of: Callable[[List[Any]], List[int]]) -> Tuple[List[Any], List[int]]:
        """The next items of ``source`` that the window takes, popped in one batch, and
        their sizes (what does not fit is put back)."""
        popleft = source.popleft
        items = [popleft() for _ in range(min(self.window - len(queue.inflight), len(source)))]
        sizes = sizes_of(items)
        fits = self._fitting(queue, sizes)
        if fits < len(items):
            source.extendleft(reversed(items[fits:]))
            del items[fits:], sizes[fits:]
        return items, sizes

    def _take_fresh(self, queue: PeerQueue, taken: Taken) -> None:
        """take_sendable's fast path for bare messages: numbered in one go."""
        messages, sizes = self._pop_fitting(queue, queue.fresh, data_sizes)
        seqs = range(queue.next_seq, queue.next_seq + len(messages))
        queue.next_seq = seqs.stop
        queue.inflight.extend(messages)
        queue.inflight_seqs.extend(seqs)
        queue.inflight_bytes += sum(sizes)
        taken.seqs += seqs
        taken.messages += messages
        taken.ttls += [message.ttl for message in messages]

    def _take_entries(self, queue: PeerQueue, taken: Taken) -> None:
        """take_sendable's fast path for pending entries with no dropped ones among them."""
        entries, sizes = self._pop_fitting(queue, queue.pending, entry_sizes)
        next_seq = queue.next_seq
        for entry in entries:
            if not entry.seq:  # a resent entry keeps its number
                entry.seq = next_seq
                next_seq += 1
        queue.next_seq = next_seq
        seqs = [entry.seq for entry in entries]
        queue.inflight.extend(entries)
        queue.inflight_seqs.extend(seqs)
        queue.inflight_entries += len(entries)
        queue.inflight_bytes += sum(sizes)
        taken.seqs += seqs
        taken.messages += [entry.message for entry in entries]
        taken.ttls += [entry.ttl for entry in entries]

    def _take_one_by_one(self, queue: PeerQueue, taken: Taken, fresh_too: bool = False) -> None:
        """take_sendable's general path: pending entries (skipping dropped ones), then
        ``fresh_too``: bare messages, one at a time (the fast path must take the same)."""
        while len(queue.inflight) < self.window:
            entry: Optional[Entry] = None
            if queue.pending:
                entry = queue.pending[0]
                message = entry.message
            elif fresh_too and queue.fresh:
                message = queue.fresh[0]
            else:
                return
            if (entry is None or entry.seq >= 0) and queue.inflight and \
                    queue.inflight_bytes + len(message.data) > self.window_bytes:
                return  # a message larger than the window still goes out alone
            if entry is None:
                queue.fresh.popleft()
                seq, ttl, item = queue.next_seq, message.ttl, message
                queue.next_seq += 1
            else:
                queue.pending.popleft()
                if entry.seq < 0:
                    queue.dropped_in_pending -= 1
                    continue
                if entry.seq == 0:
                    entry.seq = queue.next_seq
                    queue.next_seq += 1
                seq, ttl, item = entry.seq, entry.ttl, entry
                queue.inflight_entries += 1
            queue.inflight.append(item)
            queue.inflight_seqs.append(seq)
            queue.inflight_bytes += len(message.data)
            taken.seqs.append(seq)
            taken.messages.append(message)
            taken.ttls.append(ttl)

    def drop_in_flight(self, ident: str, seq: int) -> List[MessageDropped]:
        """Give up on the message in flight as ``seq`` that cannot be sent (the receiver
        skips its sequence number: acks count across such gaps)."""
        queue = self.queues.get(ident)
        if queue is None or seq not in queue.inflight_seqs:
            return []
        index = queue.inflight_seqs.index(seq)
        item = queue.inflight[index]
        del queue.inflight[index]
        del queue.inflight_seqs[index]
        if type(item) is Entry:
            queue.inflight_entries -= 1
            queue.restored -= item.restored
            item.seq = -1
        message = message_of(item)
        queue.inflight_bytes -= len(message.data)
        return [MessageDropped(ident, message)]

    def acknowledge(self, ident: str, upto_seq: int) -> List[Any]:
        """The peer has every message up to ``upto_seq``: returns those messages, now sent."""
        queue = self.queues.get(ident)
        if queue is None:
            return []
        if upto_seq > queue.acked_upto:
            queue.acked_upto = min(upto_seq, queue.next_seq - 1)
        if not queue.inflight_seqs or queue.inflight_seqs[0] > upto_seq:
            return []
        seqs = queue.inflight_seqs
        count = min(upto_seq - seqs[0] + 1, len(seqs))  # if the seqs are consecutive
        if seqs[count - 1] > upto_seq:  # gaps: messages that expired while away
            count = sum(1 for seq in itertools.islice(seqs, count) if seq <= upto_seq)
        popleft, pop_seq = queue.inflight.popleft, seqs.popleft
        sent = [popleft() for _ in range(count)]
        for _ in range(count):
            pop_seq()
        if queue.inflight_entries:  # resent messages: unwrap their Entries
            entries = [item for item in sent if type(item) is Entry]
            queue.inflight_entries -= len(entries)
            queue.restored -= sum(entry.restored for entry in entries)
            sent = list(map(message_of, sent))
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
                queue.restored -= entry.restored
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
        if queue is not None and not (queue.pending or queue.fresh or queue.inflight) \
                and queue.away_since is not None:
            del self.queues[ident]
            self.sendable.discard(ident)

    def _compact(self, queue: PeerQueue, force: bool = False) -> None:
        """Remove dropped entries from the deque once they are many (bounded memory)."""
        if queue.dropped_in_pending and (force or queue.dropped_in_pending * 2 > len(queue.pending)):
            queue.pending = collections.deque(e for e in queue.pending if e.seq >= 0)
            queue.dropped_in_pending = 0
