"""What the messaging protocol asks its driver to do: small immutable records.

The protocol (``_core.protocol``) decides; the driver (``messaging.py``) carries these
out in order, after releasing its lock: it sends, calls the user's callbacks and
writes the storage. Order matters: a packet that confirms an ack is always listed
after the ``ReportSent`` whose storage deletes it confirms.
"""
from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Tuple, Union

from ..exceptions import SnakeMQException
from .peer_queue import MessageDropped

TTL_RAN_OUT = "its TTL ran out"
TOO_LARGE = "it no longer fits Packeter.max_packet_size"


class Transmit(NamedTuple):
    """Send ``packet`` on ``conn_id``; ``payload``: a large message's data, as a frame of its own."""
    conn_id: str
    packet: bytes
    payload: Optional[bytes] = None


class Deliver(NamedTuple):
    """``on_message_recv(conn_id, ident, message)`` for each of ``messages``, in order."""
    conn_id: str
    ident: str
    messages: List[Any]


class ReportSent(NamedTuple):
    """The peer has these messages: delete stored ones, then ``on_message_sent`` for each."""
    conn_id: str
    ident: str
    messages: List[Any]


class ReportDropped(NamedTuple):
    """These messages will never be sent: delete stored ones, then ``on_message_drop``."""
    dropped: List[MessageDropped]
    reason: str


class PeerIdentified(NamedTuple):
    """``on_connect(conn_id, ident)``."""
    conn_id: str
    ident: str


class PeerLost(NamedTuple):
    """``on_disconnect(conn_id, ident)``."""
    conn_id: str
    ident: str


class Problem(NamedTuple):
    """A peer misbehaved: log it and ``on_error(conn_id, error)``; ``close``: end the connection."""
    conn_id: Optional[str]
    error: SnakeMQException
    close: bool = False


class Silent(NamedTuple):
    """The peer did not answer a keepalive ping in time: close the connection."""
    conn_id: str
    ident: Optional[str]


class Unclaimed(NamedTuple):
    """Messages for ``ident`` wait and no peer with that ident is connected (a warning)."""
    ident: str
    connected: List[str]
    waited: float  #: seconds


class StoreTtls(NamedTuple):
    """Write these (uuid, remaining ttl) of persistent messages to the storage."""
    items: List[Tuple[bytes, float]]


Action = Union[Transmit, Deliver, ReportSent, ReportDropped, PeerIdentified, PeerLost, Problem,
               Silent, Unclaimed, StoreTtls]
