"""Taken messages into MESSAGES packets: how many share a packet, which travel alone.

Pure functions over the outbox's ``Taken`` columns. The first packet carries the
ack owed to the peer; every packet carries the sender's confirmation.
"""
from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Tuple

from . import wire
from .peer_queue import Taken

BATCH_COUNT = 1024  #: messages per MESSAGES packet at most
BATCH_BYTES = 256 * 1024  #: bytes per MESSAGES packet at most (a larger message travels alone)
MAX_WIRE_TTL = 0xFFFFFFFE
MESSAGE_OVERHEAD = 128  #: MESSAGES packet bytes besides one message's data, at most
PACKET_HEADER_BYTES = 64  #: a MESSAGES packet's fixed part, at most
MESSAGE_HEADER_BYTES = 40  #: one message's entries in the header columns, at most
DETACH_BYTES = 64 * 1024  #: a message this large travels as a frame of its own, never copied


class Packets(NamedTuple):
    """``packets``: (packet, detached payload or None); ``too_large``: (seq, message) that no
    longer fit the packet limit (it was lowered after they were queued)."""
    packets: List[Tuple[bytes, Optional[bytes]]]
    too_large: List[Tuple[int, Any]]


def fits(message: Any, limit: int) -> bool:
    return len(message.data) + MESSAGE_OVERHEAD <= limit


def encode_taken(taken: Taken, ack: int, confirmed: int, restoring: bool, limit: int) -> Packets:
    """MESSAGES packets for ``taken``; the first carries ``ack`` (0: none)."""
    seqs, messages = taken.seqs, taken.messages
    if taken.ttls.count(None) == len(seqs):  # (the usual case, without a loop)
        ttls: List[Optional[int]] = [None] * len(seqs)
    else:  # snakemq's rule: the remaining ttl, truncated
        ttls = [None if ttl is None else min(int(ttl), MAX_WIRE_TTL) for ttl in taken.ttls]
    result = Packets([], [])
    for start, end in batch_ranges(seqs, messages, min(limit, BATCH_BYTES)):
        if end - start == 1 and not fits(messages[start], limit):
            result.too_large.append((seqs[start], messages[start]))
            continue
        batch = messages[start:end]
        detached = len(batch) == 1 and len(batch[0].data) >= DETACH_BYTES
        packet = wire.encode_messages(seqs[start], batch, ttls[start:end], ack, detached,
                                      confirmed, restoring)
        result.packets.append((packet, batch[0].data if detached else None))
        ack = 0
    return result


def batch_ranges(seqs: List[int], messages: List[Any], max_bytes: int) -> List[Tuple[int, int]]:
    """Group taken messages into MESSAGES packets, as ``(start, end)`` index ranges:
    consecutive seqs, at most BATCH_COUNT messages and ``max_bytes`` per packet (the
    Packeter's limit may be lower than BATCH_BYTES); a message too large to share a
    packet travels alone."""
    count = len(seqs)
    if count == 1:
        return [(0, 1)]
    budget = max_bytes - PACKET_HEADER_BYTES
    sizes = [len(message.data) + MESSAGE_HEADER_BYTES for message in messages]
    if seqs[-1] - seqs[0] == count - 1:  # no gaps (the usual case)
        starts = range(0, count, BATCH_COUNT)
        if all(sum(sizes[start:start + BATCH_COUNT]) <= budget for start in starts):
            return [(start, min(start + BATCH_COUNT, count)) for start in starts]
    packets: List[Tuple[int, int]] = []
    first = size = 0
    for index in range(count):
        if index > first and (seqs[index] != seqs[index - 1] + 1 or index - first >= BATCH_COUNT
                              or size + sizes[index] > budget):
            packets.append((first, index))
            first, size = index, 0
        size += sizes[index]
    if count:
        packets.append((first, count))
    return packets
