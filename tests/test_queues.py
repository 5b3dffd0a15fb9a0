"""snakemq's QueuesManager housekeeping calls on the outbox views (snakezmq only: snakemq
1.6's ``cleanup()`` deletes from the dict it iterates, a RuntimeError as soon as a queue
is empty)."""
from __future__ import annotations

from snakezmq.message import Message


def test_cleanup_forgets_empty_queues_of_absent_idents(links):
    _, _, messaging = links.stack("sender")
    dropped = []
    messaging.on_message_drop.add(lambda ident, uuid: dropped.append(ident))
    messaging.send_message("gone", Message(b"x", ttl=0.05))
    messaging.send_message("waiting", Message(b"y", ttl=None))
    manager = messaging.queues_manager
    assert len(manager) == 2
    links.pump(lambda: dropped == ["gone"], what="the ttl to run out")
    assert len(manager.get_queue("gone")) == 0
    manager.cleanup()
    assert sorted(manager.queues) == ["waiting"]
    manager.collect_garbage()  # the same housekeeping, under snakemq's other name
    assert len(manager.get_queue("waiting")) == 1
