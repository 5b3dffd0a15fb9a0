"""What a receiver has delivered from each sender, so a message is handed up once.

Theory of operation:
- Rule 1, streams: a sender numbers the messages it queues for one receiver in a
  *stream*, named ``(sender incarnation, epoch)``. A stream never restarts its
  numbers: a sender that forgets an empty queue starts a new epoch, a restarted
  sender a new incarnation. Within a stream the receiver delivers each number once.
- Rule 2, resume: after a reconnect the receiver tells the sender which of its
  streams it knows and how far it delivered (RESUME); the sender counts those
  messages as sent and resends only the rest. So duplicates are avoided by asking,
  not by guessing from a record that may have been evicted.
- Rule 3, confirmation: a sender reports how far it has processed acks
  (``confirmed``) and whether it still holds messages restored from storage
  (``restoring``). A record is *dirty* while the sender may not know all that was
  delivered (``delivered > confirmed``) or may resend persistent messages delivered
  under an earlier stream (``carried``). Dirty records are never evicted; clean ones
  of disconnected senders are, oldest first, beyond ``max_clean``. That is the whole
  bound: one record per sender ident, plus at most a window of uuids while dirty.
- Rule 4, restarts: a sender that restarts resends its persistent messages from
  storage under a new stream. The uuids of persistent messages delivered but not
  confirmed are carried into the new stream's record and filtered out, until the
  sender says it no longer holds restored messages.
Not thread-safe: the protocol's caller holds its lock.
"""
from __future__ import annotations

import collections
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from ..message import FLAG_PERSISTENT, received_message
from .wire import MessagesPacket

MAX_CLEAN_RECORDS = 10000  #: records of disconnected senders kept although nothing depends on them

Stream = Tuple[bytes, int]  #: (sender incarnation, epoch)


class StreamRecord:
    """One sender ident's current stream as this receiver knows it."""

    __slots__ = ("stream", "delivered", "confirmed", "unconfirmed", "carried", "connected")

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.delivered = 0  #: highest sequence number handed to the application
        self.confirmed = 0  #: the sender has processed acks up to here
        #: persistent messages delivered above ``confirmed``: (seq, uuid), in seq order
        self.unconfirmed: Deque[Tuple[int, bytes]] = collections.deque()
        #: uuids of persistent messages delivered under earlier streams, maybe still stored
        self.carried: Set[bytes] = set()
        self.connected = True

    def dirty(self) -> bool:
        return self.delivered > self.confirmed or bool(self.carried)

    def confirm(self, confirmed: int, restoring: bool) -> None:
        """The sender's report: acks processed up to ``confirmed``; ``restoring``: it
        still holds messages restored from storage."""
        if confirmed > self.confirmed:
            self.confirmed = min(confirmed, self.delivered)
            unconfirmed = self.unconfirmed
            while unconfirmed and unconfirmed[0][0] <= self.confirmed:
                unconfirmed.popleft()
        if not restoring and self.carried:
            self.carried = set()


class DeliveredLog:
    """Per sender ident: the record of its current stream."""

    def __init__(self, max_clean: int = MAX_CLEAN_RECORDS) -> None:
        self.records: Dict[str, StreamRecord] = {}
        #: clean records of disconnected senders, oldest first (the only evictable ones)
        self.evictable: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        self.max_clean = max_clean

    def known(self, ident: str) -> Optional[Tuple[Stream, int]]:
        """``(stream, delivered)`` of ``ident``'s record, for RESUME (None: no record)."""
        record = self.records.get(ident)
        return None if record is None else (record.stream, record.delivered)

    def begin(self, ident: str, stream: Stream, confirmed: int, restoring: bool) -> StreamRecord:
        """``ident`` connected and said its stream to us is ``stream``: its record (a new one
        if the stream changed, carrying what an earlier stream may resend)."""
        self.evictable.pop(ident, None)
        record = self.records.get(ident)
        if record is None or record.stream != stream:
            new = StreamRecord(stream)
            if record is not None:
                new.carried = record.carried
                new.carried.update(uuid for _, uuid in record.unconfirmed)
            record = self.records[ident] = new
        record.connected = True
        record.confirm(confirmed, restoring)
        return record

    def disconnected(self, ident: str) -> None:
        record = self.records.get(ident)
        if record is None:
            return
        record.connected = False
        if not record.dirty():
            self.evictable[ident] = None
        while len(self.evictable) > self.max_clean:
            oldest, _ = self.evictable.popitem(last=False)
            del self.records[oldest]

    def sizes(self) -> Tuple[int, int]:
        """(records, uuids held): what the bounded-memory tests watch."""
        uuids = sum(len(r.unconfirmed) + len(r.carried) for r in self.records.values())
        return len(self.records), uuids


def accept(record: StreamRecord, batch: MessagesPacket) -> List[Any]:
    """The messages of ``batch`` to hand to the application (those not delivered before);
    the record moves past the whole batch."""
    count = len(batch.uuids)
    start = first_new(record, batch.first_seq, count)
    if start >= count:
        return []
    uuids, flags = batch.uuids, batch.flags
    indexes: Any = range(start, count)
    if any(map(FLAG_PERSISTENT.__and__, flags)):
        if record.carried:
            indexes = [index for index in filter_carried(record, uuids, flags, FLAG_PERSISTENT)
                       if index >= start]
        record.unconfirmed.extend((batch.first_seq + index, uuids[index]) for index in indexes
                                  if flags[index] & FLAG_PERSISTENT)
    record.delivered = batch.first_seq + count - 1
    if type(indexes) is range and start == 0:  # (the usual case: no Python loop per message)
        return list(map(received_message, batch.datas, batch.ttls, flags, uuids))
    return [received_message(batch.datas[i], batch.ttls[i], flags[i], uuids[i]) for i in indexes]


def first_new(record: StreamRecord, first_seq: int, count: int) -> int:
    """Index of the first of ``count`` messages numbered from ``first_seq`` not delivered
    before (``count``: all were)."""
    return min(count, max(0, record.delivered + 1 - first_seq))


def filter_carried(record: StreamRecord, uuids: List[bytes], flags: List[int],
                   persistent_flag: int) -> List[int]:
    """Indexes of the messages to deliver: all but persistent ones carried from an earlier stream."""
    carried = record.carried
    return [index for index, (uuid, flag) in enumerate(zip(uuids, flags))
            if not (flag & persistent_flag and uuid in carried)]
