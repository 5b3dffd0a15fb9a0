"""snakemq's exception tree, plus snakezmq's own subclasses.

Every snakezmq error subclasses the closest snakemq class, so ``except``
clauses written for snakemq keep catching them.
"""
from __future__ import annotations

from typing import Optional


class SnakeMQException(Exception):
    pass


class NoConnection(SnakeMQException):
    pass


class SendNotFinished(SnakeMQException):
    pass


class SnakeMQBrokenFormat(SnakeMQException):
    pass


class SnakeMQBrokenPacket(SnakeMQBrokenFormat):
    """Received packet has wrong structure."""


class SnakeMQBrokenMessage(SnakeMQBrokenFormat):
    """Received message has wrong structure."""


class SnakeMQIncompatibleProtocol(SnakeMQException):
    """Remote side has incompatible protocol version."""


class SnakeMQNoIdent(SnakeMQException):
    """Remote side did not identify itself."""


class SnakeMQUnknownRoute(SnakeMQException):
    """Message destination/route unknown."""


class WireError(SnakeMQBrokenMessage):
    """A peer sent bytes that are not a valid snakezmq frame."""


class PacketTooLarge(SnakeMQBrokenPacket):
    """A packet is larger than the configured maximum."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            "packet of %d bytes is larger than the maximum of %d bytes; "
            "raise Packeter.max_packet_size on both sides or send less" % (size, limit))
        self.size = size
        self.limit = limit


class MessageSizeExceeded(PacketTooLarge):
    """ZeroMQ cut off a peer that was sending a message over this side's limit (ZMQ_MAXMSGSIZE).

    The size of that message is unknown (``size`` is None): libzmq closes the
    connection as soon as it reads the message's length.
    """

    def __init__(self, limit: int, peer: str = "") -> None:
        SnakeMQBrokenPacket.__init__(  # not PacketTooLarge's: the size is unknown
            self, "ZeroMQ cut off the peer at %s while it was sending: most likely a message larger "
            "than this side's limit of %d bytes (ZMQ_MAXMSGSIZE: Packeter.max_packet_size plus "
            "header room), or data that breaks ZeroMQ's framing. If the peer's packets are meant "
            "to be that large, raise Packeter.max_packet_size on this side (before add_listener / "
            "add_connector); else make the peer send smaller ones" % (peer or "?", limit))
        self.size = None  # type: ignore[assignment]
        self.limit = limit
        self.peer = peer


class DuplicateIdent(SnakeMQException):
    """A second peer tried to connect with an ident that is already connected."""

    def __init__(self, ident: str, detail: str = "") -> None:
        super().__init__(
            "peer ident %r is already connected%s; the second peer using the same "
            "ident was refused. Give each Messaging a unique identifier."
            % (ident, (" (" + detail + ")") if detail else ""))
        self.ident = ident
        self.detail = detail


class ConnectionRefused(SnakeMQException):
    """The listener refused this connector's handshake (reason in the message)."""

    def __init__(self, reason: str, endpoint: Optional[str] = None) -> None:
        super().__init__(reason if endpoint is None else "%s: %s" % (endpoint, reason))
        self.reason = reason
        self.endpoint = endpoint


class SSLNotSupported(SnakeMQException):
    """snakezmq does not speak TLS; CurveZMQ replaces snakemq's SSLConfig."""


class StorageError(SnakeMQException):
    """A queue storage file cannot be used (corrupt, foreign or unreadable)."""


class MessageDropped(SnakeMQException):
    """A message was dropped before its peer acknowledged it (``on_message_drop``): its TTL
    ran out while the peer was away, or it no longer fits ``Packeter.max_packet_size``."""

    def __init__(self, ident: str, uuid: bytes) -> None:
        super().__init__("message %s for ident %r was dropped before the peer acknowledged it "
                         "(its TTL ran out, or it no longer fits the packet size limit)"
                         % (uuid.hex(), ident))
        self.ident = ident
        self.uuid = uuid
