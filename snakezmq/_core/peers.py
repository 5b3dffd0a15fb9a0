"""One connection as the messaging protocol sees it, and the rules about peers:
who may identify as what, and when a silent peer is pinged or given up.

Pure: times are float seconds on a monotonic clock, passed in.
"""
from __future__ import annotations

import functools
from typing import Callable, Iterable, List, Optional, Tuple

from ..exceptions import DuplicateIdent, SnakeMQException, SnakeMQIncompatibleProtocol, SnakeMQNoIdent
from . import wire
from .delivered import StreamRecord
from .liveness import INFINITY, Liveness, Verdict, unknown

MAX_IDENT_LENGTH = 50


class Peer:
    """One connection: its ident once identified, its stream record once resumed, liveness."""

    __slots__ = ("conn_id", "announced", "ident", "incarnation", "record", "liveness", "told")

    def __init__(self, conn_id: str, announced: Optional[str], now: float) -> None:
        self.conn_id = conn_id
        self.announced = announced  #: the ident its routing id announced (listener side)
        self.ident: Optional[str] = None  #: set by its IDENT
        self.incarnation = b""
        self.record: Optional[StreamRecord] = None  #: its stream to us; set by its RESUME
        self.liveness = Liveness(now)  #: its packets (and TCP data), for the keepalive
        self.told = (0, False)  #: the (confirmed, restoring) we last sent it


def refusal_of(peer: Peer, version: int, ident: str,
               holder: Optional[str]) -> Optional[SnakeMQException]:
    """Why ``peer`` may not identify as ``ident`` (None: it may); ``holder``: the conn_id
    already connected with that ident, if any."""
    if version != wire.MESSAGING_VERSION:
        return SnakeMQIncompatibleProtocol("remote messaging protocol version is %d, this side "
                                           "speaks %d" % (version, wire.MESSAGING_VERSION))
    if (not ident or len(ident) > MAX_IDENT_LENGTH or ident.startswith("\x00") or "\ufffd" in ident
            or (peer.announced is not None and peer.announced != ident)):
        return SnakeMQNoIdent("peer identified as %r (routing id %r); idents must be 1..%d "
                              "characters and match the routing id"
                              % (ident[:80], peer.announced, MAX_IDENT_LENGTH))
    if holder is not None:
        return DuplicateIdent(ident, "on connection %s; refused connection %s" % (holder, peer.conn_id))
    return None


def keepalive_scan(peers: Iterable[Peer], interval: float, wait: float, now: float,
                   data_age: Callable[[str], Optional[float]] = unknown
                   ) -> Tuple[List[str], List[Peer], float]:
    """snakemq's keepalive: a peer silent for ``interval`` is pinged, one that then shows no
    sign of life within ``wait`` is given up (``_core.liveness``: TCP data from it counts,
    ``data_age(conn_id)``). Returns (conn_ids to ping, silent peers, when the next peer
    falls due)."""
    pings: List[str] = []
    silent: List[Peer] = []
    next_due = INFINITY
    for peer in peers:
        liveness = peer.liveness
        verdict = liveness.check(now, functools.partial(data_age, peer.conn_id), interval, INFINITY, wait)
        if verdict is Verdict.DEAD:
            silent.append(peer)
            continue
        if verdict is Verdict.PING:
            pings.append(peer.conn_id)
        next_due = min(next_due, liveness.next_deadline(interval, INFINITY, wait))
    return pings, silent, next_due
