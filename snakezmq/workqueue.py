"""Work queues on Messaging: producers submit jobs to a named queue, workers serve it.

Brokerless: a producer keeps its own jobs and gives each to one worker that has a free
slot; every worker serves every producer it is connected to (either side may listen).
Each job gets exactly one outcome at its producer: ``on_job_done``, ``on_job_error`` or
``on_job_drop``. A job whose worker dies or disconnects before its result arrived is
given to another worker, so a job can run twice (README, "Work queues"). The decisions
are in ``_core.dispatcher`` (producer) and ``_core.jobslots`` (worker); this module
feeds them the Messaging's events and sends what they decide.

Make roles before the loop connects (like snakemq's ``RpcServer``): a role learns of
peers from ``on_connect``. Other code on the same Messaging also sees the roles'
messages in ``on_message_recv`` (their data starts with ``b"\\x00SZQ"``).
"""
from __future__ import annotations

import os
from typing import Any, List, Optional

from ._core.batching import MESSAGE_OVERHEAD
from ._core.dispatcher import Dispatcher, JobDropped, JobFinished, Send, job_ids
from ._core.jobslots import JobSlots, RunJob
from ._core.pattern_wire import JOB, RESULT, QueueFrame, decode_queue, encode_queue
from ._driver import Call, Driver
from .callbacks import Callback
from .exceptions import PacketTooLarge
from .message import Message

__all__ = ["Producer", "Worker", "RESULT_TTL"]

RESULT_TTL = 600.0  #: seconds a result waits for its absent producer (Worker's default)
_JOB_ID_BYTES = 16


class Producer(Driver):
    """Submits jobs to the workers of queue ``queue`` and reports each job's outcome."""

    def __init__(self, messaging: Any, queue: str) -> None:
        """
        :param messaging: a :class:`~snakezmq.messaging.Messaging` (workers connect to it,
            or it connects to them)
        :param queue: the queue's name; workers serving the same name get the jobs
        """
        super().__init__(messaging, "snakezmq.workqueue.producer")
        self.queue = queue
        self._core = Dispatcher(queue)
        self._ids = job_ids(os.urandom(8))
        self._overhead = MESSAGE_OVERHEAD + len(encode_queue(
            QueueFrame(JOB, queue, 0, job_id=bytes(_JOB_ID_BYTES))))
        self.on_job_done = Callback()  #: ``func(job_id, result)``: a worker finished it
        self.on_job_error = Callback()  #: ``func(job_id, error)``: the worker reported a failure (str)
        #: ``func(job_id)``: its TTL ran out while it waited for a worker; it will not run (again)
        self.on_job_drop = Callback()

    def submit(self, data: bytes, ttl: Optional[float] = None) -> bytes:
        """Queue a job; returns its id (16 bytes). Thread-safe; never blocks on the network.

        :param ttl: seconds the job may wait for a worker in all (counted only while no live
            worker holds it); None: no limit
        """
        if type(data) is not bytes:
            raise TypeError("job data must be bytes, not %s" % type(data).__name__)
        if ttl is not None and not ttl >= 0:
            raise ValueError("ttl must be None or >= 0, not %r" % ttl)
        limit = self.messaging.packeter.max_packet_size
        if len(data) + self._overhead > limit:
            raise PacketTooLarge(len(data) + self._overhead, limit)
        submitted: List[bytes] = []

        def decide(now: float) -> List[Any]:
            submitted.append(next(self._ids))
            return self._core.submit(submitted[0], data, None if ttl is None else float(ttl), now)
        self._run(decide)
        if ttl is not None:
            self._wake()  # (its expiry may be the loop's next deadline)
        return submitted[0]

    @property
    def waiting(self) -> int:
        """Jobs waiting for a worker."""
        return self._core.waiting

    @property
    def pending(self) -> int:
        """Jobs without an outcome yet (waiting or running)."""
        return len(self._core.jobs)

    @property
    def workers(self) -> List[str]:
        """Idents of the workers serving this queue now."""
        return list(self._core.workers)

    def _lost(self, ident: str, now: float) -> List[Any]:
        return self._core.worker_lost(ident, now)

    def _received(self, conn_id: str, ident: str, message: Message, now: float) -> Optional[List[Any]]:
        frame = decode_queue(message.data)
        return None if frame is None else self._core.frame_received(ident, frame, now)

    def _tick(self, now: float) -> List[Any]:
        deadline = self._core.next_deadline()
        return self._core.expire(now) if deadline is not None and deadline <= now else []

    def _deadline(self) -> Optional[float]:
        return self._core.next_deadline()

    def _apply(self, actions: List[Any]) -> List[Call]:
        calls: List[Call] = []
        for action in actions:
            if type(action) is Send:
                self._send(action.ident, encode_queue(action.frame), 0)  # (dropped when the worker goes)
            elif type(action) is JobFinished:
                if action.succeeded:
                    calls.append((self.on_job_done, (action.job_id, action.payload)))
                else:
                    error = action.payload.decode("utf-8", "replace")
                    calls.append((self.on_job_error, (action.job_id, error)))
            elif type(action) is JobDropped:
                self.log.info("queue %r: job %s dropped: its TTL ran out", self.queue, action.job_id.hex())
                calls.append((self.on_job_drop, (action.job_id,)))
        return calls


class Worker(Driver):
    """Serves queue ``queue`` to every producer its Messaging is connected to."""

    def __init__(self, messaging: Any, queue: str, capacity: int = 1,
                 result_ttl: Optional[float] = RESULT_TTL) -> None:
        """
        :param capacity: jobs this worker holds at once (received and not finished): the
            producers' credit (prefetch)
        :param result_ttl: seconds a result waits while its producer is away (None: no limit)
        """
        self._core = JobSlots(queue, capacity, first_session=1 + int.from_bytes(os.urandom(3), "big"))
        super().__init__(messaging, "snakezmq.workqueue.worker", ("Worker", "of queue %r" % queue))
        self.queue = queue
        self.result_ttl = result_ttl
        self._overhead = MESSAGE_OVERHEAD + len(encode_queue(
            QueueFrame(RESULT, queue, 0, job_id=bytes(_JOB_ID_BYTES))))
        #: ``func(ident, job_id, data)``: run this job for producer ``ident``, then call
        #: ``job_done`` or ``job_failed`` (from any thread, now or later)
        self.on_job_recv = Callback()

    @property
    def capacity(self) -> int:
        return self._core.capacity

    @property
    def running(self) -> List[bytes]:
        """Ids of the jobs received and not finished."""
        return list(self._core.held)

    def job_done(self, job_id: bytes, result: bytes = b"") -> None:
        """Report the job finished with ``result`` (``on_job_done`` at the producer). Thread-safe.

        Raises ValueError if the job is not running here, PacketTooLarge if ``result``
        does not fit the Packeter's limit (the job then stays running: report it again).
        """
        if type(result) is not bytes:
            raise TypeError("a job result must be bytes, not %s" % type(result).__name__)
        self._finish(job_id, True, result)

    def job_failed(self, job_id: bytes, error: str) -> None:
        """Report the job failed (``on_job_error(job_id, error)`` at the producer). Thread-safe."""
        self._finish(job_id, False, str(error).encode("utf-8")[:4096])

    def _finish(self, job_id: bytes, succeeded: bool, payload: bytes) -> None:
        limit = self.messaging.packeter.max_packet_size
        if len(payload) + self._overhead > limit:
            raise PacketTooLarge(len(payload) + self._overhead, limit)

        def decide(now: float) -> List[Any]:
            if job_id not in self._core.held:
                raise ValueError("job %r is not running on this worker (finished already?)" % job_id)
            return self._core.job_finished(job_id, succeeded, payload)
        self._run(decide)

    def _connected(self, ident: str, now: float) -> List[Any]:
        return self._core.producer_connected(ident)

    def _lost(self, ident: str, now: float) -> List[Any]:
        return self._core.producer_lost(ident)

    def _received(self, conn_id: str, ident: str, message: Message, now: float) -> Optional[List[Any]]:
        frame = decode_queue(message.data)
        return None if frame is None else self._core.frame_received(ident, frame)

    def _apply(self, actions: List[Any]) -> List[Call]:
        calls: List[Call] = []
        for action in actions:
            if type(action) is Send:
                frame = action.frame
                self._send(action.ident, encode_queue(frame), self.result_ttl if frame.kind == RESULT else 0)
            elif type(action) is RunJob:
                calls.append((self._run_job, (action.ident, action.job_id, action.data)))
        return calls

    def _run_job(self, ident: str, job_id: bytes, data: bytes) -> None:
        """``on_job_recv``; if it raises, the job is reported failed, then the exception
        leaves ``loop()`` (as every callback's does)."""
        try:
            self.on_job_recv(ident, job_id, data)
        except Exception as exc:
            try:
                self.job_failed(job_id, "%s: %s" % (type(exc).__name__, exc))
            except ValueError:
                pass  # (it reported the job before raising)
            raise
