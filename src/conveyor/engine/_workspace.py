"""A workspace: the metadata store and value store a run writes to, opened from settings."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.core import Settings
from conveyor.engine._values import ValueStore
from conveyor.store import MetadataStore, open_artifact_store, open_metadata_store


@dataclass(frozen=True)
class Workspace:
    settings: Settings
    metadata: MetadataStore
    values: ValueStore

    @classmethod
    def open(cls, settings: Settings) -> Workspace:
        metadata = open_metadata_store(settings.db_url)
        values = ValueStore(open_artifact_store(settings.artifacts), settings.inline_limit)
        return cls(settings, metadata, values)

    def close(self) -> None:
        self.metadata.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
