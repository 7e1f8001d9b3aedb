"""The metadata schema as SQLAlchemy Core tables: what the current code expects to find.

Migrations (``migrations/versions``) build this schema step by step and never import it; a test
checks that the migrated database and these tables agree. Queries belong in ``_repository``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

ID = 64  # run and step run ids ("run-" + 20 hex) with room to spare
ADDRESS = 80  # "sha256:" + 64 hex
NAME = 255
DATASET_NAME = 200  # conveyor.store._checks.DATASET_NAME_MAX

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zones: values are stored as naive UTC text (which also sorts correctly)
    and come back with UTC attached. PostgreSQL stores ``timestamptz``; values come back in UTC
    whatever the session time zone. Callers check that values are aware before binding.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


runs = Table(
    "runs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("pipeline", String(NAME), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("heartbeat_at", UtcDateTime()),
    Column("params", JSON(), nullable=False),
    Column("source", Text(), nullable=False),
    Column("targets", JSON(), nullable=False),
    Column("host", String(NAME), nullable=False),
    Column("pid", Integer(), nullable=False),
    Column("error", Text()),
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_pipeline_started_at", "pipeline", "started_at"),
)

step_runs = Table(
    "step_runs",
    metadata,
    # ``seq`` records insertion order, the tie-break when two step runs finish in the same
    # microsecond; SQLite makes an INTEGER primary key the rowid, so it costs nothing there.
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("id", String(ID), nullable=False, unique=True),
    Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    # Copied from the run at insert, so last_step_run is one indexed lookup with no join.
    Column("pipeline", String(NAME), nullable=False),
    Column("step", String(NAME), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False),
    Column("cache_key", String(128)),
    Column("key_parts", JSON(), nullable=False),
    Column("cached_from", String(ID)),
    Column("reason", Text()),
    Column("attempts", Integer(), nullable=False),
    Column("duration", Float(), nullable=False),
    Column("cpu_seconds", Float(), nullable=False),
    Column("peak_rss_bytes", BigInteger()),
    Column("rows_in", BigInteger()),
    Column("rows_out", BigInteger()),
    Column("bytes_in", BigInteger(), nullable=False),
    Column("bytes_out", BigInteger(), nullable=False),
    Column("error", Text()),
    Column("traceback", Text()),
    Column("logs", Text(), nullable=False),
    Index("ix_step_runs_cache_key", "cache_key", "status", "finished_at"),
    Index("ix_step_runs_run_id", "run_id", "finished_at"),
    Index("ix_step_runs_pipeline_step", "pipeline", "step", "finished_at"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(ADDRESS), primary_key=True),
    Column("materializer", String(64), nullable=False),
    Column("type_name", String(NAME), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rows", BigInteger()),
    Column("inline", LargeBinary()),
    Column("meta", JSON(), nullable=False),
)

step_run_artifacts = Table(
    "step_run_artifacts",
    metadata,
    Column(
        "step_run_id",
        String(ID),
        ForeignKey("step_runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("direction", String(3), primary_key=True),  # "in" or "out"
    Column("position", Integer(), primary_key=True),
    Column("name", String(NAME), nullable=False),
    Column("artifact_id", String(ADDRESS), ForeignKey("artifacts.id"), nullable=False),
    Index("ix_step_run_artifacts_artifact_id", "artifact_id"),
    CheckConstraint("direction IN ('in', 'out')", name="direction"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("name", String(DATASET_NAME)),
    Column("version", Integer()),
    Column("artifact_id", String(ADDRESS), ForeignKey("artifacts.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rows", BigInteger()),
    Column("run_id", String(ID)),  # no foreign key: a step may register into another store
    Column("description", Text(), nullable=False),
    Column("meta", JSON(), nullable=False),
    # The key is what makes numbering safe: two writers that pick the same next number
    # cannot both insert it, and the loser retries with the number after.
    PrimaryKeyConstraint("name", "version"),
    Index("ix_dataset_versions_artifact_id", "artifact_id"),
    CheckConstraint("version >= 1", name="version"),
)
