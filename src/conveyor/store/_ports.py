"""The storage ports, as Protocols. Adapters live beside this module; callers see only these.

No adapter code here, and nothing that imports SQLAlchemy or fsspec.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Protocol

from conveyor.store._records import (
    ArtifactRecord,
    DatasetVersionRecord,
    RunRecord,
    RunStatus,
    StepRunRecord,
    WriteBatch,
)


class ArtifactStore(Protocol):
    """Blobs by content address. Writes are atomic; identical bytes are stored once."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its address (``sha256:<hex>``)."""
        ...

    def get(self, address: str) -> bytes:
        """The bytes at ``address``, verified against it; ArtifactNotFound / ArtifactCorrupted."""
        ...

    def exists(self, address: str) -> bool: ...


class MetadataStore(Protocol):
    """Runs, step runs, artifacts and their lineage; named dataset versions.

    Every method is safe to call from several threads and several processes at once.
    """

    def create_run(self, run: RunRecord) -> None: ...

    def commit(self, batch: WriteBatch) -> None:
        """Write the batch in one transaction: artifacts if absent, step runs with their links."""
        ...

    def heartbeat(self, run_id: str, at: datetime) -> None: ...

    def finish_run(
        self, run_id: str, status: RunStatus, finished_at: datetime, error: str | None = None
    ) -> None: ...

    def get_run(self, run_id: str) -> RunRecord:
        """The run, or RunNotFound. A unique prefix of an id is accepted."""
        ...

    def list_runs(
        self, *, pipeline: str | None = None, status: RunStatus | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Newest first."""
        ...

    def step_runs(self, run_id: str) -> list[StepRunRecord]:
        """The run's step runs, with their input and output links, in the order they finished."""
        ...

    def find_cached(self, cache_key: str) -> StepRunRecord | None:
        """The newest succeeded step run with this key, or None."""
        ...

    def last_step_run(self, pipeline: str, step: str) -> StepRunRecord | None:
        """The newest succeeded or failed step run of ``step`` in ``pipeline`` that has a key."""
        ...

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """The artifact, or ArtifactNotFound. A unique prefix of an id is accepted."""
        ...

    def get_artifacts(self, artifact_ids: Collection[str]) -> dict[str, ArtifactRecord]:
        """The artifacts with these exact ids; ids not in the store are left out."""
        ...

    def producers(self, artifact_id: str) -> list[StepRunRecord]:
        """Succeeded or cached step runs that output the artifact, oldest first."""
        ...

    def register_dataset_version(
        self,
        name: str,
        artifact: ArtifactRecord,
        *,
        created_at: datetime,
        rows: int | None = None,
        run_id: str | None = None,
        description: str = "",
        meta: Mapping[str, object] | None = None,
    ) -> DatasetVersionRecord:
        """Record ``artifact`` (inserted if absent) as the next version of dataset ``name``.

        Numbers are assigned atomically: registrations of one name from several threads or
        processes at once get distinct, consecutive numbers. A name is 1-200 characters of
        letters, digits, ``_``, ``.`` and ``-``; anything else is a ConveyorError.
        """
        ...

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersionRecord:
        """The version (None: the newest), or DatasetNotFound naming the versions there are."""
        ...

    def list_dataset_versions(self, name: str | None = None) -> list[DatasetVersionRecord]:
        """Every version of ``name`` (None: of every dataset), by name, then oldest first."""
        ...

    def close(self) -> None: ...
