"""SQLite queue storage, file-compatible with snakemq 1.6's ``SqliteQueuesStorage``.

The file holds one table, as written by snakemq 1.6::

    items(queue_name VARCHAR(50), uuid VARCHAR(32), data BLOB, ttl REAL, flags INTEGER)

``uuid`` is the lowercase hex of the message uuid, stored as a BLOB (snakemq
passes ``binascii.b2a_hex(uuid)``, which is ``bytes``). snakezmq writes it the
same way, so snakemq 1.6 can read and delete items written by snakezmq, and
matches both BLOB and TEXT hex when looking items up. snakezmq adds an index
``items_uuid`` on ``uuid`` (snakemq ignores it) and switches the file to WAL
journal mode (persistent in the file; snakemq opens WAL files fine).

Differences from snakemq's class:

- thread-safe: any thread may call any method (one connection behind a lock);
- every writing method is durable when it returns (its own transaction),
  except inside :meth:`SqliteQueuesStorage.batch`, which groups writes into one
  transaction;
- items come back in insertion order (``ORDER BY rowid``);
- a corrupt, foreign or unreadable file raises :class:`StorageError` naming
  the file, never a bare ``sqlite3`` error;
- no ``VACUUM`` when opening (it rewrites the whole file; run it offline if
  the file has grown).
"""
from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from binascii import Error as HexError
from binascii import a2b_hex, b2a_hex
from typing import Iterable, Iterator, List, NoReturn, Optional, Sequence, Tuple

from snakezmq.exceptions import StorageError
from snakezmq.message import MAX_UUID_LENGTH, Message
from snakezmq.storage import QueuesStorageBase, TtlItem

__all__ = ["SqliteQueuesStorage"]

log = logging.getLogger("snakezmq.storage.sqlite")

#: snakemq.messaging.MAX_IDENT_LENGTH (snakemq compatibility: snakemq.storage.sqlite has it);
#: only the declared column type, SQLite does not enforce it
MAX_IDENT_LENGTH = 50

_COLUMNS = ("queue_name", "uuid", "data", "ttl", "flags")

_CREATE_TABLE = ("CREATE TABLE items (queue_name VARCHAR(%i), uuid VARCHAR(%i), data BLOB,"
                 " ttl REAL, flags INTEGER)" % (MAX_IDENT_LENGTH, MAX_UUID_LENGTH * 2))
_CREATE_INDEX = "CREATE INDEX IF NOT EXISTS items_uuid ON items (uuid)"

_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")

_WHAT_TO_DO = ("Move the file away (or delete it to drop the queued messages), "
               "or pass another filename to SqliteQueuesStorage.")


def _uuid_keys(uuid: bytes) -> Tuple[bytes, str]:
    """Both spellings a uuid may have in the file: hex BLOB (snakemq) and hex TEXT."""
    hexed = b2a_hex(uuid)
    return hexed, hexed.decode("ascii")


class SqliteQueuesStorage(QueuesStorageBase):
    """Persistent queues in an SQLite file (WAL mode).

    :param filename: path of the database file; created if missing, and an
        empty file gets the table.
    :param synchronous: SQLite ``PRAGMA synchronous``. ``"NORMAL"`` (default)
        keeps every returned write across a killed process; ``"FULL"`` (or
        ``"EXTRA"``) also across power loss or an OS crash, at a lower write rate.
    :raises StorageError: the file is corrupt, not an SQLite database, holds
        a foreign ``items`` table, or cannot be opened.
    """

    def __init__(self, filename: str, synchronous: str = "NORMAL") -> None:
        level = str(synchronous).upper()
        if level not in _SYNCHRONOUS:
            raise ValueError("synchronous must be one of %s, not %r"
                             % (", ".join(_SYNCHRONOUS), synchronous))
        self.filename = filename
        self.synchronous = level
        self._lock = threading.RLock()
        self._batch_depth = 0
        self.conn: Optional[sqlite3.Connection] = None
        try:
            conn = sqlite3.connect(filename, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            self._fail("cannot be opened", exc)
        try:
            self._setup(conn)
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        log.debug("opened %r (synchronous=%s)", filename, level)

    # ------------------------------------------------------------------ helpers

    def _fail(self, what: str, exc: BaseException) -> NoReturn:
        raise StorageError("queue storage file %r %s: %s. %s"
                           % (self.filename, what, exc, _WHAT_TO_DO)) from exc

    def _setup(self, conn: sqlite3.Connection) -> None:
        # 1. Read only: is it an intact SQLite file, and ours? A foreign file is
        #    refused before anything (even the journal mode) is written to it.
        try:
            # The first statement reads the header: "file is not a database" here.
            check = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
            columns = [row[1] for row in conn.execute("PRAGMA table_info(items)")]
            others = [row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")]
        except sqlite3.Error as exc:
            self._fail("is not a usable SQLite database (corrupt or not a queue storage file)", exc)
        if check != ["ok"]:
            raise StorageError("queue storage file %r is corrupt (SQLite quick_check: %s). %s"
                               % (self.filename, "; ".join(" ".join(str(c).split()) for c in check),
                                  _WHAT_TO_DO))
        if columns and sorted(columns) != sorted(_COLUMNS):
            raise StorageError(
                "queue storage file %r has an 'items' table that is not a snakemq/snakezmq "
                "queue storage (columns %s; expected %s). The file belongs to something else: "
                "pass another filename to SqliteQueuesStorage."
                % (self.filename, ", ".join(columns), ", ".join(_COLUMNS)))
        if not columns and others:
            raise StorageError(
                "queue storage file %r is an SQLite database of something else (it has %s "
                "but no 'items' table): pass another filename to SqliteQueuesStorage."
                % (self.filename, ", ".join(sorted(others))))
        # 2. Configure, and create the table (new or empty file) and the uuid index.
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.debug("%r: journal mode is %s, not wal", self.filename, mode)
            conn.execute("PRAGMA synchronous=%s" % self.synchronous)
            with _transaction(conn):
                if not columns:
                    conn.execute(_CREATE_TABLE)
                    log.debug("%r: created table items", self.filename)
                conn.execute(_CREATE_INDEX)  # also added to a file written by snakemq
        except sqlite3.Error as exc:
            self._fail("cannot be initialised", exc)

    def _connection(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StorageError("queue storage file %r is closed" % (self.filename,))
        return self.conn

    def _write(self, sql: str, params: Sequence[Sequence[object]]) -> None:
        """Run ``sql`` for each of ``params``: one transaction, or part of the open batch."""
        with self._lock:
            conn = self._connection()
            try:
                if self._batch_depth:
                    conn.executemany(sql, params)
                    return
                with _transaction(conn):
                    conn.executemany(sql, params)
            except sqlite3.Error as exc:
                self._fail("cannot be written", exc)

    # ---------------------------------------------------------------- interface

    def close(self) -> None:
        """Close the file (idempotent). Pending WAL content is checkpointed by SQLite."""
        with self._lock:
            if self.conn is not None:
                conn, self.conn = self.conn, None
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.close()

    def get_queues(self) -> List[str]:
        """:return: names of the queues that hold items."""
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute("SELECT queue_name FROM items GROUP BY queue_name").fetchall()
            except sqlite3.Error as exc:
                self._fail("cannot be read", exc)
        return [row[0] for row in rows]

    def get_items(self, queue_name: str) -> List[Message]:
        """:return: the queue's items as new ``Message`` objects, in insertion order."""
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute("SELECT uuid, data, ttl, flags FROM items"
                                    " WHERE queue_name = ? ORDER BY rowid",
                                    (queue_name,)).fetchall()
            except sqlite3.Error as exc:
                self._fail("cannot be read", exc)
        items = []
        for uuid, data, ttl, flags in rows:
            try:
                items.append(Message(data=bytes(data), ttl=ttl, flags=flags, uuid=a2b_hex(uuid)))
            except (TypeError, ValueError, HexError) as exc:
                self._fail("holds a malformed item in queue %r (uuid %r)" % (queue_name, uuid), exc)
        return items

    def push(self, queue_name: str, item: Message) -> None:
        """Append ``item``; durable on return unless inside :meth:`batch`."""
        self._write("INSERT INTO items (queue_name, uuid, data, ttl, flags) VALUES (?, ?, ?, ?, ?)",
                    [(queue_name, b2a_hex(item.uuid), item.data, item.ttl, item.flags)])

    def delete_items(self, items: Iterable[Message]) -> None:
        """Delete ``items`` by uuid, in one transaction (or the open batch)."""
        params = [_uuid_keys(item.uuid) for item in items]
        if params:
            self._write("DELETE FROM items WHERE uuid IN (?, ?)", params)

    def delete_all(self) -> None:
        """Delete all items and queues."""
        self._write("DELETE FROM items", [()])

    def update_items_ttl(self, items: Iterable[TtlItem]) -> None:
        """Store each item's current ``ttl``, in one transaction (or the open batch)."""
        params = [(item.ttl,) + _uuid_keys(item.uuid) for item in items]
        if params:
            self._write("UPDATE items SET ttl = ? WHERE uuid IN (?, ?)", params)

    # ------------------------------------------------------------------- extras

    def sweep(self) -> None:
        """Give the space of deleted items back to the file system (VACUUM), as snakemq's
        ``sweep``. Not inside ``batch()``; it takes a while on a large file."""
        with self._lock:
            conn = self._connection()
            if self._batch_depth:
                raise StorageError("queue storage file %r: sweep() cannot run inside batch()"
                                   % (self.filename,))
            try:
                conn.execute("VACUUM")
            except sqlite3.Error as exc:
                self._fail("cannot be compacted", exc)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group the writes made inside the block into one transaction.

        Holds the storage for the calling thread: other threads' calls wait
        until the block ends. Writes become durable when the outermost block
        exits normally; an exception inside a block undoes that block's writes
        (a nested block uses a savepoint) and propagates. Writes committed
        before the block are never affected.
        """
        with self._lock:
            conn = self._connection()
            depth = self._batch_depth
            savepoint = "snakezmq_batch_%d" % depth
            try:
                conn.execute("BEGIN IMMEDIATE" if depth == 0 else "SAVEPOINT " + savepoint)
            except sqlite3.Error as exc:
                self._fail("cannot be written", exc)
            self._batch_depth = depth + 1
            try:
                yield
            except BaseException:
                self._batch_depth = depth
                self._undo(conn, depth, savepoint)
                raise
            self._batch_depth = depth
            try:
                conn.execute("COMMIT" if depth == 0 else "RELEASE " + savepoint)
            except sqlite3.Error as exc:
                self._undo(conn, depth, savepoint)
                self._fail("cannot be written", exc)

    def _undo(self, conn: sqlite3.Connection, depth: int, savepoint: str) -> None:
        if self.conn is None or not conn.in_transaction:
            return  # closed inside the block, or SQLite already rolled back
        try:
            if depth == 0:
                conn.execute("ROLLBACK")
            else:
                conn.execute("ROLLBACK TO " + savepoint)
                conn.execute("RELEASE " + savepoint)
        except sqlite3.Error:
            log.exception("%r: rollback failed", self.filename)

    def __repr__(self) -> str:
        return "<%s %r%s>" % (self.__class__.__name__, self.filename,
                              "" if self.conn is not None else " closed")


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed, or rolled back if anything raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
