"""snakemq's ``Queue`` / ``QueuesManager`` names, as read-only views over the outbox.

snakemq compatibility: code that inspects ``messaging.queues_manager.get_queue(ident)``
(``len()``, ``get()``) keeps working. Queueing itself lives in ``_core.outbox``.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional

from ._core.outbox import Outbox
from ._core.peer_queue import PeerQueue
from .callbacks import Callback
from .message import FLAG_PERSISTENT as FLAG_PERSISTENT  # snakemq.queues has it too
from .storage import QueuesStorageBase as QueuesStorageBase  # (and this)


class Queue:
    """The messages queued or in flight for one ident (a live view)."""

    def __init__(self, name: str, manager: "QueuesManager") -> None:
        self.name = name
        self.manager = manager

    def _peer_queue(self) -> Optional[PeerQueue]:
        return self.manager._outbox.queues.get(self.name)

    @property
    def connected(self) -> bool:
        queue = self._peer_queue()
        return queue is not None and queue.away_since is None

    def get(self) -> Any:
        """The first message not yet acknowledged, or None."""
        with self.manager._lock:
            queue = self._peer_queue()
            return next(queue.messages(), None) if queue is not None else None

    def __len__(self) -> int:
        with self.manager._lock:
            queue = self._peer_queue()
            return len(queue) if queue is not None else 0

    def __bool__(self) -> bool:
        return len(self) > 0


class QueuesManager:
    """The outbox seen as snakemq's per-ident queues."""

    def __init__(self, storage: Any, outbox: Optional[Outbox] = None, lock: Any = None,
                 collect: Optional[Callable[[], None]] = None) -> None:
        """``QueuesManager(storage)`` as in snakemq makes an empty, unattached manager;
        Messaging passes its outbox, its lock and how to forget empty queues."""
        self.storage = storage
        self._outbox = outbox if outbox is not None else Outbox()
        self._lock = lock if lock is not None else threading.Lock()
        self._collect = collect
        self.log = logging.getLogger("snakezmq.queues")
        self.on_item_drop = Callback()  #: ``func(queue_name, item_uuid)``

    @property
    def queues(self) -> Dict[str, Queue]:
        with self._lock:
            names: List[str] = list(self._outbox.queues)
        return {name: Queue(name, self) for name in names}

    def get_queue(self, queue_name: str) -> Queue:
        return Queue(queue_name, self)

    def __len__(self) -> int:
        with self._lock:
            return len(self._outbox.queues)

    def cleanup(self) -> None:
        """Forget queues that are empty and whose ident is not connected (as snakemq)."""
        with self._lock:
            if self._collect is not None:
                self._collect()
            else:
                for name in list(self._outbox.queues):
                    self._outbox.forget_empty(name)

    def collect_garbage(self) -> None:
        """snakemq's periodic housekeeping hook: here, ``cleanup()`` (expired messages are
        already dropped when they expire)."""
        self.cleanup()

    def close(self) -> None:
        """Close the persistent storage (as snakemq). Unlike snakemq, the queued messages are
        not thrown away: they stay queued in memory, so nothing is lost silently."""
        if self.storage is not None:
            self.storage.close()
            self.storage = None


