"""Message container, as in snakemq."""
from __future__ import annotations

import itertools
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
        if uuid:
            self.uuid = uuid[:MAX_UUID_LENGTH]
        else:  # as snakemq, b"" too; 8 random bytes per process, then a counter: no system call
            self.uuid = _uuid_prefix + next(_uuid_counter).to_bytes(8, "big")

    def __repr__(self) -> str:
        return "<%s id=%X uuid=%r ttl=%r len=%i>" % (
            self.__class__.__name__, id(self), self.uuid, self.ttl, len(self.data))


def new_uuid() -> bytes:
    """A uuid unique to this process run, as ``Message`` makes them (no system call)."""
    return _uuid_prefix + next(_uuid_counter).to_bytes(8, "big")


def _reseed_uuids() -> None:
    """New uuid prefix and counter start (at import, and in a forked child)."""
    global _uuid_prefix, _uuid_counter
    _uuid_prefix = os.urandom(8)
    _uuid_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))  # next() is atomic


_uuid_prefix = b""
_uuid_counter = itertools.count()
_reseed_uuids()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_uuids)


_new_message = Message.__new__


def received_message(data: bytes, ttl: Optional[int], flags: int, uuid: bytes) -> Message:
    """A Message from validated wire fields, without ``__init__``'s checks (the receive path)."""
    message = _new_message(Message)
    message.data = data
    message.ttl = None if ttl is None else float(ttl)
    message.flags = flags
    message.uuid = uuid
    return message
