"""What the outbox keeps per destination: queued and in-flight messages, their ttl
bookkeeping and sequence numbers (the rules that move them are in ``_core.outbox``).

Representation: a message pushed while its destination is connected is kept bare
(``fresh``) until it is sent; only messages that need ttl bookkeeping (pushed while
away, or put back by a disconnect) get an ``Entry``. A burst of sends then costs one
object per message (the user's Message), which halves the garbage collector's work.
"""
from __future__ import annotations

import collections
from typing import Any, Deque, Iterator, List, NamedTuple, Optional


class MessageDropped(NamedTuple):
    ident: str
    message: Any


class Entry:
    """A queued message with its ttl bookkeeping and (once sent) its sequence number.

    Only messages that need the bookkeeping get one: pushed while the destination was
    away, or sent and put back after a disconnect. A message pushed while its destination
    is connected stays bare until it is sent (no allocation, no garbage collector work).
    """

    __slots__ = ("message", "ttl", "charged_at", "seq", "deadline", "restored")

    def __init__(self, message: Any, ttl: Optional[float], now: float, seq: int = 0) -> None:
        self.message = message
        self.restored = False  #: loaded from storage by a restarted sender
        self.ttl = ttl  #: remaining seconds as of ``charged_at`` (None: never expires)
        self.charged_at = now
        self.seq = seq  #: 0 = not sent yet; -1 = dropped
        self.deadline = 0.0  #: when it expires, while its destination is away

    def __lt__(self, other: "Entry") -> bool:
        # Entries are their own expiry-heap items: no tuple, float and counter per message.
        return self.deadline < other.deadline

    def remaining(self, now: float, away_since: Optional[float]) -> Optional[float]:
        if self.ttl is None or away_since is None:
            return self.ttl
        return self.ttl - (now - max(self.charged_at, away_since))


class Taken:
    """What ``take_sendable`` moved in flight, by column: ``messages[i]`` has sequence number
    ``seqs[i]`` and remaining ttl ``ttls[i]`` (frozen while the destination is connected)."""

    __slots__ = ("seqs", "messages", "ttls")

    def __init__(self) -> None:
        self.seqs: List[int] = []
        self.messages: List[Any] = []
        self.ttls: List[Optional[float]] = []

    def __len__(self) -> int:
        return len(self.seqs)


class PeerQueue:
    """What is queued for, and in flight to, one destination ident.

    Queued messages are ``pending`` (Entries, in front) then ``fresh`` (bare messages pushed
    while connected; their remaining ttl is their own ``ttl``). In flight, ``inflight`` holds
    bare messages and the Entries of resent ones, ``inflight_seqs`` their sequence numbers.
    """

    def __init__(self, ident: str, now: float, epoch: int = 1) -> None:
        self.ident = ident
        self.epoch = epoch  #: names this queue's stream of sequence numbers
        self.acked_upto = 0  #: acks processed up to this sequence number
        self.restored = 0  #: restored messages neither acknowledged nor dropped
        self.pending: Deque[Entry] = collections.deque()
        self.fresh: Deque[Any] = collections.deque()
        self.inflight: Deque[Any] = collections.deque()
        self.inflight_seqs: Deque[int] = collections.deque()
        self.inflight_entries = 0  #: how many of ``inflight`` are Entries (resent messages)
        self.inflight_bytes = 0
        self.away_since: Optional[float] = now  #: None while connected
        self.next_seq = 1
        self.expiry: List[Entry] = []  #: heap by deadline, only while away
        self.dropped_in_pending = 0
        self.waiting_reported = False  #: "nobody with this ident is connected" was reported

    def __len__(self) -> int:
        return len(self.pending) - self.dropped_in_pending + len(self.fresh) + len(self.inflight)

    def queued(self) -> int:
        """Messages not sent yet (dropped ones included while the destination is away)."""
        return len(self.pending) + len(self.fresh)

    def messages(self) -> Iterator[Any]:
        yield from map(message_of, self.inflight)
        for entry in self.pending:
            if entry.seq >= 0:
                yield entry.message
        yield from self.fresh


def message_of(item: Any) -> Any:
    """The message of an in-flight item (a bare message, or a resent message's Entry)."""
    return item.message if type(item) is Entry else item


def data_sizes(messages: List[Any]) -> List[int]:
    return [len(message.data) for message in messages]


def entry_sizes(entries: List[Entry]) -> List[int]:
    return [len(entry.message.data) for entry in entries]
