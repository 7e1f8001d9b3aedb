"""Model versions, aliases with their history, and gate decisions in SQL.

``SqlMetadataStore`` delegates its RegistryStore methods here. Versions are numbered like
dataset versions (``_numbering``). An alias move is one transaction that first locks the
model's first version row, so two moves of one model on PostgreSQL take turns and each records
the state it really replaced (SQLite's write lock does this on its own). Every change writes
its audit entry (``_audit``) in its own transaction.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, Engine, bindparam, delete, func, insert, select

from conveyor.store import _audit_entries, _checks
from conveyor.store._tracking_records import (
    AliasMove,
    GateDecision,
    ModelSummary,
    ModelVersionRecord,
)
from conveyor.store.sql import _audit, _rows
from conveyor.store.sql._engine import dialect_insert, write_transaction
from conveyor.store.sql._numbering import MAX_VERSION, NumberedQueries, Run, insert_numbered
from conveyor.store.sql._tables import (
    alias_moves,
    artifacts,
    gate_decisions,
    model_aliases,
    model_versions,
)

_versions = model_versions.c
_aliases = model_aliases.c
_moves = alias_moves.c
_decisions = gate_decisions.c
_NAME: BindParameter[str] = bindparam("name")


class SqlRegistry:
    """The registry statements of one store, built once and reused."""

    def __init__(self, engine: Engine, reader: Engine, run: Run) -> None:
        self._engine = engine
        self._reader = reader
        self._run = run
        columns = _rows.MODEL_VERSION_COLUMNS
        self._artifact_exists = select(artifacts.c.id).where(artifacts.c.id == bindparam("id"))
        self._insert_version = insert(model_versions)
        self._numbered = NumberedQueries(model_versions, columns)
        self._all_versions = (
            select(*columns).where(_versions.name == _NAME).order_by(_versions.version)
        )
        self._lock_model = (
            select(_versions.version)
            .where(_versions.name == _NAME)
            .order_by(_versions.version)
            .limit(1)
            .with_for_update()  # rendered on PostgreSQL only; SQLite has locked the database
        )
        self._holder = select(_aliases.version).where(
            _aliases.name == _NAME, _aliases.alias == bindparam("alias")
        )
        upsert: Any = dialect_insert(engine.dialect.name)
        point = upsert(model_aliases)
        self._point_alias = point.on_conflict_do_update(
            index_elements=["name", "alias"],
            set_={"version": point.excluded.version, "updated_at": point.excluded.updated_at},
        )
        self._remove_alias = delete(model_aliases).where(
            _aliases.name == _NAME, _aliases.alias == bindparam("alias")
        )
        self._insert_move = insert(alias_moves)
        self._alias_map = select(_aliases.alias, _aliases.version).where(_aliases.name == _NAME)
        self._insert_decision = insert(gate_decisions)

    # -- versions -------------------------------------------------------------------------

    def register(self, record: ModelVersionRecord) -> ModelVersionRecord:
        record = _checks.new_model_version(record)
        row = _rows.model_version_row(record)

        def action() -> int:
            with write_transaction(self._engine) as connection:
                if (
                    connection.execute(self._artifact_exists, {"id": record.artifact_id}).first()
                    is None
                ):
                    raise _checks.unknown_model_artifact(record.name, record.artifact_id)
                number = self._numbered.next_number(connection, record.name)
                connection.execute(self._insert_version, {**row, "version": number})
                numbered = dataclasses.replace(record, version=number)
                _audit.write(connection, _audit_entries.model_registered(numbered))
            return number

        number = insert_numbered(self._run, action, "register a model version")
        return dataclasses.replace(record, version=number)

    def get(self, name: str, version: int | None) -> ModelVersionRecord:
        _checks.version_number(version, "model")

        def action() -> ModelVersionRecord:
            with self._reader.connect() as connection:
                row, numbers = self._numbered.find(connection, name, version)
            if row is None:
                raise _checks.model_not_found(name, version, numbers)
            return _rows.model_version_record(row)

        result: ModelVersionRecord = self._run(action, "read a model version")
        return result

    def list_versions(self, name: str) -> list[ModelVersionRecord]:
        def action() -> list[ModelVersionRecord]:
            with self._reader.connect() as connection:
                found = connection.execute(self._all_versions, {"name": name})
                return [_rows.model_version_record(row) for row in found]

        records: list[ModelVersionRecord] = self._run(action, "list model versions")
        if not records:
            raise _checks.model_not_found(name, None, ())
        return records

    def list_models(self) -> list[ModelSummary]:
        versions = select(
            _versions.name,
            func.max(_versions.version),
            func.count(),
            func.max(_versions.created_at),
        ).group_by(_versions.name)
        moves = select(_moves.name, func.max(_moves.moved_at)).group_by(_moves.name)
        aliases = select(_aliases.name, _aliases.alias, _aliases.version)

        def action() -> list[ModelSummary]:
            with self._reader.connect() as connection:
                found = connection.execute(versions).all()
                moved: dict[str, datetime] = dict(connection.execute(moves).all())
                alias_rows = connection.execute(aliases).all()
            by_name: dict[str, dict[str, int]] = {}
            for name, alias, version in sorted(alias_rows, key=lambda r: (r[0], r[1])):
                by_name.setdefault(name, {})[alias] = version
            summaries = [
                ModelSummary(
                    name=name,
                    latest_version=latest,
                    versions=count,
                    aliases=by_name.get(name, {}),
                    updated_at=max(created, moved.get(name, created)),
                )
                for name, latest, count, created in found
            ]
            return sorted(summaries, key=lambda s: s.name)  # by code point, whatever the collation

        result: list[ModelSummary] = self._run(action, "list models")
        return result

    # -- aliases --------------------------------------------------------------------------

    def aliases(self, name: str) -> dict[str, int]:
        def action() -> dict[str, int]:
            with self._reader.connect() as connection:
                found = connection.execute(self._alias_map, {"name": name}).all()
            return dict(sorted(found))

        result: dict[str, int] = self._run(action, "read aliases")
        return result

    def move_alias(self, move: AliasMove) -> AliasMove:
        move = _checks.alias_move(move)
        keys = {"name": move.name, "alias": move.alias}

        def action() -> AliasMove:
            with write_transaction(self._engine) as connection:
                self._check_target(connection, move)
                previous = connection.execute(self._holder, keys).scalar()
                if move.version is None:
                    if previous is None:
                        raise _checks.no_alias_to_remove(move.name, move.alias)
                    connection.execute(self._remove_alias, keys)
                else:
                    connection.execute(
                        self._point_alias,
                        {**keys, "version": move.version, "updated_at": move.moved_at},
                    )
                stored = dataclasses.replace(move, previous=previous)
                result = connection.execute(self._insert_move, _rows.alias_move_row(stored))
                seq = result.inserted_primary_key[0]  # type: ignore[index]
                stored = dataclasses.replace(stored, seq=int(seq))
                _audit.write(connection, _audit_entries.alias_moved(stored))
            return stored

        result: AliasMove = self._run(action, "move an alias")
        return result

    def alias_history(self, name: str, alias: str | None) -> list[AliasMove]:
        query = select(*_rows.ALIAS_MOVE_COLUMNS).where(_moves.name == name)
        if alias is not None:
            query = query.where(_moves.alias == alias)

        def action() -> list[AliasMove]:
            with self._reader.connect() as connection:
                found = connection.execute(query.order_by(_moves.seq))
                return [_rows.alias_move_record(row) for row in found]

        result: list[AliasMove] = self._run(action, "read alias history")
        return result

    def _check_target(self, connection: Connection, move: AliasMove) -> None:
        """Lock the model's aliases for this transaction and check the version exists."""
        first = connection.execute(self._lock_model, {"name": move.name}).scalar()
        if first is None:
            raise _checks.model_not_found(move.name, move.version, ())
        if move.version is None:
            return
        found, numbers = self._numbered.find(connection, move.name, move.version)
        if found is None:
            raise _checks.model_not_found(move.name, move.version, numbers)

    # -- gate decisions -------------------------------------------------------------------

    def record_gate_decision(self, decision: GateDecision) -> GateDecision:
        decision = _checks.gate_decision(decision)
        row = _rows.gate_decision_row(decision)

        def action() -> int:
            with write_transaction(self._engine) as connection:
                result = connection.execute(self._insert_decision, row)
                decision_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                stored = dataclasses.replace(decision, id=decision_id)
                _audit.write(connection, _audit_entries.gate_decided(stored))
            return decision_id

        decision_id: int = self._run(action, "record a gate decision")
        return dataclasses.replace(decision, id=decision_id)

    def gate_decisions(self, name: str, version: int | None) -> list[GateDecision]:
        _checks.version_number(version, "model")
        if version is not None and not 1 <= version <= MAX_VERSION:
            return []  # no such version can be stored
        query = select(*_rows.GATE_DECISION_COLUMNS).where(_decisions.name == name)
        if version is not None:
            query = query.where(_decisions.version == version)

        def action() -> list[GateDecision]:
            with self._reader.connect() as connection:
                found = connection.execute(query.order_by(_decisions.id))
                return [_rows.gate_decision_record(row) for row in found]

        result: list[GateDecision] = self._run(action, "read gate decisions")
        return result
