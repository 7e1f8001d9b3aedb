"""The audit log in SQL.

``SqlMetadataStore`` delegates its AuditStore methods here, and every audited change (in
``_registry`` and ``_access``) calls ``write`` on its own connection, inside its own
transaction: the entry commits or rolls back with the change.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, insert, or_, select

from conveyor.core._actor import current_actor
from conveyor.store import _access_checks
from conveyor.store._access_records import AuditEntry
from conveyor.store.sql._engine import write_transaction
from conveyor.store.sql._numbering import Run
from conveyor.store.sql._tables import audit_log

_AUDIT = [audit_log.c[f.name] for f in dataclasses.fields(AuditEntry)]
_a = audit_log.c
_INSERT = insert(audit_log)


def write(connection: Connection, entry: AuditEntry) -> AuditEntry:
    """Check ``entry`` and insert it in the transaction ``connection`` is in; returns it with
    its id. A refused entry raises inside the transaction, so the change goes too."""
    checked = _access_checks.audit_entry(entry)
    row = {f.name: getattr(checked, f.name) for f in dataclasses.fields(checked)}
    del row["id"]  # assigned by the database
    result = connection.execute(_INSERT, row)
    return dataclasses.replace(checked, id=int(result.inserted_primary_key[0]))  # type: ignore[index]


class SqlAudit:
    """The audit statements of one store."""

    def __init__(self, engine: Engine, reader: Engine, run: Run) -> None:
        self._engine = engine
        self._reader = reader
        self._run = run

    def record(self, entry: AuditEntry) -> AuditEntry:
        if entry.actor == "":
            entry = dataclasses.replace(entry, actor=current_actor())
        _access_checks.audit_entry(entry)  # refused before a transaction is opened

        def action() -> AuditEntry:
            with write_transaction(self._engine) as connection:
                return write(connection, entry)

        result: AuditEntry = self._run(action, "record an audit entry")
        return result

    def query(
        self,
        actor: str | None,
        target: str | None,
        action: str | None,
        since: datetime | None,
        limit: int,
    ) -> list[AuditEntry]:
        since = _access_checks.audit_query(since, limit)
        query = select(*_AUDIT)
        if actor is not None:
            query = query.where(_a.actor == actor)
        if target is not None:
            query = query.where(_itself_or_under(_a.target, target, "@"))
        if action is not None:
            query = query.where(_itself_or_under(_a.action, action, "."))
        if since is not None:
            query = query.where(_a.at >= since)
        query = query.order_by(_a.id.desc()).limit(limit)

        def read() -> list[AuditEntry]:
            with self._reader.connect() as connection:
                return [AuditEntry(*row) for row in connection.execute(query)]

        result: list[AuditEntry] = self._run(read, "read the audit log")
        return result


def _itself_or_under(column: Any, value: str, separator: str) -> ColumnElement[bool]:
    """``column`` equal to ``value`` or starting with ``value + separator``, case-sensitively
    on every backend (LIKE ignores case on SQLite), as ``_access_checks.matches`` reads it."""
    head = value + separator
    return or_(
        column == value,
        and_(column.startswith(head, autoescape=True), func.substr(column, 1, len(head)) == head),
    )
