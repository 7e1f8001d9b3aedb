"""Alembic environment for the metadata schema, shipped inside the package.

``conveyor.store.sql._migrate`` runs it with an open connection in ``config.attributes``; with
``sqlalchemy.url`` set instead (``alembic revision --autogenerate`` against a scratch database)
it opens its own. Schema changes go in ``versions/``, never here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from conveyor.store.sql._tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER a table by copying it
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine(url)
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


_main()
