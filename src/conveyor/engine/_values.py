"""Values ↔ artifacts: materialize a step's output into the stores, and load one back.

Small outputs are kept inline in the metadata record instead of as files; everything else goes
to the content-addressed artifact store. With encryption at rest nothing derived from a value's
contents goes to the metadata store, which is not encrypted: no value inline, and no profile
(its ranges, quantiles and most frequent values) in the record. Choosing the format is
``conveyor.data``'s job.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from conveyor.core import Settings, content_address, load_settings
from conveyor.core._errors import ArtifactCorrupted, StoreError
from conveyor.data import Dataset, Materialized, load, materialize
from conveyor.data._dataset import NAME as DATASET
from conveyor.data._dataset import persist
from conveyor.store import (
    ArtifactRecord,
    ArtifactStore,
    EncryptedArtifactStore,
    FsspecArtifactStore,
    open_artifact_store,
)

# Entries of a materializer's meta made from the values themselves. Without them a profile is
# computed from the (decrypted) artifact when asked for, so only speed is lost.
_FROM_CONTENTS = ("profile", "profile_error")


class ValueStore:
    """Saves values as artifact records and loads them back."""

    def __init__(self, artifacts: ArtifactStore, inline_limit: int) -> None:
        self.artifacts = artifacts
        # an inline value would rest in plaintext in the metadata store: none when encrypting,
        # whatever the limit a caller (or an older worker's task) passed
        self.is_encrypted = isinstance(artifacts, EncryptedArtifactStore)
        self.inline_limit = 0 if self.is_encrypted else inline_limit
        # A large table is written where the store can take the file by a rename: no copy of
        # its bytes in memory. Only a local, unencrypted store has such a place.
        self._files = artifacts if isinstance(artifacts, FsspecArtifactStore) else None
        self._staging = self._files.staging_folder() if self._files is not None else None

    def save(self, value: object, *, as_file: bool = False) -> ArtifactRecord:
        if type(value) is Dataset:
            value = persist(value, self.artifacts)  # rows that exist only now become parts
        return self.save_materialized(materialize(value, folder=self._staging), as_file=as_file)

    def save_materialized(self, item: Materialized, *, as_file: bool = False) -> ArtifactRecord:
        """``as_file`` writes a file even for a small value: for values read back by address
        alone, with no record at hand. An item in a file (``item.file``) is consumed."""
        if item.file is not None:
            return self._save_file(item, item.file, as_file=as_file)
        size = len(item.data)
        if not as_file and size <= self.inline_limit:
            address, inline = content_address(item.data), item.data
        else:
            address, inline = self.artifacts.put(item.data), None
        return self._record(item, address, size, inline)

    def _save_file(self, item: Materialized, path: str, *, as_file: bool) -> ArtifactRecord:
        files = self._files
        try:
            size = os.path.getsize(path)
            if files is None or (not as_file and size <= self.inline_limit):
                with open(path, "rb") as f:
                    data = f.read()
                os.unlink(path)
                return self.save_materialized(replace(item, data=data, file=None), as_file=as_file)
        except OSError as exc:
            raise StoreError(f"could not read a stored output back from {path}: {exc}") from exc
        return self._record(item, files.put_file(path), size, None)

    def _record(
        self, item: Materialized, address: str, size: int, inline: bytes | None
    ) -> ArtifactRecord:
        return ArtifactRecord(
            id=address,
            materializer=item.materializer,
            type_name=item.type_name,
            size=size,
            created_at=datetime.now(UTC),
            rows=item.rows,
            inline=inline,
            meta=_without_contents(item.meta) if self.is_encrypted else item.meta,
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


def _without_contents(meta: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in meta.items() if k not in _FROM_CONTENTS}


def open_artifacts(settings: Settings) -> ArtifactStore:
    """The artifact store ``settings`` name, encrypting when they hold a key."""
    return open_artifact_store(
        settings.artifacts,
        key=settings.encryption_key,
        old_keys=settings.encryption_old_keys,
        token=settings.token,
    )


@functools.lru_cache(maxsize=8)
def open_value_store(
    artifacts_url: str, inline_limit: int, settings: Settings | None = None
) -> ValueStore:
    """One value store per artifact location in a worker process (opened on first task).

    The keys come from ``settings`` (the run's); without them, from this process's environment
    and ``conveyor.toml``, as a worker started by the runner inherits them, so that a worker
    never writes plaintext into a store its run encrypts.
    """
    if settings is None:
        settings = load_settings(os.environ, Path.cwd())
    return ValueStore(open_artifacts(settings.with_changes(artifacts=artifacts_url)), inline_limit)
