"""Named dataset versions in SQL: numbering them safely, and reading them back.

``SqlMetadataStore`` delegates its three dataset methods here; how numbers stay distinct under
concurrent writers is ``_numbering``'s.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Engine, Executable, insert, select

from conveyor.store import _checks
from conveyor.store._records import DatasetVersionRecord
from conveyor.store.sql import _rows
from conveyor.store.sql._engine import write_transaction
from conveyor.store.sql._numbering import NumberedQueries, Run, insert_numbered
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
        self._numbered = NumberedQueries(dataset_versions, _COLUMNS)

    def register(
        self, record: DatasetVersionRecord, artifact_row: dict[str, Any]
    ) -> DatasetVersionRecord:
        row = _rows.dataset_version_row(record)

        def action() -> int:
            with write_transaction(self._engine) as connection:
                connection.execute(self._insert_artifact, [artifact_row])
                number = self._numbered.next_number(connection, record.name)
                connection.execute(self._insert, {**row, "version": number})
            return number

        number = insert_numbered(self._run, action, "register a dataset version")
        return dataclasses.replace(record, version=number)

    def get(self, name: str, version: int | None) -> DatasetVersionRecord:
        _checks.dataset_version(version)

        def action() -> DatasetVersionRecord:
            with self._reader.connect() as connection:
                row, numbers = self._numbered.find(connection, name, version)
            if row is None:
                raise _checks.dataset_not_found(name, version, numbers)
            return DatasetVersionRecord(*row)

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
