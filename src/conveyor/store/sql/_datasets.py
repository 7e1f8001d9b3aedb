"""Named dataset versions in SQL: numbering them safely, and reading them back.

``SqlMetadataStore`` delegates its three dataset methods here; how numbers stay distinct under
concurrent writers is ``_numbering``'s.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Engine, Executable, bindparam, func, insert, select

from conveyor.store import _checks
from conveyor.store._records import DatasetVersionRecord
from conveyor.store.sql import _rows
from conveyor.store.sql._engine import write_transaction
from conveyor.store.sql._numbering import MAX_VERSION, Run, insert_numbered
from conveyor.store.sql._tables import dataset_versions

_COLUMNS = _rows.DATASET_VERSION_COLUMNS
_c = dataset_versions.c


class SqlDatasetVersions:
    """The dataset-version queries of one store, built once and reused."""

    def __init__(
        self, engine: Engine, reader: Engine, run: Run, insert_artifact: Executable
    ) -> None:
        self._engine = engine
        self._reader = reader
        self._run = run
        self._insert_artifact = insert_artifact
        self._insert = insert(dataset_versions)
        self._latest_number = select(func.max(_c.version)).where(_c.name == bindparam("name"))
        self._latest = (
            select(*_COLUMNS)
            .where(_c.name == bindparam("name"))
            .order_by(_c.version.desc())
            .limit(1)
        )
        self._exact = select(*_COLUMNS).where(
            _c.name == bindparam("name"), _c.version == bindparam("version")
        )
        self._numbers = select(_c.version).where(_c.name == bindparam("name")).order_by(_c.version)

    def register(
        self, record: DatasetVersionRecord, artifact_row: dict[str, Any]
    ) -> DatasetVersionRecord:
        row = _rows.dataset_version_row(record)

        def action() -> int:
            with write_transaction(self._engine) as connection:
                connection.execute(self._insert_artifact, [artifact_row])
                latest = connection.execute(self._latest_number, {"name": record.name}).scalar()
                number = int(latest or 0) + 1
                connection.execute(self._insert, {**row, "version": number})
            return number

        number = insert_numbered(self._run, action, "register a dataset version")
        return dataclasses.replace(record, version=number)

    def get(self, name: str, version: int | None) -> DatasetVersionRecord:
        _checks.dataset_version(version)

        def action() -> DatasetVersionRecord:
            with self._reader.connect() as connection:
                row = None
                if version is None:
                    row = connection.execute(self._latest, {"name": name}).first()
                elif 1 <= version <= MAX_VERSION:
                    row = connection.execute(
                        self._exact, {"name": name, "version": version}
                    ).first()
                if row is not None:
                    return DatasetVersionRecord(*row)
                numbers = connection.execute(self._numbers, {"name": name}).scalars().all()
            raise _checks.dataset_not_found(name, version, numbers)

        result: DatasetVersionRecord = self._run(action, "read a dataset version")
        return result

    def list(self, name: str | None) -> list[DatasetVersionRecord]:
        query = select(*_COLUMNS)
        if name is not None:
            query = query.where(_c.name == name)

        def action() -> list[DatasetVersionRecord]:
            with self._reader.connect() as connection:
                records = [DatasetVersionRecord(*row) for row in connection.execute(query)]
            # Sorted here, not by ORDER BY: a database's collation may not sort by code point.
            return sorted(records, key=lambda r: (r.name, r.version))

        result: list[DatasetVersionRecord] = self._run(action, "list dataset versions")
        return result
