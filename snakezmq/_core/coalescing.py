"""Small packets a loop pass sends to one connection, gathered into one PACKETS message.

One ZeroMQ message per packet costs both sides and both ZeroMQ I/O threads about
as much for 5 bytes as for 5 kB; snakemq's Packeter writes many packets with one
``send()`` to its TCP socket. So what the loop's own thread sends (from callbacks)
to a peer that accepts PACKETS (its HELLO or WELCOME says up to how many bytes) is
gathered here and sent at the end of the loop pass, or before anything else goes
to that connection, or when the peer's limit is reached. As snakemq's Packeter
sends while no send is in progress, the first packet a pass sends to a connection
goes at once: a lone reply waits for nothing. The peer's Link hands the packets
up one by one, exactly as if each had come in a DATA of its own (docs/protocol.md,
"PACKETS"). Pure: the Link sends what ``take`` returns.
"""
from __future__ import annotations

from typing import Dict, List, Set

from .wire import PACKET_OVERHEAD, PACKETS_OVERHEAD

PACKETS_BYTES = 64 * 1024  #: the largest PACKETS body this side accepts (snakemq's send block)
GATHERED_PACKET_MAX = 16 * 1024  #: a larger packet goes alone (gathering would only copy it)


def accepted_limit(max_message_size: int) -> int:
    """What a side announces: the largest PACKETS body its socket takes (``max_message_size``
    is its ZMQ_MAXMSGSIZE, -1 for none); 0, none, when that is too small to be worth it."""
    if max_message_size < 0:
        return PACKETS_BYTES
    limit = min(PACKETS_BYTES, max_message_size)
    return limit if limit >= 1024 else 0


class Coalescer:
    """Per connection: the peer's PACKETS limit and the packets gathered for it."""

    def __init__(self) -> None:
        self._limits: Dict[str, int] = {}  #: conn_id: the peer's limit (connections with one)
        self._packets: Dict[str, List[bytes]] = {}  #: conn_id: gathered, in order (never empty)
        self._sizes: Dict[str, int] = {}  #: conn_id: the PACKETS body they make
        self._sent_alone: Set[str] = set()  #: conn_ids whose first packet of this pass went at once

    def __bool__(self) -> bool:
        return bool(self._packets)

    def connected(self, conn_id: str, limit: int) -> None:
        """A session started; its peer accepts PACKETS bodies up to ``limit`` bytes (0: none)."""
        if limit > 0:
            self._limits[conn_id] = min(limit, PACKETS_BYTES)

    def disconnected(self, conn_id: str) -> None:
        """The session ended: what was gathered for it is dropped (as unsent data is)."""
        self._limits.pop(conn_id, None)
        self._packets.pop(conn_id, None)
        self._sizes.pop(conn_id, None)
        self._sent_alone.discard(conn_id)

    def pass_over(self) -> None:
        """The loop pass ended (everything gathered was sent): first packets go at once again."""
        self._sent_alone.clear()

    def add(self, conn_id: str, packet: bytes) -> bool:
        """Gather ``packet``; False if it must go now: the peer takes no PACKETS, the packet
        is the pass's first to it or too large, or it does not fit what is gathered (``take``
        that first, then retry)."""
        limit = self._limits.get(conn_id, 0)
        size = len(packet) + PACKET_OVERHEAD
        if size > GATHERED_PACKET_MAX or not limit:
            return False
        if conn_id not in self._sent_alone:
            self._sent_alone.add(conn_id)
            return False
        total = self._sizes.get(conn_id, PACKETS_OVERHEAD) + size
        if total > limit:
            return False
        packets = self._packets.get(conn_id)
        if packets is None:
            self._packets[conn_id] = [packet]
        else:
            packets.append(packet)
        self._sizes[conn_id] = total
        return True

    def has(self, conn_id: str) -> bool:
        return conn_id in self._packets

    def take(self, conn_id: str) -> List[bytes]:
        """The packets gathered for ``conn_id``, in order (empty if none); they are forgotten."""
        self._sizes.pop(conn_id, None)
        return self._packets.pop(conn_id, [])

    def conn_ids(self) -> List[str]:
        return list(self._packets)
