"""SQLAlchemy queue storage, with snakemq 1.6's ``SqlAlchemyQueuesStorage`` table and API.

Needs the ``sqlalchemy`` extra (``pip install "snakezmq[sqlalchemy]"``:
SQLAlchemy 2.x and psycopg 3 for PostgreSQL). The constructor's arguments go
to ``sqlalchemy.create_engine``; call ``create_structures()`` once to create
the table, as with snakemq::

    storage = SqlAlchemyQueuesStorage("postgresql+psycopg://user@host/db")
    storage.create_structures()

The table is snakemq's ``snakemq_items(id_, queue_name, uuid, data, flags,
ttl)``, ``uuid`` being the lowercase hex of the message uuid. snakemq 1.6 on
Python 3 wrote it as ``bytes`` (a BLOB in SQLite); snakezmq writes text, and on
SQLite finds items by either spelling, so it reads, updates and deletes rows
that snakemq wrote.

Differences from snakemq's class (which does not run on SQLAlchemy 2):

- every writing method is durable when it returns (its own transaction,
  committed), except inside :meth:`SqlAlchemyQueuesStorage.batch`, which groups
  writes into one transaction (the messaging layer's ``write_batch``);
- thread-safe: calls are serialized by a lock, each takes a pooled connection,
  so a database connection that broke is replaced on the next call;
- an in-memory SQLite URL gets one shared connection (``StaticPool``) and every
  SQLite URL ``check_same_thread=False``, unless the caller passes them;
- database errors raise :class:`StorageError` (its cause is SQLAlchemy's);
- ``flags`` (unsigned 32-bit) above 2**31 - 1 are stored as the negative
  32-bit integer with the same bits, since ``flags INTEGER`` is signed in
  PostgreSQL and most databases; read back as the unsigned value.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from binascii import Error as HexError
from binascii import a2b_hex, b2a_hex
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

from sqlalchemy import (Column, ColumnElement, Float, Integer, LargeBinary, MetaData, String, Table,
                        bindparam, create_engine, delete, insert, or_, select, update)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from snakezmq.exceptions import StorageError
from snakezmq.message import MAX_UUID_LENGTH as MAX_UUID_LENGTH
from snakezmq.message import Message as Message
from snakezmq.storage import QueuesStorageBase as QueuesStorageBase
from snakezmq.storage import TtlItem

__all__ = ["SqlAlchemyQueuesStorage", "meta", "table"]

log = logging.getLogger("snakezmq.storage.sqla")

#: snakemq.messaging.MAX_IDENT_LENGTH (snakemq compatibility: snakemq.storage.sqla has it)
MAX_IDENT_LENGTH = 50
IN_CHUNK = 500  #: uuids per ``DELETE ... IN (...)``: within every database's parameter limit

meta = MetaData()

#: snakemq 1.6's table, column for column
table = Table("snakemq_items", meta,
              Column("id_", Integer, primary_key=True),  # insertion order
              Column("queue_name", String(MAX_IDENT_LENGTH)),
              Column("uuid", String(MAX_UUID_LENGTH * 2), unique=True),
              Column("data", LargeBinary),
              Column("flags", Integer),
              Column("ttl", Float))


def _engine_arguments(args: Sequence[Any], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """``kwargs`` for ``create_engine``, with what SQLite needs to be shared by threads."""
    url = args[0] if args else kwargs.get("url")
    if url is None or not make_url(url).get_backend_name() == "sqlite":
        return kwargs
    kwargs = dict(kwargs)
    connect_args = dict(kwargs.get("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)  # one storage, any thread (behind the lock)
    kwargs["connect_args"] = connect_args
    if make_url(url).database in (None, "", ":memory:"):
        kwargs.setdefault("poolclass", StaticPool)  # else each thread gets its own empty database
    return kwargs


class SqlAlchemyQueuesStorage(QueuesStorageBase):
    """Persistent queues in any database SQLAlchemy 2 reaches (table ``snakemq_items``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Parameters are passed to ``sqlalchemy.create_engine()``."""
        self.engine = create_engine(*args, **_engine_arguments(args, kwargs))
        self._lock = threading.RLock()
        self._batch: Optional[Connection] = None
        self._closed = False
        #: snakemq 1.6 wrote uuids as bytes: on SQLite they are BLOBs, looked up too
        self._blob_uuids = self.engine.dialect.name == "sqlite"

    # ------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection in a transaction: the open batch's, or one committed on exit."""
        with self._lock:
            if self._closed:
                raise StorageError("queue storage %s is closed" % (self,))
            try:
                if self._batch is not None:
                    yield self._batch
                else:
                    with self.engine.begin() as conn:
                        yield conn
            except SQLAlchemyError as exc:
                raise self._error(exc) from exc

    def _error(self, exc: SQLAlchemyError) -> StorageError:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = ""
        if "snakemq_items" in text and ("exist" in text or "no such table" in text):
            hint = "; call create_structures() once to create the table"
        return StorageError("queue storage %s: %s%s" % (self, text, hint))

    def _matches(self, key: Any) -> "ColumnElement[bool]":
        """The rows whose uuid is ``key`` (hex text, and on SQLite also hex bytes)."""
        found: "ColumnElement[bool]" = table.c.uuid == key
        if self._blob_uuids:
            found = or_(found, table.c.uuid == bindparam("blob_key", type_=LargeBinary))
        return found

    # ---------------------------------------------------------------- structure

    def create_structures(self) -> None:
        """Create the table (if it is not there)."""
        with self._connection() as conn:
            meta.create_all(conn)

    def drop_structures(self) -> None:
        """Drop the table and every item in it."""
        with self._connection() as conn:
            meta.drop_all(conn)

    # ---------------------------------------------------------------- interface

    def close(self) -> None:
        """Release the database connections (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.engine.dispose()

    def get_queues(self) -> List[str]:
        """:return: names of the queues that hold items."""
        with self._connection() as conn:
            rows = conn.execute(select(table.c.queue_name).group_by(table.c.queue_name)).all()
        return [row[0] for row in rows]

    def get_items(self, queue_name: str) -> List[Message]:
        """:return: the queue's items as new ``Message`` objects, in insertion order."""
        query = (select(table.c.uuid, table.c.data, table.c.ttl, table.c.flags)
                 .where(table.c.queue_name == queue_name).order_by(table.c.id_))
        with self._connection() as conn:
            rows = conn.execute(query).all()
        items = []
        for uuid, data, ttl, flags in rows:
            try:
                items.append(Message(data=bytes(data), ttl=ttl, flags=_unsigned(flags), uuid=a2b_hex(uuid)))
            except (TypeError, ValueError, HexError) as exc:
                raise StorageError("queue storage %s holds a malformed item in queue %r (uuid %r): %s"
                                   % (self, queue_name, uuid, exc)) from exc
        return items

    def push(self, queue_name: str, item: Message) -> None:
        """Append ``item``; durable on return unless inside :meth:`batch`."""
        with self._connection() as conn:
            conn.execute(insert(table).values(queue_name=queue_name, uuid=_hex(item.uuid),
                                              data=item.data, ttl=item.ttl, flags=_signed(item.flags)))

    def delete_items(self, items: Iterable[Message]) -> None:
        """Delete ``items`` by uuid, in one transaction (or the open batch)."""
        keys = [_hex(item.uuid) for item in items]
        if not keys:
            return
        with self._connection() as conn:
            for start in range(0, len(keys), IN_CHUNK):
                chunk = keys[start:start + IN_CHUNK]
                found: "ColumnElement[bool]" = table.c.uuid.in_(chunk)
                if self._blob_uuids:
                    found = or_(found, table.c.uuid.in_(
                        [bindparam(None, key.encode("ascii"), LargeBinary) for key in chunk]))
                conn.execute(delete(table).where(found))

    def delete_all(self) -> None:
        """Delete all items and queues."""
        with self._connection() as conn:
            conn.execute(delete(table))

    def update_items_ttl(self, items: Iterable[TtlItem]) -> None:
        """Store each item's current ``ttl``, in one transaction (or the open batch)."""
        params: List[Dict[str, Any]] = [{"key": _hex(item.uuid), "new_ttl": item.ttl} for item in items]
        if self._blob_uuids:
            for param in params:
                param["blob_key"] = param["key"].encode("ascii")
        if not params:
            return
        statement = (update(table).where(self._matches(bindparam("key")))
                     .values(ttl=bindparam("new_ttl")))
        with self._connection() as conn:
            conn.execute(statement, params)

    # ------------------------------------------------------------------- extras

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group the writes made inside the block into one transaction.

        Holds the storage for the calling thread: other threads' calls wait
        until the block ends. The writes become durable when the outermost block
        exits normally; an exception undoes the whole transaction (a nested
        block joins the outer one) and propagates.
        """
        with self._lock:
            if self._batch is not None:
                yield  # nested: part of the outer transaction
                return
            with self._connection() as conn:  # (committed on exit, rolled back on an exception)
                self._batch = conn
                try:
                    yield
                finally:
                    self._batch = None

    def __repr__(self) -> str:
        return "<%s %s%s>" % (self.__class__.__name__,
                              self.engine.url.render_as_string(hide_password=True),
                              " closed" if self._closed else "")


def _hex(uuid: bytes) -> str:
    return b2a_hex(uuid).decode("ascii")


def _signed(flags: int) -> int:
    """Unsigned 32-bit ``flags`` as the signed 32-bit integer with the same bits."""
    return flags - (1 << 32) if flags >= 1 << 31 else flags


def _unsigned(flags: int) -> int:
    return flags + (1 << 32) if flags < 0 else flags
