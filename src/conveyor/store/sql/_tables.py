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
    Boolean,
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
NAME = 255  # conveyor.store._checks.NAME_MAX where the store checks a name's length
DATASET_NAME = 200  # conveyor.store._checks.DATASET_NAME_MAX; model names too
KEY = 250  # conveyor.store._checks.KEY_MAX: params, metrics, tags, logged artifact names
ALIAS = 100  # conveyor.store._checks.ALIAS_MAX
USER = 100  # conveyor.store._access_checks.USER_NAME_MAX
_SEQ = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: an INTEGER key is the rowid

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
    Column("parent_id", String(ID)),  # no foreign key: a parent may live in another store
    Column("user", String(NAME), nullable=False, server_default=""),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean()),
    Column("environment", JSON(), nullable=False, server_default="{}"),
    # id is the last sort key of a run list: a page deep in the list is then an index walk
    Index("ix_runs_started_at_id", "started_at", "id"),
    Index("ix_runs_pipeline_started_at_id", "pipeline", "started_at", "id"),
    Index("ix_runs_parent_id", "parent_id", "started_at"),
)

step_runs = Table(
    "step_runs",
    metadata,
    # ``seq`` records insertion order, the tie-break when two step runs finish in the same
    # microsecond; SQLite makes an INTEGER primary key the rowid, so it costs nothing there.
    Column("seq", _SEQ, primary_key=True),
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
    Column("attempt_log", JSON()),  # [{number, worker, status, duration, error}]; NULL: none
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


# -- tracking ---------------------------------------------------------------------------------
# Params and tags keep their JSON text, and beside it what searches compare: ``num`` (the value
# when the JSON is a number other than a bool) and ``text`` (the string itself for a JSON
# string, the JSON text otherwise), so a condition never parses JSON in SQL.


def _logged_values(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE")),
        Column("key", String(KEY)),
        Column("value", Text(), nullable=False),
        Column("num", Float()),
        Column("text", Text(), nullable=False),
        PrimaryKeyConstraint("run_id", "key"),
        Index(f"ix_{name}_key_num", "key", "num"),
    )


params = _logged_values("params")
tags = _logged_values("tags")

# Metric values: NULL stands for NaN on every backend. SQLite cannot store NaN (it binds it as
# NULL), and PostgreSQL's NaN equals itself and sorts above infinity; NULL gives both backends
# IEEE comparisons through the queries in ``_search``. ±infinity is stored as such.
metrics = Table(
    "metrics",
    metadata,
    Column("seq", _SEQ, primary_key=True),  # logging order, the last tie-break of a history
    # No foreign key: PostgreSQL would run a check per point (most of a flush's time there);
    # log_batch checks the run once per batch instead.
    Column("run_id", String(ID), nullable=False),
    Column("key", String(KEY), nullable=False),
    Column("value", Float()),
    Column("step", BigInteger(), nullable=False),
    Column("timestamp", Float(), nullable=False),  # seconds since the epoch
    Column("step_name", String(NAME), nullable=False),
    Index("ix_metrics_run_id_key_step", "run_id", "key", "step"),
)

# The latest point of each series, kept on every write, so searches and run listings read one
# row per metric instead of whole histories.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE")),
    Column("key", String(KEY)),
    Column("value", Float()),  # NULL: NaN, as in metrics
    Column("step", BigInteger(), nullable=False),
    Column("timestamp", Float(), nullable=False),
    Column("step_name", String(NAME), nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index("ix_latest_metrics_key_value", "key", "value"),
    # covering: a search reads every latest value of the runs it found from the index alone
    Index("ix_latest_metrics_run_id_key_value", "run_id", "key", "value"),
)

logged_artifacts = Table(
    "logged_artifacts",
    metadata,
    Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE")),
    Column("name", String(KEY)),
    Column("artifact_id", String(ADDRESS), ForeignKey("artifacts.id"), nullable=False),
    Column("step_name", String(NAME), nullable=False),
    Column("logged_at", Float(), nullable=False),
    PrimaryKeyConstraint("run_id", "name"),
    Index("ix_logged_artifacts_artifact_id", "artifact_id"),
)

# -- registry ---------------------------------------------------------------------------------

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(DATASET_NAME)),
    Column("version", Integer()),
    Column("artifact_id", String(ADDRESS), ForeignKey("artifacts.id"), nullable=False),
    Column("flavor", String(NAME), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("run_id", String(ID)),  # no foreign key, as for dataset versions
    Column("step_name", String(NAME)),
    Column("metrics", JSON(), nullable=False),
    Column("signature", JSON(), nullable=False),
    Column("profile_id", String(ADDRESS)),
    Column("lineage", JSON(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("meta", JSON(), nullable=False),
    # Numbering is safe for the same reason as dataset versions': see dataset_versions.
    PrimaryKeyConstraint("name", "version"),
    Index("ix_model_versions_artifact_id", "artifact_id"),
    CheckConstraint("version >= 1", name="version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(DATASET_NAME)),
    Column("alias", String(ALIAS)),
    Column("version", Integer(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("name", "alias"),
)

alias_moves = Table(
    "alias_moves",
    metadata,
    Column("seq", _SEQ, primary_key=True),
    Column("name", String(DATASET_NAME), nullable=False),
    Column("alias", String(ALIAS), nullable=False),
    Column("version", Integer()),  # NULL: the alias was removed
    Column("previous", Integer()),  # NULL: the alias did not exist before
    Column("kind", String(16), nullable=False),
    Column("moved_at", UtcDateTime(), nullable=False),
    Column("actor", Text(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("decision_id", BigInteger()),
    Index("ix_alias_moves_name_alias", "name", "alias"),
)

gate_decisions = Table(
    "gate_decisions",
    metadata,
    Column("id", _SEQ, primary_key=True),
    Column("name", String(DATASET_NAME), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("alias", String(ALIAS), nullable=False),
    Column("passed", Boolean(), nullable=False),
    Column("criteria", JSON(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("actor", Text(), nullable=False),
    Index("ix_gate_decisions_name_version", "name", "version"),
)

# -- monitors ---------------------------------------------------------------------------------

monitors = Table(
    "monitors",
    metadata,
    Column("name", String(DATASET_NAME), primary_key=True),
    Column("model", String(NAME), nullable=False),
    Column("spec", JSON(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

monitor_evaluations = Table(
    "monitor_evaluations",
    metadata,
    Column("id", _SEQ, primary_key=True),
    Column("monitor", String(DATASET_NAME), nullable=False),
    Column("model", String(DATASET_NAME), nullable=False),
    Column("version", Integer()),  # NULL: the model could not be resolved
    Column("evaluated_at", UtcDateTime(), nullable=False),
    Column("window_start", UtcDateTime()),
    Column("window_end", UtcDateTime()),
    Column("rows", BigInteger(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("figures", JSON(), nullable=False),
    Column("rules", JSON(), nullable=False),
    Column("message", Text(), nullable=False),
    Index("ix_monitor_evaluations_monitor_id", "monitor", "id"),
    Index("ix_monitor_evaluations_model", "model"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", _SEQ, primary_key=True),
    Column("evaluation_id", BigInteger(), nullable=False),
    Column("monitor", String(DATASET_NAME), nullable=False),
    Column("rule", Text(), nullable=False),
    Column("message", Text(), nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("figures", JSON(), nullable=False),
    Index("ix_monitor_alerts_monitor_id", "monitor", "id"),
)

monitor_actions = Table(
    "monitor_actions",
    metadata,
    Column("id", _SEQ, primary_key=True),
    Column("evaluation_id", BigInteger(), nullable=False),
    Column("monitor", String(DATASET_NAME), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False),
    Column("detail", JSON(), nullable=False),
    Index("ix_monitor_actions_monitor_evaluation_id", "monitor", "evaluation_id"),
)

# -- schedules --------------------------------------------------------------------------------

schedules = Table(
    "schedules",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(DATASET_NAME), unique=True),  # NULL: unnamed; NULLs never clash
    Column("target", Text(), nullable=False),
    Column("pipeline", String(NAME), nullable=False),
    Column("params", JSON(), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("spec", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("missed", String(16), nullable=False),
    Column("workdir", Text(), nullable=False),
    Column("handled_until", UtcDateTime()),
)

schedule_seen_files = Table(
    "schedule_seen_files",
    metadata,
    # No foreign key: the rows go with their schedule in delete_schedule's transaction.
    Column("schedule_id", String(ID)),
    Column("path", Text()),
    PrimaryKeyConstraint("schedule_id", "path"),
)

schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("id", _SEQ, primary_key=True),
    Column("schedule_id", String(ID), nullable=False),  # no foreign key: history outlives it
    Column("due_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("run_id", String(ID)),
    Column("reason", Text(), nullable=False),
    Column("host", String(NAME), nullable=False),
    Column("pid", Integer()),
    Index("ix_schedule_fires_schedule_id_id", "schedule_id", "id"),
    Index("ix_schedule_fires_status", "status"),
)

scheduler_leases = Table(
    "scheduler_leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(NAME), nullable=False),
    Column("host", String(NAME), nullable=False),
    Column("pid", Integer(), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# -- users, API tokens and the audit log ------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("name", String(USER), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled", Boolean(), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("user", String(USER), ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),  # SHA-256 hex; looked up by it
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("last_used_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    Index("ix_api_tokens_user", "user"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _SEQ, primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(255), nullable=False),
    Column("details", JSON(), nullable=False),
    Index("ix_audit_log_actor_id", "actor", "id"),
    Index("ix_audit_log_target_id", "target", "id"),
    Index("ix_audit_log_action_id", "action", "id"),
    Index("ix_audit_log_at", "at"),
)
