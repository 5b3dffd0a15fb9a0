"""snakezmq.storage: interface conformance, SQLite durability/threads/batches, errors,
and file compatibility with real snakemq 1.6 in both directions."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from typing import Any, Dict, Iterable, Iterator, List, Tuple

import pytest

from snakezmq.exceptions import StorageError
from snakezmq.message import FLAG_PERSISTENT, Message
from snakezmq.storage import MemoryQueuesStorage, QueuesStorageBase, write_batch
from snakezmq.storage.sqlite import SqliteQueuesStorage


class UserStorage(QueuesStorageBase):
    """What a snakemq user would write: a plain subclass, the seven methods, no batch()."""

    def __init__(self) -> None:
        self.data: Dict[str, List[Message]] = {}

    def close(self) -> None:
        pass

    def get_queues(self) -> List[str]:
        return [name for name, items in self.data.items() if items]

    def get_items(self, queue_name: str) -> List[Message]:
        return list(self.data.get(queue_name, []))

    def push(self, queue_name: str, item: Message) -> None:
        self.data.setdefault(queue_name, []).append(item)

    def delete_items(self, items: Iterable[Message]) -> None:
        uuids = {item.uuid for item in items}
        for name in self.data:
            self.data[name] = [i for i in self.data[name] if i.uuid not in uuids]

    def delete_all(self) -> None:
        self.data.clear()

    def update_items_ttl(self, items: Iterable[Message]) -> None:
        pass


def fields(items: Iterable[Message]) -> List[Tuple[object, ...]]:
    return [(m.uuid, m.data, m.ttl, m.flags) for m in items]


def msg(data: bytes, ttl: object = None) -> Message:
    return Message(data, ttl=ttl, flags=FLAG_PERSISTENT)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", "user", "sqla-sqlite", "sqla-postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: "os.PathLike[str]") -> Iterator[QueuesStorageBase]:
    if request.param == "memory":
        st: QueuesStorageBase = MemoryQueuesStorage()
    elif request.param == "sqlite":
        st = SqliteQueuesStorage(os.path.join(str(tmp_path), "q.db"))
    elif request.param.startswith("sqla-"):
        from snakezmq.storage.sqla import SqlAlchemyQueuesStorage

        url = (request.getfixturevalue("postgres_url") if request.param == "sqla-postgresql"
               else "sqlite:///" + os.path.join(str(tmp_path), "q.db"))
        st = SqlAlchemyQueuesStorage(url)
        st.drop_structures()  # a clean table on the session's server
        st.create_structures()
    else:
        st = UserStorage()
    yield st
    st.close()


@pytest.fixture
def path(tmp_path: "os.PathLike[str]") -> str:
    return os.path.join(str(tmp_path), "queues.db")


def peek(path: str, sql: str = "SELECT count(*) FROM items") -> object:
    """Read the file through a separate connection: sees only committed data."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


# ------------------------------------------------------------------ interface


def test_base_interface_raises_not_implemented() -> None:
    base = QueuesStorageBase()
    m = msg(b"x")
    calls = [base.close, base.get_queues, lambda: base.get_items("q"), lambda: base.push("q", m),
             lambda: base.delete_items([m]), base.delete_all, lambda: base.update_items_ttl([m])]
    for call in calls:
        with pytest.raises(NotImplementedError):
            call()


def test_interface_matches_snakemq() -> None:
    import snakemq.storage

    ours = {n for n in vars(QueuesStorageBase) if not n.startswith("_")}
    theirs = {n for n in vars(snakemq.storage.QueuesStorageBase) if not n.startswith("_")}
    assert ours == theirs


def test_storages_are_queues_storage_base(path: str) -> None:
    sqlite_storage = SqliteQueuesStorage(path)
    try:
        for st in (MemoryQueuesStorage(), sqlite_storage, UserStorage()):
            assert isinstance(st, QueuesStorageBase)
    finally:
        sqlite_storage.close()


def test_empty(storage: QueuesStorageBase) -> None:
    assert list(storage.get_queues()) == []
    assert storage.get_items("nobody") == []
    assert list(storage.get_queues()) == []  # get_items created nothing


def test_push_keeps_order_per_queue(storage: QueuesStorageBase) -> None:
    a = [msg(b"a%d" % i, ttl=i or None) for i in range(5)]
    b = [msg(b"b%d" % i, ttl=1.5) for i in range(3)]
    for i in range(5):
        storage.push("A", a[i])
        if i < 3:
            storage.push("B", b[i])
    assert sorted(storage.get_queues()) == ["A", "B"]
    assert fields(storage.get_items("A")) == fields(a)
    assert fields(storage.get_items("B")) == fields(b)


def test_get_items_returns_a_copy(storage: QueuesStorageBase) -> None:
    storage.push("A", msg(b"1"))
    storage.get_items("A").clear()
    assert len(storage.get_items("A")) == 1


def test_delete_items_by_uuid(storage: QueuesStorageBase) -> None:
    items = [msg(b"%d" % i) for i in range(6)]
    for i, m in enumerate(items):
        storage.push("AB"[i % 2], m)
    stored = storage.get_items("A") + storage.get_items("B")
    storage.delete_items([m for m in stored if m.data in (b"0", b"3", b"4")])
    assert [m.data for m in storage.get_items("A")] == [b"2"]
    assert [m.data for m in storage.get_items("B")] == [b"1", b"5"]
    storage.delete_items([])
    storage.delete_items([m for m in storage.get_items("A")])
    assert list(storage.get_queues()) == ["B"]


def test_update_items_ttl(storage: QueuesStorageBase) -> None:
    for i in range(3):
        storage.push("A", msg(b"%d" % i, ttl=10))
    items = storage.get_items("A")
    items[0].ttl = 4.25
    items[2].ttl = None
    storage.update_items_ttl(items[::2])
    storage.update_items_ttl([])
    assert [m.ttl for m in storage.get_items("A")] == [4.25, 10.0, None]


def test_delete_all(storage: QueuesStorageBase) -> None:
    storage.push("A", msg(b"1"))
    storage.push("B", msg(b"2"))
    storage.delete_all()
    assert list(storage.get_queues()) == []
    assert storage.get_items("A") == []


def test_write_batch_works_on_any_storage(storage: QueuesStorageBase) -> None:
    with write_batch(storage):
        storage.push("A", msg(b"1"))
        storage.push("A", msg(b"2"))
    assert [m.data for m in storage.get_items("A")] == [b"1", b"2"]


def test_memory_update_ttl_from_other_object() -> None:
    st = MemoryQueuesStorage()
    m = msg(b"1", ttl=5)
    st.push("A", m)
    st.update_items_ttl([Message(b"1", ttl=2, uuid=m.uuid)])
    assert m.ttl == 2.0


# --------------------------------------------------------------------- sqlite


def test_sqlite_persists_across_reopen(path: str) -> None:
    items = [msg(b"\x00\xff" * 10, ttl=None), msg(b"", ttl=0.5), Message(b"x", ttl=3, flags=0)]
    st = SqliteQueuesStorage(path)
    for m in items:
        st.push("peer", m)
    st.close()
    st.close()  # idempotent
    st = SqliteQueuesStorage(path)
    try:
        assert st.get_queues() == ["peer"]
        assert fields(st.get_items("peer")) == fields(items)
    finally:
        st.close()


def test_sqlite_file_settings(path: str) -> None:
    st = SqliteQueuesStorage(path)
    try:
        assert peek(path, "PRAGMA journal_mode") == "wal"
        assert st.conn is not None
        assert st.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        plan = st.conn.execute("EXPLAIN QUERY PLAN DELETE FROM items WHERE uuid IN (?, ?)",
                               (b"ab", "ab")).fetchall()
        assert "items_uuid" in str(plan)
    finally:
        st.close()
    st = SqliteQueuesStorage(path, synchronous="FULL")
    try:
        assert st.conn is not None
        assert st.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        st.close()
    with pytest.raises(ValueError):
        SqliteQueuesStorage(path, synchronous="OFF")


def test_sqlite_writes_are_durable_on_return(path: str) -> None:
    st = SqliteQueuesStorage(path)
    try:
        m = msg(b"1", ttl=9)
        st.push("A", m)
        assert peek(path) == 1
        m.ttl = 1.0
        st.update_items_ttl([m])
        assert peek(path, "SELECT ttl FROM items") == 1.0
        st.delete_items([m])
        assert peek(path) == 0
    finally:
        st.close()


def test_sqlite_survives_sigkill(path: str) -> None:
    """A push that returned is in the file even if the process dies right after."""
    code = textwrap.dedent("""
        import os, signal, sys
        from snakezmq.message import Message
        from snakezmq.storage.sqlite import SqliteQueuesStorage
        st = SqliteQueuesStorage(sys.argv[1])
        for i in range(200):
            st.push("A", Message(b"%d" % i, ttl=None))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code, path], env=env, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    st = SqliteQueuesStorage(path)
    try:
        assert [m.data for m in st.get_items("A")] == [b"%d" % i for i in range(200)]
    finally:
        st.close()


def test_sqlite_threads(path: str) -> None:
    st = SqliteQueuesStorage(path)
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                st.push("shared", msg(b"%d-%d" % (n, i)))
                st.push("q%d" % n, msg(b"%d" % i))
            st.get_queues()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors
        assert sorted(st.get_queues()) == ["q0", "q1", "q2", "q3", "shared"]
        shared = [m.data for m in st.get_items("shared")]
        assert len(shared) == 800
        for n in range(4):
            assert [m.data for m in st.get_items("q%d" % n)] == [b"%d" % i for i in range(200)]
            mine = [d for d in shared if d.startswith(b"%d-" % n)]
            assert mine == [b"%d-%d" % (n, i) for i in range(200)]
    finally:
        st.close()


def test_sqlite_batch_is_one_transaction(path: str) -> None:
    st = SqliteQueuesStorage(path)
    try:
        first = msg(b"first")
        st.push("A", first)
        with st.batch():
            st.push("A", msg(b"2"))
            first.ttl = 7.0
            st.update_items_ttl([first])
            st.push("B", msg(b"3"))
            assert peek(path) == 1  # nothing visible before the batch commits
            assert peek(path, "SELECT ttl FROM items") is None
            assert len(st.get_items("A")) == 2  # the batch sees its own writes
        assert peek(path) == 3
        assert fields(st.get_items("A"))[0] == (first.uuid, b"first", 7.0, FLAG_PERSISTENT)
    finally:
        st.close()


def test_sqlite_batch_rollback_keeps_committed_data(path: str) -> None:
    st = SqliteQueuesStorage(path)
    try:
        kept = msg(b"kept")
        st.push("A", kept)
        with pytest.raises(RuntimeError):
            with st.batch():
                st.push("A", msg(b"lost"))
                st.delete_items([kept])
                raise RuntimeError("boom")
        assert [m.data for m in st.get_items("A")] == [b"kept"]
        st.push("A", msg(b"after"))  # usable afterwards, back to autocommit
        assert peek(path) == 2
    finally:
        st.close()


def test_sqlite_nested_batch(path: str) -> None:
    st = SqliteQueuesStorage(path)
    try:
        with st.batch():
            st.push("A", msg(b"1"))
            with st.batch():
                st.push("A", msg(b"2"))
            try:
                with st.batch():
                    st.push("A", msg(b"undone"))
                    raise KeyError
            except KeyError:
                pass
            st.push("A", msg(b"3"))
            assert peek(path) == 0
        assert [m.data for m in st.get_items("A")] == [b"1", b"2", b"3"]
    finally:
        st.close()


def test_sqlite_batch_makes_other_threads_wait(path: str) -> None:
    st = SqliteQueuesStorage(path)
    try:
        with st.batch():
            st.push("A", msg(b"batch"))
            other = threading.Thread(target=st.push, args=("A", msg(b"other")))
            other.start()
            other.join(0.2)
            assert other.is_alive()  # waits for the batch, never joins its transaction
        other.join(10)
        assert not other.is_alive()
        assert [m.data for m in st.get_items("A")] == [b"batch", b"other"]
        assert peek(path) == 2
    finally:
        st.close()


def test_sqlite_closed_storage_raises(path: str) -> None:
    st = SqliteQueuesStorage(path)
    st.close()
    with pytest.raises(StorageError, match="closed"):
        st.push("A", msg(b"1"))


# --------------------------------------------------------------------- errors


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def assert_refused(path: str, *words: str) -> StorageError:
    with pytest.raises(StorageError) as info:
        SqliteQueuesStorage(path)
    text = str(info.value)
    assert path in text
    for word in words:
        assert word in text
    assert type(info.value) is StorageError
    return info.value


def test_text_file_is_refused(path: str) -> None:
    with open(path, "w") as f:
        f.write("this is my shopping list\n" * 200)
    before = read_bytes(path)
    assert_refused(path, "not a usable SQLite database", "another filename")
    assert read_bytes(path) == before


def test_corrupt_file_is_refused(path: str) -> None:
    st = SqliteQueuesStorage(path)
    with st.batch():
        for i in range(3000):
            st.push("q%d" % (i % 7), msg(os.urandom(100), ttl=i))
    st.close()
    size = os.path.getsize(path)
    assert size > 8 * 4096
    with open(path, "r+b") as f:  # keep the header and schema page, garble the rest
        f.seek(2 * 4096)
        f.write(b"\xa5" * (size - 2 * 4096))
    assert_refused(path, "corrupt")


def test_garbled_header_is_refused(path: str) -> None:
    st = SqliteQueuesStorage(path)
    st.push("A", msg(b"1"))
    st.close()
    with open(path, "r+b") as f:
        f.write(b"\x00" * 100)
    assert_refused(path)


def test_foreign_items_table_is_refused(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    conn.execute("INSERT INTO items (name, price) VALUES ('apple', 1.5)")
    conn.commit()
    conn.close()
    before = read_bytes(path)
    assert_refused(path, "'items' table", "id, name, price")
    assert read_bytes(path) == before  # not even switched to WAL


def test_foreign_database_without_items_is_refused(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    assert_refused(path, "users")


def test_empty_file_gets_the_table(path: str) -> None:
    open(path, "wb").close()
    st = SqliteQueuesStorage(path)
    try:
        st.push("A", msg(b"1"))
        assert [m.data for m in st.get_items("A")] == [b"1"]
    finally:
        st.close()


def test_unopenable_path_is_refused(tmp_path: "os.PathLike[str]") -> None:
    missing_dir = os.path.join(str(tmp_path), "no", "such", "dir", "q.db")
    assert_refused(missing_dir, "cannot be opened")


# ------------------------------------------------------------------ migration


def snakemq_messages() -> List[Any]:
    import snakemq.message

    flags = snakemq.message.FLAG_PERSISTENT
    return [snakemq.message.Message(b"m%d" % i + bytes(range(256)), ttl=ttl, flags=flags)
            for i, ttl in enumerate([None, 60, 0.25, None, 1e9, 3.75])]


def test_snakemq_file_is_read_by_snakezmq(path: str) -> None:
    from snakemq.storage.sqlite import SqliteQueuesStorage as SnakemqStorage

    old = snakemq_messages()
    theirs = SnakemqStorage(path)
    for i, m in enumerate(old):
        theirs.push("peer%d" % (i % 2), m)
    theirs.close()

    st = SqliteQueuesStorage(path)
    try:
        assert st.get_queues() == ["peer0", "peer1"]
        assert fields(st.get_items("peer0")) == fields(old[0::2])
        assert fields(st.get_items("peer1")) == fields(old[1::2])
        # lookups by uuid work on rows written by snakemq
        first, second = st.get_items("peer0")[:2]
        second.ttl = 12.5
        st.update_items_ttl([second])
        st.delete_items([first])
        assert fields(st.get_items("peer0")) == [
            (old[2].uuid, old[2].data, 12.5, FLAG_PERSISTENT)] + fields([old[4]])
    finally:
        st.close()

    # ... and snakemq can still use the file afterwards
    theirs = SnakemqStorage(path)
    try:
        assert [m.data for m in theirs.get_items("peer0")] == [old[2].data, old[4].data]
    finally:
        theirs.close()


def test_snakezmq_file_is_read_by_snakemq(path: str) -> None:
    from snakemq.storage.sqlite import SqliteQueuesStorage as SnakemqStorage

    ours = [msg(b"z%d" % i, ttl=ttl) for i, ttl in enumerate([None, 5, 0.5, None])]
    st = SqliteQueuesStorage(path)
    for m in ours:
        st.push("peer", m)
    st.close()

    theirs = SnakemqStorage(path)
    try:
        assert sorted(theirs.get_queues()) == ["peer"]
        assert fields(theirs.get_items("peer")) == fields(ours)
        theirs.delete_items([ours[1]])  # snakemq's delete matches our uuid encoding
        ours[2].ttl = 0.125
        theirs.update_items_ttl([ours[2]])
        assert [(m.data, m.ttl) for m in theirs.get_items("peer")] == [
            (b"z0", None), (b"z2", 0.125), (b"z3", None)]
    finally:
        theirs.close()


def test_text_uuid_rows_are_found(path: str) -> None:
    """Rows whose hex uuid is TEXT (not snakemq's BLOB) are read, updated and deleted too."""
    st = SqliteQueuesStorage(path)
    st.close()
    m = msg(b"t", ttl=3)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?)",
                 ("A", m.uuid.hex(), m.data, m.ttl, m.flags))
    conn.commit()
    conn.close()
    st = SqliteQueuesStorage(path)
    try:
        assert fields(st.get_items("A")) == fields([m])
        m.ttl = 1.0
        st.update_items_ttl([m])
        assert st.get_items("A")[0].ttl == 1.0
        st.delete_items([m])
        assert st.get_items("A") == []
    finally:
        st.close()
