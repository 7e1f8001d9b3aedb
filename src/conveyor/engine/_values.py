"""Values ↔ artifacts: materialize a step's output into the stores, and load one back.

Small outputs are kept inline in the metadata record instead of as files; everything else goes
to the content-addressed artifact store. Choosing the format is ``conveyor.data``'s job.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from conveyor.core import content_address
from conveyor.core._errors import ArtifactCorrupted
from conveyor.data import Dataset, Materialized, load, materialize
from conveyor.data._dataset import NAME as DATASET
from conveyor.data._dataset import persist
from conveyor.store import ArtifactRecord, ArtifactStore, open_artifact_store


class ValueStore:
    """Saves values as artifact records and loads them back."""

    def __init__(self, artifacts: ArtifactStore, inline_limit: int) -> None:
        self.artifacts = artifacts
        self.inline_limit = inline_limit

    def save(self, value: object, *, as_file: bool = False) -> ArtifactRecord:
        if type(value) is Dataset:
            value = persist(value, self.artifacts)  # rows that exist only now become parts
        return self.save_materialized(materialize(value), as_file=as_file)

    def save_materialized(self, item: Materialized, *, as_file: bool = False) -> ArtifactRecord:
        """``as_file`` writes a file even for a small value: for values read back by address
        alone, with no record at hand."""
        size = len(item.data)
        if not as_file and size <= self.inline_limit:
            address, inline = content_address(item.data), item.data
        else:
            address, inline = self.artifacts.put(item.data), None
        return ArtifactRecord(
            id=address,
            materializer=item.materializer,
            type_name=item.type_name,
            size=size,
            created_at=datetime.now(UTC),
            rows=item.rows,
            inline=inline,
            meta=item.meta,
        )

    def load(self, record: ArtifactRecord) -> object:
        data = record.inline if record.inline is not None else self.artifacts.get(record.id)
        if record.inline is not None and content_address(data) != record.id:
            raise ArtifactCorrupted(record.id, content_address(data))
        if record.materializer == DATASET:
            return Dataset.from_manifest(data, self.artifacts)  # its parts are in this store
        return load(record.materializer, record.type_name, data, record.meta)

    def is_available(self, record: ArtifactRecord) -> bool:
        return record.inline is not None or self.artifacts.exists(record.id)


@functools.lru_cache(maxsize=8)
def open_value_store(artifacts_url: str, inline_limit: int) -> ValueStore:
    """One value store per artifact location in a worker process (opened on first task)."""
    return ValueStore(open_artifact_store(artifacts_url), inline_limit)
