"""Queue storage: snakemq 1.6's storage interface.

A storage class written for snakemq (a subclass of ``QueuesStorageBase``
implementing the seven methods below) works unchanged with snakezmq.

``item`` is a :class:`snakezmq.message.Message` (anything with ``uuid``,
``data``, ``ttl`` and ``flags``). Items are identified by ``item.uuid``.
``update_items_ttl`` may be given other objects: it reads only ``uuid`` and
``ttl`` (see :class:`TtlItem`).
"""
from __future__ import annotations

import contextlib
import threading
from typing import ContextManager, Dict, Iterable, Iterator, List, Optional, Protocol

from snakezmq.message import Message

__all__ = ["QueuesStorageBase", "MemoryQueuesStorage", "write_batch"]


class TtlItem(Protocol):
    """What ``update_items_ttl`` reads from each item: a ``Message`` is one, and the
    messaging layer also passes lightweight objects with just these two attributes."""

    @property
    def uuid(self) -> bytes: ...

    @property
    def ttl(self) -> Optional[float]: ...


class QueuesStorageBase:
    """Interface of a persistent store of per-destination message queues."""

    def close(self) -> None:
        """Release the storage (files, connections)."""
        raise NotImplementedError

    def get_queues(self) -> List[str]:
        """:return: names of the queues that hold at least one item."""
        raise NotImplementedError

    def get_items(self, queue_name: str) -> List[Message]:
        """:return: items of queue ``queue_name`` in insertion order."""
        raise NotImplementedError

    def push(self, queue_name: str, item: Message) -> None:
        """Append ``item`` to queue ``queue_name``."""
        raise NotImplementedError

    def delete_items(self, items: Iterable[Message]) -> None:
        """Delete ``items`` (matched by uuid) from whichever queue holds them."""
        raise NotImplementedError

    def delete_all(self) -> None:
        """Delete all items and queues."""
        raise NotImplementedError

    def update_items_ttl(self, items: Iterable[TtlItem]) -> None:
        """Store the current ``ttl`` of each of ``items`` (matched by ``uuid``; only
        ``uuid`` and ``ttl`` are read: an item need not be a ``Message``)."""
        raise NotImplementedError


class MemoryQueuesStorage(QueuesStorageBase):
    """In-memory storage, for tests. THIS STORAGE IS NOT PERSISTENT.

    Thread-safe. Differences from snakemq's ``MemoryQueuesStorage``:

    - ``get_items`` returns a new list (snakemq returned its internal deque)
      and does not create an empty queue for an unknown name;
    - ``get_queues`` returns a list of the queues that hold items: a queue
      emptied by ``delete_items`` disappears, as in the SQLite storage.

    - items are matched by uuid (snakemq: by identity), and ``update_items_ttl``
      copies the ttl onto the stored item with the same uuid when the caller
      passes a different object (snakemq: no-op).
    """

    def __init__(self) -> None:
        self.queues: Dict[str, List[Message]] = {}  #: name: items
        self._lock = threading.RLock()

    def close(self) -> None:
        pass

    def get_queues(self) -> List[str]:
        with self._lock:
            return list(self.queues)

    def get_items(self, queue_name: str) -> List[Message]:
        with self._lock:
            return list(self.queues.get(queue_name, ()))

    def push(self, queue_name: str, item: Message) -> None:
        with self._lock:
            self.queues.setdefault(queue_name, []).append(item)

    def delete_items(self, items: Iterable[Message]) -> None:
        doomed = {item.uuid for item in items}
        if not doomed:
            return
        with self._lock:
            for name in list(self.queues):
                kept = [item for item in self.queues[name] if item.uuid not in doomed]
                if kept:
                    self.queues[name] = kept
                else:
                    del self.queues[name]

    def delete_all(self) -> None:
        with self._lock:
            self.queues.clear()

    def update_items_ttl(self, items: Iterable[TtlItem]) -> None:
        # Usually the caller updated the very objects stored here; copy the
        # ttl only onto stored items that are other objects with the same uuid.
        given = {item.uuid: item for item in items}
        if not given:
            return
        with self._lock:
            for queue in self.queues.values():
                for stored in queue:
                    item = given.get(stored.uuid)
                    if item is not None and item is not stored:
                        stored.ttl = item.ttl

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the storage for several calls from this thread (no transaction)."""
        with self._lock:
            yield


def write_batch(storage: QueuesStorageBase) -> ContextManager[None]:
    """``storage.batch()`` if the storage has one, else a no-op context manager.

    Lets the messaging layer group writes on any storage, including a user's
    snakemq-style subclass that only implements the seven interface methods.
    """
    batch = getattr(storage, "batch", None)
    if batch is None:
        return contextlib.nullcontext()
    return batch()  # type: ignore[no-any-return]
