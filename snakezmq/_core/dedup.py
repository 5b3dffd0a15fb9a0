"""What a receiver already delivered, so a message is handed to the user once.

Two bounded records: the highest sequence number delivered per sender (for the
sender's current incarnation), and the uuids of recent persistent messages
(a restarted sender resends those with new sequence numbers).
"""
from __future__ import annotations

import collections
from typing import Dict, Tuple

MAX_SENDERS = 10000
MAX_PERSISTENT_UUIDS = 65536


class DeliveredLog:
    def __init__(self, max_senders: int = MAX_SENDERS,
                 max_uuids: int = MAX_PERSISTENT_UUIDS) -> None:
        self._last_seq: "collections.OrderedDict[str, Tuple[bytes, int]]" = collections.OrderedDict()
        self._uuids: "collections.OrderedDict[bytes, None]" = collections.OrderedDict()
        self._max_senders = max_senders
        self._max_uuids = max_uuids

    def last_seq(self, ident: str, incarnation: bytes) -> int:
        """Highest seq delivered from this sender incarnation (0: none)."""
        record = self._last_seq.get(ident)
        if record is None or record[0] != incarnation:
            return 0
        return record[1]

    def record(self, ident: str, incarnation: bytes, seq: int) -> None:
        """Everything up to ``seq`` from this sender incarnation has been delivered."""
        self._last_seq[ident] = (incarnation, seq)
        self._last_seq.move_to_end(ident)
        if len(self._last_seq) > self._max_senders:
            self._last_seq.popitem(last=False)

    def first_time_persistent(self, uuid: bytes) -> bool:
        """True (and remembered) the first time this persistent message's uuid is seen."""
        if uuid in self._uuids:
            return False
        self._uuids[uuid] = None
        if len(self._uuids) > self._max_uuids:
            self._uuids.popitem(last=False)
        return True

    def is_new(self, ident: str, incarnation: bytes, seq: int, uuid: bytes, persistent: bool) -> bool:
        """True (and recorded) the first time; False for anything already delivered."""
        if seq <= self.last_seq(ident, incarnation):
            return False
        self.record(ident, incarnation, seq)
        return not persistent or self.first_time_persistent(uuid)

    def sizes(self) -> Tuple[int, int]:
        return len(self._last_seq), len(self._uuids)
