"""L1 storage: the ports (Protocols), their records, and the adapters behind them.

``open_metadata_store`` and ``open_artifact_store`` pick an adapter by URL; the SQL adapter
(SQLAlchemy, Alembic) is imported only when a SQL URL is opened, so ``import conveyor`` stays light.
"""

from __future__ import annotations

from conveyor.store._artifacts import FsspecArtifactStore as FsspecArtifactStore
from conveyor.store._artifacts import open_artifact_store as open_artifact_store
from conveyor.store._checks import dataset_name as check_dataset_name
from conveyor.store._memory import MemoryArtifactStore as MemoryArtifactStore
from conveyor.store._memory import MemoryMetadataStore as MemoryMetadataStore
from conveyor.store._ports import ArtifactStore as ArtifactStore
from conveyor.store._ports import MetadataStore as MetadataStore
from conveyor.store._records import RUN_STATUSES as RUN_STATUSES
from conveyor.store._records import STEP_STATUSES as STEP_STATUSES
from conveyor.store._records import ArtifactLink as ArtifactLink
from conveyor.store._records import ArtifactRecord as ArtifactRecord
from conveyor.store._records import DatasetVersionRecord as DatasetVersionRecord
from conveyor.store._records import RunRecord as RunRecord
from conveyor.store._records import RunStatus as RunStatus
from conveyor.store._records import StepRunRecord as StepRunRecord
from conveyor.store._records import StepStatus as StepStatus
from conveyor.store._records import WriteBatch as WriteBatch


def open_metadata_store(url: str) -> MetadataStore:
    """The metadata store at a SQLAlchemy URL (``sqlite:///…``, ``postgresql+psycopg://…``),
    created or migrated to the current schema on first use; ``memory://`` for tests."""
    if url == "memory://":
        return MemoryMetadataStore()
    from conveyor.store.sql import SqlMetadataStore

    return SqlMetadataStore.open(url)


__all__ = [
    "RUN_STATUSES",
    "STEP_STATUSES",
    "ArtifactLink",
    "ArtifactRecord",
    "ArtifactStore",
    "DatasetVersionRecord",
    "FsspecArtifactStore",
    "MemoryArtifactStore",
    "MemoryMetadataStore",
    "MetadataStore",
    "RunRecord",
    "RunStatus",
    "StepRunRecord",
    "StepStatus",
    "WriteBatch",
    "check_dataset_name",
    "open_artifact_store",
    "open_metadata_store",
]
