"""Connecting: the engine for a URL, SQLite's pragmas and transaction mode, retries, and the
translation of SQLAlchemy errors into StoreError.

Knows nothing of the schema or the queries.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError, StatementError
from sqlalchemy.pool import StaticPool

from conveyor.core._errors import StoreError
from conveyor.store._checks import json_dumps, not_json

T = TypeVar("T")

_ATTEMPTS = 6  # on top of SQLite's own 30 s busy wait; the backoff below adds ~3 s at most


class _NotJson(ValueError):
    """Raised while binding a JSON column, so translate() can say which input was wrong."""


def _json_serializer(value: object) -> str:
    try:
        return json_dumps(value)
    except (TypeError, ValueError) as exc:
        raise _NotJson(str(exc)) from exc


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL; bare ``postgresql://`` means psycopg 3, the driver conveyor ships."""
    try:
        parsed = sa.make_url(url)
    except SQLAlchemyError as exc:
        raise StoreError(f"{url!r} is not a database URL: {exc}", url=url) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


# The backends whose dialect gives an INSERT with ON CONFLICT clauses, which the stores use.
DIALECTS = ("sqlite", "postgresql")


def dialect_insert(dialect: str) -> Any:
    """The ``insert`` of ``sqlalchemy.dialects.<dialect>``, imported on first use: importing
    the PostgreSQL dialect costs a tenth of a second that a SQLite store does not need."""
    import importlib

    return importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


# Connections kept open for reuse. The pool opens them only as threads need them at once; past
# SQLAlchemy's default of 5, every further one was opened and closed around each call, which a
# team server's worker threads (a connection each) paid on every request.
_POOL: Final = {"pool_size": 16, "max_overflow": 32}


def create_engine(url: URL) -> Engine:
    """An engine with a thread-safe pool; for SQLite also its folder, WAL and a busy timeout."""
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, json_serializer=_json_serializer, **_POOL)
    memory = is_sqlite_memory(url)
    if not memory and url.database:
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of {url.database}: {exc}", url=safe_url(url)
            ) from exc
    engine = sa.create_engine(
        url,
        json_serializer=_json_serializer,
        connect_args={"check_same_thread": False},
        # One shared connection for an in-memory database (each connection would be a new,
        # empty database); SqlMetadataStore serialises access to it.
        **({"poolclass": StaticPool} if memory else _POOL),
    )
    event.listen(engine, "connect", _sqlite_connect)
    return engine


def read_engine(engine: Engine) -> Engine:
    """The engine to read with: no transaction around reads.

    Each SELECT sees a consistent snapshot, and links are committed with their step run, so a
    read needs no transaction; on PostgreSQL leaving it out saves the BEGIN and ROLLBACK round
    trips. SQLite connections are in autocommit at the driver already (``_sqlite_connect``).
    """
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that commits on success and rolls back on error.

    On SQLite it opens with BEGIN IMMEDIATE, taking the write lock at once: a writer then waits
    in the busy handler instead of failing when another process wrote since its first read.
    The BEGIN goes straight to the driver; a SQLAlchemy "begin" event would do the same but
    puts every execution on the slower event-dispatching path.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # driver_connection is typed for every dialect (Any | None); here it is sqlite3's.
            driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
            try:
                driver.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:  # wrapped as SQLAlchemy would, for retrying()
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        with connection.begin():
            yield connection


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Autocommit at the driver: sqlite3 would otherwise BEGIN (deferred) on its own before DML.
    # Reads then run without a transaction (see read_engine); writes BEGIN IMMEDIATE in
    # write_transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=30000")  # first, so the WAL switch waits too
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; commits skip the fsync
        # Checkpoint (and fsync) every ~40 MB of WAL rather than 4 MB: a run's many small
        # commits rewrite the same index pages, which a checkpoint then writes back only once.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _is_transient(exc: SQLAlchemyError) -> bool:
    """Worth retrying: SQLite busy or locked, or a pooled connection that had gone stale."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError) or not isinstance(exc.orig, sqlite3.Error):
        return False
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


def retrying(action: Callable[[], T], url: str, what: str) -> T:
    """Run ``action`` (one whole transaction), retrying transient failures with backoff, and
    translate any SQLAlchemy error into StoreError."""
    for attempt in range(_ATTEMPTS):
        try:
            return action()
        except _NotJson as exc:  # some drivers serialise JSON themselves, outside SQLAlchemy
            raise not_json("params, targets, key_parts and meta", exc) from exc
        except SQLAlchemyError as exc:
            if attempt + 1 < _ATTEMPTS and _is_transient(exc):
                time.sleep(0.05 * 2**attempt * (1 + random.random()))
                continue
            raise translate(exc, url, what) from exc
    raise AssertionError("unreachable")  # the loop returns or raises


def translate(exc: SQLAlchemyError, url: str, what: str) -> StoreError:
    """The StoreError for a failure of ``what``; the driver's message, never its types."""
    orig: Any = getattr(exc, "orig", None)
    if isinstance(exc, StatementError) and isinstance(orig, _NotJson):
        return not_json("params, targets, key_parts and meta", orig)
    detail = str(orig if orig is not None else exc).strip().splitlines()
    message = detail[0] if detail else type(exc).__name__
    return StoreError(
        f"metadata store at {url} failed to {what}: {message}",
        url=url,
        operation=what,
        error=type(orig if orig is not None else exc).__name__,
    )
