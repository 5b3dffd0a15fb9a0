"""The producer's side of a work queue: which job goes to which worker, and when.

Theory of operation (times are float seconds on a monotonic clock, passed in):
- Rule 1, credit: a job goes to a worker only against credit that worker granted in
  its current *session* (SERVE starts one, GRANT and RESULT add credit). A session ends
  when the worker's Messaging disconnects or it announces a new one; its credit is void.
  With one credit per free slot of the worker, a worker never holds more jobs than its
  capacity (prefetch), and the least recently used worker with credit gets the next job.
- Rule 2, demand: while jobs wait and no credit is left, the dispatcher tells every
  worker it wants credit (WANT true), and when the queue is empty again it says so
  (WANT false). Unused credit stays here, so the next job goes out at once; a worker
  that another producer asks for capacity recalls it (RECALL) and gets all of it back.
- Rule 3, reassignment: when a worker's session ends, every job it held and had not
  reported goes back to the front of the waiting line, in its original order.
- Rule 4, outcome: the first result for a job settles it (done or failed); later results
  for it are ignored. A job whose TTL runs out while it waits is dropped. So each job
  gets exactly one outcome while the producer lives.
- Rule 5, TTL: a job's TTL counts down only while it waits for a worker (queued, or
  after its worker was lost), as snakemq's message TTL counts only while the peer is
  away. ``None`` never expires; 0 means "only if a worker has credit right now".
Not thread-safe: the driver (``snakezmq.workqueue``) holds its lock.
"""
from __future__ import annotations

import collections
import heapq
import itertools
from typing import Deque, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

from .pattern_wire import GRANT, JOB, RECALL, RESULT, SERVE, WANT, QueueFrame


class Send(NamedTuple):
    """``send_message`` this frame to ``ident``."""
    ident: str
    frame: QueueFrame


class JobFinished(NamedTuple):
    """The job's first result: ``on_job_done`` (succeeded) or ``on_job_error``."""
    job_id: bytes
    succeeded: bool
    payload: bytes
    worker: str


class JobDropped(NamedTuple):
    """The job's TTL ran out while it waited for a worker: ``on_job_drop``."""
    job_id: bytes


Action = Union[Send, JobFinished, JobDropped]


class Job:
    """A submitted job not yet settled."""

    __slots__ = ("job_id", "data", "ttl", "since", "worker", "deadline")

    def __init__(self, job_id: bytes, data: bytes, ttl: Optional[float]) -> None:
        self.job_id = job_id
        self.data = data
        self.ttl = ttl  #: remaining seconds as of ``since`` (counts only while waiting)
        self.since = 0.0
        self.worker: Optional[str] = None  #: the ident holding it; None: waiting
        self.deadline = 0.0  #: while waiting with a TTL


class WorkerSession:
    """One worker as this producer knows it."""

    __slots__ = ("session", "credit", "jobs", "told_wanting")

    def __init__(self, session: int) -> None:
        self.session = session
        self.credit = 0
        self.jobs: Dict[bytes, None] = {}  #: ids of the jobs it holds, in assignment order
        self.told_wanting = False


class Dispatcher:
    """Jobs of one queue, the workers serving it, and their credit."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.jobs: Dict[bytes, Job] = {}
        self.workers: Dict[str, WorkerSession] = {}
        self._waiting: Deque[Job] = collections.deque()  #: may hold stale entries (skipped)
        self._n_waiting = 0
        self._ready: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        #: (deadline, tiebreak, job), stale entries (a job no longer waiting) skipped
        self._expiry: List[Tuple[float, int, Job]] = []
        self._tiebreak = itertools.count()

    @property
    def waiting(self) -> int:
        """Jobs waiting for a worker."""
        return self._n_waiting

    # -- inputs ------------------------------------------------------------------------------

    def submit(self, job_id: bytes, data: bytes, ttl: Optional[float], now: float) -> List[Action]:
        if job_id in self.jobs:
            raise ValueError("job id %r was already submitted" % job_id)
        job = Job(job_id, data, ttl)
        self.jobs[job_id] = job
        self._enqueue([job], now)
        return self._settle(now)

    def frame_received(self, ident: str, frame: QueueFrame, now: float) -> List[Action]:
        """A work-queue frame from ``ident`` (frames of other queues are ignored)."""
        if frame.queue != self.queue:
            return []
        if frame.kind == SERVE:
            return self._served(ident, frame.session, now)
        worker = self.workers.get(ident)
        current = worker is not None and worker.session == frame.session
        if frame.kind == RESULT:
            return self._result(ident, frame, current, now)
        if not current or worker is None:
            return []  # (a frame of an ended session)
        if frame.kind == GRANT:
            self._credit(ident, worker, frame.credit)
            return self._settle(now)
        if frame.kind == RECALL:
            return [self._give_back(ident, worker)]
        return []  # (WANT and JOB go the other way)

    def worker_lost(self, ident: str, now: float) -> List[Action]:
        """The worker's Messaging disconnected: its session ends, its jobs wait again."""
        worker = self.workers.pop(ident, None)
        if worker is None:
            return []
        self._ready.pop(ident, None)
        lost = [self.jobs[job_id] for job_id in worker.jobs]
        self._enqueue(lost, now, front=True)
        return self._settle(now)

    def expire(self, now: float) -> List[Action]:
        """Drop the waiting jobs whose TTL ran out."""
        dropped: List[Action] = []
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            deadline, _, job = heapq.heappop(expiry)
            if self._is_waiting(job) and job.deadline == deadline:
                del self.jobs[job.job_id]
                self._n_waiting -= 1
                dropped.append(JobDropped(job.job_id))
        return dropped + (self._settle(now) if dropped else [])

    def next_deadline(self) -> Optional[float]:
        """When ``expire`` has something to do next (None: nothing waits with a TTL)."""
        expiry = self._expiry
        while expiry and not (self._is_waiting(expiry[0][2]) and expiry[0][2].deadline == expiry[0][0]):
            heapq.heappop(expiry)
        return expiry[0][0] if expiry else None

    # -- decisions -----------------------------------------------------------------------------

    def _served(self, ident: str, session: int, now: float) -> List[Action]:
        """SERVE: a worker (or a worker's new session: the old one ended)."""
        actions = self.worker_lost(ident, now) if ident in self.workers else []
        self.workers[ident] = WorkerSession(session)
        return actions + self._settle(now)

    def _result(self, ident: str, frame: QueueFrame, current: bool, now: float) -> List[Action]:
        worker = self.workers.get(ident)
        if current and worker is not None:
            self._credit(ident, worker, frame.credit)
        job = self.jobs.pop(frame.job_id, None)
        actions: List[Action] = []
        if job is not None:  # (else: settled already, dropped, or not ours)
            holder = self.workers.get(job.worker) if job.worker is not None else None
            if holder is not None:
                holder.jobs.pop(job.job_id, None)
            elif job.worker is None:
                self._n_waiting -= 1  # (its entry in the waiting line is now stale)
            actions.append(JobFinished(job.job_id, frame.flag, frame.payload, ident))
        return actions + self._settle(now)

    def _credit(self, ident: str, worker: WorkerSession, count: int) -> None:
        if count > 0:
            worker.credit += count
            self._ready[ident] = None

    def _give_back(self, ident: str, worker: WorkerSession) -> Send:
        """RECALL: return every unused credit (there is unused credit only while no job waits)."""
        returned, worker.credit = worker.credit, 0
        self._ready.pop(ident, None)
        worker.told_wanting = self._n_waiting > 0
        return Send(ident, QueueFrame(WANT, self.queue, worker.session, returned,
                                      worker.told_wanting))

    def _settle(self, now: float) -> List[Action]:
        """Dispatch what credit allows, then tell workers whether credit is wanted."""
        actions: List[Action] = list(self._dispatch(now))
        wanting = self._n_waiting > 0
        for ident, worker in self.workers.items():
            if worker.told_wanting != wanting:
                worker.told_wanting = wanting
                actions.append(Send(ident, QueueFrame(WANT, self.queue, worker.session, 0, wanting)))
        return actions

    def _dispatch(self, now: float) -> Iterator[Send]:
        ready = self._ready
        while self._n_waiting and ready:
            ident = next(iter(ready))
            worker = self.workers[ident]
            worker.credit -= 1
            if worker.credit:
                ready.move_to_end(ident)
            else:
                del ready[ident]
            job = self._next_waiting()
            if job.ttl is not None:
                job.ttl -= now - job.since
            job.worker = ident
            worker.jobs[job.job_id] = None
            yield Send(ident, QueueFrame(JOB, self.queue, worker.session, job_id=job.job_id,
                                         payload=job.data))

    def _next_waiting(self) -> Job:
        while True:
            job = self._waiting.popleft()
            if self._is_waiting(job):
                self._n_waiting -= 1
                return job

    def _enqueue(self, jobs: List[Job], now: float, front: bool = False) -> None:
        for job in jobs:
            job.worker, job.since = None, now
            if job.ttl is not None:
                job.deadline = now + job.ttl
                heapq.heappush(self._expiry, (job.deadline, next(self._tiebreak), job))
        if front:
            self._waiting.extendleft(reversed(jobs))
        else:
            self._waiting.extend(jobs)
        self._n_waiting += len(jobs)

    def _is_waiting(self, job: Job) -> bool:
        return job.worker is None and self.jobs.get(job.job_id) is job


def job_ids(prefix: bytes) -> Iterator[bytes]:
    """Unique job ids: ``prefix`` (random per producer) then a counter, 16 bytes in all."""
    return (prefix + n.to_bytes(16 - len(prefix), "big") for n in itertools.count(1))

