"""Versions, as snakemq's ``snakemq.version``.

``VERSION`` is the package version (a string, like snakemq's ``"1.6"``).
``PROTOCOL_VERSION`` is the messaging protocol version that two Messaging
peers exchange when they connect and must agree on (snakemq's meaning); the
link layer has its own version (docs/protocol.md, "Versions").
"""
from __future__ import annotations

from . import __version__
from ._core.wire import LINK_VERSION, MESSAGING_VERSION

VERSION: str = __version__
PROTOCOL_VERSION: int = MESSAGING_VERSION
LINK_PROTOCOL_VERSION: int = LINK_VERSION  #: the link layer's version (HELLO / WELCOME)
