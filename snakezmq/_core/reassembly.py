"""Packets that arrive in parts: PART frames, then the DATA that completes them.

A Throttle cuts a large packet into chunks so that no burst exceeds its rate
(docs/protocol.md, "Chunked packets"). The receiving Link joins them here,
whatever sits above it, so a plain Packeter (or a bare Link user) gets the
packet whole. Memory is bounded by the receiver's packet limit: parts that add
up to more are dropped, and the DATA that would have completed them too.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from ..exceptions import PacketTooLarge


class Reassembly:
    """Per-connection parts waiting for their DATA. Not thread-safe (the loop thread's)."""

    def __init__(self) -> None:
        #: conn_id: the parts so far, or None while an oversized packet is being dropped.
        #: Empty unless parts arrived: the receive path tests it before calling ``complete``.
        self.pending: Dict[str, Optional[List[bytes]]] = {}
        self._sizes: Dict[str, int] = {}

    def part(self, conn_id: str, chunk: bytes, limit: int) -> Optional[PacketTooLarge]:
        """Keep ``chunk``; the error (once per packet) when the parts exceed ``limit`` bytes
        (``limit`` < 0: none): the packet is then dropped."""
        parts = self.pending.get(conn_id, [])
        if parts is None:
            return None
        size = self._sizes.get(conn_id, 0) + len(chunk)
        if 0 <= limit < size:
            self.pending[conn_id] = None
            self._sizes.pop(conn_id, None)
            return PacketTooLarge(size, limit)
        parts.append(chunk)
        self.pending[conn_id] = parts
        self._sizes[conn_id] = size
        return None

    def complete(self, conn_id: str, body: Sequence[bytes]) -> Optional[List[bytes]]:
        """The body of a DATA with its parts in front (None: the packet was dropped as too large)."""
        if conn_id not in self.pending:
            return list(body)
        parts = self.pending.pop(conn_id)
        self._sizes.pop(conn_id, None)
        if parts is None:
            return None
        parts.append(body[0])
        return [b"".join(parts), *body[1:]]

    def forget(self, conn_id: str) -> None:
        """The connection ended: its parts go."""
        self.pending.pop(conn_id, None)
        self._sizes.pop(conn_id, None)
