"""snakezmq.storage.sqla on SQLite and on a real PostgreSQL server (started by the
``postgres_url`` fixture): snakemq's table, durability, batches, threads, rows
snakemq's layout wrote, and persistent messages through Messaging.

The seven interface methods are also run by tests/test_storage.py (its
``sqla-sqlite`` and ``sqla-postgresql`` storages). snakemq 1.6's own class cannot
read anything on SQLAlchemy 2 (``select([...])`` was removed), so only the
direction snakemq -> snakezmq is tested.
"""
from __future__ import annotations

import threading
from binascii import b2a_hex
from typing import Any, Iterator, List

import pytest
import sqlalchemy

from snakezmq.exceptions import StorageError
from snakezmq.message import FLAG_PERSISTENT, Message
from snakezmq.storage import write_batch
from snakezmq.storage.sqla import SqlAlchemyQueuesStorage, table

THREADS = 6
PER_THREAD = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A database with an empty ``snakemq_items`` table."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = "sqlite:///%s" % (tmp_path / "queues.db")
    fresh = SqlAlchemyQueuesStorage(url)
    fresh.drop_structures()
    fresh.create_structures()
    fresh.close()
    return url


@pytest.fixture
def storage(url: str) -> Iterator[SqlAlchemyQueuesStorage]:
    opened = SqlAlchemyQueuesStorage(url)
    yield opened
    opened.close()


def other(url: str) -> SqlAlchemyQueuesStorage:
    """A second storage on the same database (its own connections: sees only committed rows)."""
    return SqlAlchemyQueuesStorage(url)


def datas(storage: SqlAlchemyQueuesStorage, queue: str) -> List[bytes]:
    return [item.data for item in storage.get_items(queue)]


def persistent(data: bytes, ttl: Any = None) -> Message:
    return Message(data, ttl=ttl, flags=FLAG_PERSISTENT)


def test_the_table_is_snakemqs():
    from snakemq.storage import sqla as theirs

    def shape(t: sqlalchemy.Table) -> List[Any]:
        return [(c.name, type(c.type), getattr(c.type, "length", None), c.primary_key, bool(c.unique))
                for c in t.columns]

    assert table.name == theirs.table.name == "snakemq_items"
    assert shape(table) == shape(theirs.table)


def test_create_structures_makes_the_table_and_drop_structures_removes_it(url):
    storage = other(url)
    try:
        inspector = sqlalchemy.inspect(storage.engine)
        assert {c["name"] for c in inspector.get_columns("snakemq_items")} == {
            "id_", "queue_name", "uuid", "data", "flags", "ttl"}
        storage.create_structures()  # again: nothing happens
        storage.drop_structures()
        assert not sqlalchemy.inspect(storage.engine).has_table("snakemq_items")
        with pytest.raises(StorageError, match="create_structures"):
            storage.get_queues()
        storage.create_structures()
    finally:
        storage.close()


def test_fields_round_trip(storage):
    items = [Message(b"\0binary\xff", ttl=None, flags=0xFFFFFFFF), Message(b"", ttl=0.25, flags=0),
             Message(b"x" * 100_000, ttl=600, flags=(1 << 31)), Message(b"u", uuid=b"short")]
    for item in items:
        storage.push("q", item)
    got = storage.get_items("q")
    assert [(m.uuid, m.data, m.ttl, m.flags) for m in got] == [
        (m.uuid, m.data, m.ttl, m.flags) for m in items]
    assert all(type(m.data) is bytes for m in got)


def test_every_write_is_committed_when_it_returns(storage, url):
    first, second = persistent(b"1", ttl=60), persistent(b"2")
    storage.push("alice", first)
    storage.push("alice", second)
    reader = other(url)
    try:
        assert datas(reader, "alice") == [b"1", b"2"]
        first.ttl = 7.5
        storage.update_items_ttl([first])
        assert reader.get_items("alice")[0].ttl == 7.5
        storage.delete_items([second])
        assert datas(reader, "alice") == [b"1"]
        storage.delete_all()
        assert reader.get_queues() == []
    finally:
        reader.close()


def test_a_batch_is_one_transaction(storage, url):
    reader = other(url)
    try:
        with write_batch(storage):
            storage.push("q", persistent(b"1"))
            with storage.batch():  # nested: joins the outer transaction
                storage.push("q", persistent(b"2"))
            assert datas(storage, "q") == [b"1", b"2"]  # the batch sees its own writes
            assert datas(reader, "q") == []
        assert datas(reader, "q") == [b"1", b"2"]
        with pytest.raises(RuntimeError):
            with storage.batch():
                storage.push("q", persistent(b"3"))
                raise RuntimeError("undo the batch")
        assert datas(reader, "q") == [b"1", b"2"]
    finally:
        reader.close()


def test_threads_share_one_storage(storage):
    errors: List[BaseException] = []

    def push_some(number: int) -> None:
        try:
            for index in range(PER_THREAD):
                if index % 10 == 0:
                    with storage.batch():
                        storage.push("t%d" % number, persistent(b"%d" % index))
                else:
                    storage.push("t%d" % number, persistent(b"%d" % index))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=push_some, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads) and errors == []
    assert sorted(storage.get_queues()) == sorted("t%d" % n for n in range(THREADS))
    for number in range(THREADS):
        assert datas(storage, "t%d" % number) == [b"%d" % i for i in range(PER_THREAD)]


def test_rows_written_in_snakemqs_layout_are_read_updated_and_deleted(url):
    """On SQLite by snakemq 1.6's own class (uuid as hex bytes, a BLOB); on PostgreSQL with
    snakemq's table and hex text (its push passes bytes, which PostgreSQL refuses for VARCHAR)."""
    from snakemq.message import Message as SnakemqMessage
    from snakemq.storage import sqla as theirs

    written = [SnakemqMessage(b"from snakemq %d" % i, ttl=30 + i, flags=i) for i in range(3)]
    if url.startswith("sqlite"):
        writer = theirs.SqlAlchemyQueuesStorage(url)
        for item in written:
            writer.push("bob", item)
        writer.conn.commit()  # (snakemq's push does not commit on SQLAlchemy 2)
        writer.close()
    else:
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as conn:
            for item in written:
                conn.execute(theirs.table.insert().values(
                    queue_name="bob", uuid=b2a_hex(item.uuid).decode(), data=item.data,
                    ttl=item.ttl, flags=item.flags))
        engine.dispose()
    storage = other(url)
    try:
        assert storage.get_queues() == ["bob"]
        got = storage.get_items("bob")
        assert [(m.uuid, m.data, m.ttl, m.flags) for m in got] == [
            (m.uuid, m.data, m.ttl, m.flags) for m in written]
        got[1].ttl = 1.5
        storage.update_items_ttl([got[1]])
        storage.delete_items([got[0]])
        assert [(m.data, m.ttl) for m in storage.get_items("bob")] == [
            (b"from snakemq 1", 1.5), (b"from snakemq 2", 32.0)]
    finally:
        storage.close()


def test_an_in_memory_sqlite_database_is_shared_by_threads():
    storage = SqlAlchemyQueuesStorage("sqlite://")
    try:
        storage.create_structures()
        thread = threading.Thread(target=storage.push, args=("q", persistent(b"from a thread")))
        thread.start()
        thread.join(timeout=10)
        assert datas(storage, "q") == [b"from a thread"]
    finally:
        storage.close()


def test_arguments_go_to_create_engine_and_closed_storage_raises(tmp_path):
    storage = SqlAlchemyQueuesStorage(url="sqlite:///%s" % (tmp_path / "q.db"), pool_pre_ping=True,
                                      connect_args={"timeout": 2})
    assert storage.engine.pool._pre_ping  # type: ignore[attr-defined]
    storage.create_structures()
    storage.close()
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.push("q", persistent(b"late"))
    assert "closed" in repr(storage)


def test_persistent_message_is_in_the_database_when_send_message_returns_and_survives_a_restart(
        links, url):
    sender_storage = SqlAlchemyQueuesStorage(url)
    _, _, sender = links.stack("sender", sender_storage)
    sender.send_message("receiver", persistent(b"for later", ttl=600))
    sender.send_message("receiver", Message(b"not persistent", ttl=600))
    reader = other(url)
    try:
        assert datas(reader, "receiver") == [b"for later"]
    finally:
        reader.close()
    sender_storage.close()  # the sender "dies"; a new one starts on the same database
    restarted_storage = SqlAlchemyQueuesStorage(url)
    link, _, _ = links.stack("sender", restarted_storage)
    receiver_link, _, receiver = links.stack("receiver")
    received: List[bytes] = []
    receiver.on_message_recv.add(lambda conn_id, ident, message: received.append(message.data))
    receiver_link.add_connector(link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.2)
    links.pump(lambda: received, what="the stored message after the restart")
    links.pump(lambda: not restarted_storage.get_items("receiver"), what="the acknowledged row deleted")
    assert received == [b"for later"]
    restarted_storage.close()

