"""Bringing a database to the current schema.

Every open reads ``alembic_version`` with one plain query and compares it with HEAD_REVISION;
only a database that is behind pays for importing Alembic and upgrading, under a lock held
across processes, and an empty one is created at head from ``_tables`` directly. The schema's
history lives in ``migrations/versions``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from conveyor.core._errors import StoreError
from conveyor.store.sql._engine import is_sqlite_memory, safe_url, write_transaction

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION = "0008"  # the newest file in migrations/versions; a test keeps them in step
MIGRATIONS = Path(__file__).with_name("migrations")

# pg_advisory_lock takes a 64-bit key; this one is "conveyor" in ASCII, to stay clear of
# keys other applications sharing the database might use.
_PG_LOCK_KEY = int.from_bytes(b"conveyor", "big") & 0x7FFF_FFFF_FFFF_FFFF

_VERSION = text("SELECT version_num FROM alembic_version")


def current_revision(engine: Engine) -> str | None:
    """The schema revision of the database, or None if it has none yet (or cannot be read:
    the upgrade that follows will then report why)."""
    try:
        with engine.connect() as connection:
            version = connection.execute(_VERSION).scalar()
    except SQLAlchemyError:
        return None
    return None if version is None else str(version)


def migrate(engine: Engine, url: URL) -> None:
    """Upgrade the database to HEAD_REVISION unless it is there already."""
    if current_revision(engine) == HEAD_REVISION:
        return
    with _migration_lock(engine, url):
        _upgrade(engine, url)


def alembic_config() -> Config:
    """Alembic's configuration for the shipped migrations; no alembic.ini needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(engine: Engine, url: URL) -> None:
    # One transaction, which on SQLite also holds the write lock from its first statement:
    # a second process waits, then finds the schema at head and does nothing.
    with write_transaction(engine) as connection:
        found = _stored_revision(connection)
        if found is None and not _holds_conveyor_tables(connection):
            _create_at_head(connection)
            return
    _upgrade_with_alembic(engine, url)


def _create_at_head(connection: Connection) -> None:
    """An empty database gets the head schema in one go, stamped with HEAD_REVISION: what
    replaying every migration builds (a test compares the two), without importing Alembic or
    replaying history; most stores are opened for the first time by a short command."""
    from conveyor.store.sql._tables import metadata

    metadata.create_all(connection, checkfirst=False)
    version_table = Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    version_table.create(connection)
    connection.execute(version_table.insert().values(version_num=HEAD_REVISION))


def _holds_conveyor_tables(connection: Connection) -> bool:
    from conveyor.store.sql._tables import metadata

    present = set(inspect(connection).get_table_names())
    return any(name in present for name in metadata.tables)


def _upgrade_with_alembic(engine: Engine, url: URL) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = alembic_config()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    try:
        with write_transaction(engine) as connection:
            found = _stored_revision(connection)
            if found is not None and found not in known:
                raise StoreError(
                    f"the database at {safe_url(url)} has schema revision {found}, newer than "
                    f"this conveyor knows ({HEAD_REVISION}); upgrade conveyor to use it",
                    url=safe_url(url),
                    revision=found,
                    head=HEAD_REVISION,
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(
            f"could not migrate the database at {safe_url(url)}: {exc}", url=safe_url(url)
        ) from exc


def _stored_revision(connection: Connection) -> str | None:
    # Looked up rather than queried: on PostgreSQL a failed query would abort the transaction.
    if not inspect(connection).has_table("alembic_version"):
        return None
    version = connection.execute(_VERSION).scalar()
    return None if version is None else str(version)


@contextlib.contextmanager
def _migration_lock(engine: Engine, url: URL) -> Iterator[None]:
    """Held while migrating, so two processes opening a fresh store do not both create it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            # Session-level lock on its own connection, so it outlives the migration's commit.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                connection.commit()
        return
    if engine.dialect.name == "sqlite" and not is_sqlite_memory(url) and url.database:
        try:
            import fcntl
        except ImportError:  # Windows: the BEGIN IMMEDIATE in _upgrade serialises on its own
            yield
            return
        with open(f"{url.database}.migrate.lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes
            yield
        return
    yield
