"""The worker threads an RpcServer runs its requests in (``snakezmq.rpc``)."""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional, Tuple


class Workers:
    """Daemon threads that run requests, each in a thread of its own as in snakemq, but reused.

    A request goes straight to an idle thread (one lock released: a thread start costs the
    loop thread ten times that, as it waits for the new thread to run); a new thread starts
    only when none is idle. No bound, so methods that wait for each other never deadlock.
    A thread idle for ``IDLE_SECONDS`` ends.
    """

    IDLE_SECONDS = 30.0

    def __init__(self, run: Callable[[str, Dict[str, Any]], None]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._idle: List[_Slot] = []  #: guarded by _lock; the last one idled goes first

    def submit(self, ident: str, params: Dict[str, Any]) -> None:
        name = "rpc:%s.%s" % (params["object"], params["method"])
        with self._lock:
            slot = self._idle.pop() if self._idle else None
        if slot is None:
            threading.Thread(target=self._work, args=(_Slot(), ident, params), daemon=True,
                             name=name).start()
            return
        slot.job = (name, ident, params)
        slot.ready.release()

    def _work(self, slot: "_Slot", ident: str, params: Dict[str, Any]) -> None:
        while True:
            self._run(ident, params)
            job = self._next(slot)
            if job is None:
                return
            threading.current_thread().name, ident, params = job

    def _next(self, slot: "_Slot") -> Optional[Tuple[str, str, Dict[str, Any]]]:
        """Wait idle for the next request; None after IDLE_SECONDS without one."""
        with self._lock:
            self._idle.append(slot)
        if not slot.ready.acquire(timeout=self.IDLE_SECONDS):
            with self._lock:
                if slot in self._idle:  # not handed a request: end
                    self._idle.remove(slot)
                    return None
            slot.ready.acquire()  # handed one just now: submit() releases right away
        job, slot.job = slot.job, None
        return job


class _Slot:
    """An idle worker: ``submit`` puts the request in ``job`` and releases ``ready``."""

    __slots__ = ("ready", "job")

    def __init__(self) -> None:
        self.ready = threading.Lock()
        self.ready.acquire()
        self.job: Optional[Tuple[str, str, Dict[str, Any]]] = None
