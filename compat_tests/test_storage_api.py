"""The persistent-storage interface on both backends: what a user's snakemq code calls.

``MemoryQueuesStorage`` and ``SqliteQueuesStorage`` (push, get_queues, get_items,
delete_items, update_items_ttl, delete_all, close; sqlite's sweep), a persistent
message stored by ``send_message`` for an absent peer, and
``queues_manager.close()`` closing the storage.
"""
from __future__ import annotations

import importlib

import pytest


def make_storage(backend, kind, tmp_path):
    if kind == "memory":
        return backend.storage.MemoryQueuesStorage()
    sqlite = importlib.import_module(backend.name + ".storage.sqlite")
    return sqlite.SqliteQueuesStorage(str(tmp_path / "queues.db"))


def message(backend, data, ttl=None):
    return backend.message.Message(data, ttl=ttl, flags=backend.message.FLAG_PERSISTENT)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_storage_interface(backend, tmp_path, kind):
    storage = make_storage(backend, kind, tmp_path)
    try:
        first, second, other = message(backend, b"1", ttl=60), message(backend, b"2"), message(backend, b"x")
        storage.push("alice", first)
        storage.push("alice", second)
        storage.push("bob", other)
        assert sorted(storage.get_queues()) == ["alice", "bob"]
        items = storage.get_items("alice")
        assert [(m.data, m.uuid, m.flags) for m in items] == [
            (b"1", first.uuid, first.flags), (b"2", second.uuid, second.flags)]
        first.ttl = 5
        storage.update_items_ttl([first])
        assert storage.get_items("alice")[0].ttl == 5
        storage.delete_items([first])
        assert [m.data for m in storage.get_items("alice")] == [b"2"]
        storage.delete_all()
        assert list(storage.get_queues()) == [] and list(storage.get_items("bob")) == []
    finally:
        storage.close()


def test_sqlite_sweep_keeps_what_remains(backend, tmp_path):
    storage = make_storage(backend, "sqlite", tmp_path)
    try:
        kept = message(backend, b"kept")
        gone = [message(backend, b"g" * 1000) for _ in range(50)]
        for item in gone + [kept]:
            storage.push("alice", item)
        storage.delete_items(gone)
        storage.sweep()
        assert [m.data for m in storage.get_items("alice")] == [b"kept"]
    finally:
        storage.close()
    reopened = make_storage(backend, "sqlite", tmp_path)
    try:
        assert [m.uuid for m in reopened.get_items("alice")] == [kept.uuid]
    finally:
        reopened.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_persistent_message_for_an_absent_peer_is_stored(backend, links, tmp_path, kind):
    storage = make_storage(backend, kind, tmp_path)
    _, _, messaging = links.stack("sender", storage)
    sent = message(backend, b"for later", ttl=600)
    messaging.send_message("nobody-yet", sent)
    assert [m.uuid for m in storage.get_items("nobody-yet")] == [sent.uuid]
    assert len(messaging.queues_manager.get_queue("nobody-yet")) == 1
    messaging.queues_manager.close()  # closes the storage
    assert messaging.queues_manager.storage is None
    if kind == "sqlite":
        reopened = make_storage(backend, "sqlite", tmp_path)
        try:
            assert [m.data for m in reopened.get_items("nobody-yet")] == [b"for later"]
        finally:
            reopened.close()
