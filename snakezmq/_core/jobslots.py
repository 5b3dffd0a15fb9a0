"""The worker's side of a work queue: its capacity, and which producer gets its free slots.

Theory of operation:
- Rule 1, capacity: a worker holds at most ``capacity`` jobs (received and not finished).
  Its free slots are ``capacity`` minus the jobs it holds minus the credit it granted and
  producers have not used yet. Credit belongs to a *session* with one producer, which
  starts when that producer's Messaging connects (SERVE) and ends when it disconnects;
  the unused credit of an ended session is free again.
- Rule 2, who gets a free slot: round robin over the producers that want credit (their
  last WANT said so), a producer that starts wanting first. If none wants any, a slot freed by a finished job goes back to the
  producer whose job it was, in the job's RESULT: a producer keeps the credit it uses, so
  its next job goes out without a round trip.
- Rule 3, recall: while some producer wants credit and no slot is free, every producer
  that wants none and holds unused credit is asked to give it back (RECALL; it answers
  with a WANT carrying the count). So idle producers never starve a busy one.
- Rule 4, stale jobs: a JOB of an ended session is ignored: its producer saw the session
  end and gave the job to another worker (or will, when the new session's SERVE arrives).
- A job's result goes to its producer whatever became of the session: Messaging queues
  it while the producer is away and delivers it when it is back (within the result TTL).
Not thread-safe: the driver (``snakezmq.workqueue``) holds its lock.
"""
from __future__ import annotations

import collections
import itertools
from typing import Dict, List, NamedTuple, Optional, Union

from .dispatcher import Send
from .pattern_wire import GRANT, JOB, RECALL, RESULT, SERVE, WANT, QueueFrame


class RunJob(NamedTuple):
    """Hand the job to the application: ``on_job_recv(ident, job_id, data)``."""
    ident: str  #: the producer's
    job_id: bytes
    data: bytes


Action = Union[Send, RunJob]


class ProducerSession:
    """One producer as this worker knows it."""

    __slots__ = ("session", "granted", "recalled")

    def __init__(self, session: int) -> None:
        self.session = session
        self.granted = 0  #: credit given and not used yet
        self.recalled = False  #: a RECALL is unanswered


class JobSlots:
    """Capacity and credit of one worker of one queue."""

    def __init__(self, queue: str, capacity: int = 1, first_session: int = 1) -> None:
        """``first_session``: where session numbers start (the driver picks a random one, so
        a restarted worker's sessions do not reuse the numbers of the process before)."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1, not %r" % capacity)
        self.queue = queue
        self.capacity = capacity
        self.held: Dict[bytes, str] = {}  #: job id -> its producer's ident
        self.producers: Dict[str, ProducerSession] = {}
        self._granted = 0  #: the sum of the producers' ``granted``
        self._wanting: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        self._sessions = itertools.count(first_session)

    @property
    def free(self) -> int:
        return self.capacity - len(self.held) - self._granted

    # -- inputs ------------------------------------------------------------------------------

    def producer_connected(self, ident: str) -> List[Action]:
        """A peer's Messaging connected: offer it this queue (a new session)."""
        self._end(ident)
        session = next(self._sessions)
        self.producers[ident] = ProducerSession(session)
        return [Send(ident, QueueFrame(SERVE, self.queue, session))] + self._distribute()

    def producer_lost(self, ident: str) -> List[Action]:
        """The producer's Messaging disconnected: its session ends, its unused credit is free."""
        return self._distribute() if self._end(ident) else []

    def frame_received(self, ident: str, frame: QueueFrame) -> List[Action]:
        """A work-queue frame from ``ident`` (other queues' and ended sessions' are ignored)."""
        producer = self.producers.get(ident)
        if frame.queue != self.queue or producer is None or producer.session != frame.session:
            return []
        if frame.kind == WANT:
            returned = min(frame.credit, producer.granted)
            producer.granted -= returned
            self._granted -= returned
            producer.recalled = False
            if frame.flag and ident not in self._wanting:
                self._wanting[ident] = None
                self._wanting.move_to_end(ident, last=False)  # (its turn comes first)
            elif not frame.flag:
                self._wanting.pop(ident, None)
            return self._distribute()
        if frame.kind == JOB:
            if producer.granted:
                producer.granted -= 1
                self._granted -= 1
            if frame.job_id in self.held:  # given back to us by a new session: it runs already
                return self._distribute()  # (its credit is used, its slot was counted)
            self.held[frame.job_id] = ident
            return [RunJob(ident, frame.job_id, frame.payload)]
        return []

    def job_finished(self, job_id: bytes, succeeded: bool, payload: bytes) -> List[Action]:
        """The application finished a job: its RESULT (with the freed slot's credit, if it
        goes back to the same producer), then the other grants. Raises KeyError if the
        job is not held."""
        ident = self.held.pop(job_id)
        producer = self.producers.get(ident)
        grants = self._grants(owner=ident)
        credit = grants.pop(ident, 0)
        result = Send(ident, QueueFrame(RESULT, self.queue, producer.session if producer else 0,
                                        credit, succeeded, job_id, payload))
        return [result] + self._grant_frames(grants) + self._recalls()

    # -- decisions -----------------------------------------------------------------------------

    def _end(self, ident: str) -> bool:
        producer = self.producers.pop(ident, None)
        self._wanting.pop(ident, None)
        if producer is not None:
            self._granted -= producer.granted
        return producer is not None

    def _distribute(self) -> List[Action]:
        """Grant free slots (rule 2), then recall idle credit if still short (rule 3)."""
        return self._grant_frames(self._grants()) + self._recalls()

    def _grants(self, owner: Optional[str] = None) -> Dict[str, int]:
        """Give the free slots away (rule 2): producer ident -> credit, already counted."""
        grants: Dict[str, int] = {}
        free, wanting = self.free, self._wanting
        while free > 0 and wanting:
            ident = next(iter(wanting))
            wanting.move_to_end(ident)
            grants[ident] = grants.get(ident, 0) + 1
            free -= 1
        if free > 0 and not grants and owner is not None and owner in self.producers:
            grants[owner] = 1
        for ident, count in grants.items():
            self.producers[ident].granted += count
            self._granted += count
        return grants

    def _grant_frames(self, grants: Dict[str, int]) -> List[Action]:
        return [Send(ident, QueueFrame(GRANT, self.queue, self.producers[ident].session, count))
                for ident, count in grants.items()]

    def _recalls(self) -> List[Action]:
        """Rule 3: while a producer wants credit and none is free, ask idle holders for theirs."""
        if not self._wanting or self.free > 0:
            return []
        actions: List[Action] = []
        for ident, producer in self.producers.items():
            if producer.granted and not producer.recalled and ident not in self._wanting:
                producer.recalled = True
                actions.append(Send(ident, QueueFrame(RECALL, self.queue, producer.session)))
        return actions

