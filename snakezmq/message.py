"""Message container, as in snakemq."""
from __future__ import annotations

import os
from typing import Optional, Union

FLAG_PERSISTENT = 0x1  #: store to a persistent storage

MAX_UUID_LENGTH = 16


class Message:
    """One message: bytes payload, ttl in seconds (None = forever), flags, uuid.

    Raises ``TypeError`` (snakemq: ``AssertionError``) when ``data`` or ``uuid``
    is not ``bytes``.
    """

    __slots__ = ("data", "ttl", "flags", "uuid")

    def __init__(self, data: bytes, ttl: Union[int, float, None] = 0, flags: int = 0,
                 uuid: Optional[bytes] = None) -> None:
        if type(data) is not bytes:
            raise TypeError("Message data must be bytes, not %s" % type(data).__name__)
        if uuid is not None and type(uuid) is not bytes:
            raise TypeError("Message uuid must be bytes or None, not %s" % type(uuid).__name__)
        self.data = data
        self.ttl = None if ttl is None else float(ttl)
        self.flags = flags
        # os.urandom(16) has uuid4's uniqueness at a fraction of its cost.
        self.uuid = (uuid or os.urandom(MAX_UUID_LENGTH))[:MAX_UUID_LENGTH]

    def __repr__(self) -> str:
        return "<%s id=%X uuid=%r ttl=%r len=%i>" % (
            self.__class__.__name__, id(self), self.uuid, self.ttl, len(self.data))
