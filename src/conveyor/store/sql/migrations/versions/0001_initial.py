"""The initial schema: runs, step runs, artifacts and the links between step runs and artifacts.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is a frozen snapshot: it spells out its types instead of importing _tables.
_UTC = sa.DateTime(timezone=True)
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.Column("heartbeat_at", _UTC, nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_pipeline_started_at", "runs", ["pipeline", "started_at"])

    op.create_table(
        "step_runs",
        sa.Column("seq", _SEQ, nullable=False, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("step", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=False),
        sa.Column("cache_key", sa.String(128), nullable=True),
        sa.Column("key_parts", sa.JSON(), nullable=False),
        sa.Column("cached_from", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.Column("peak_rss_bytes", sa.BigInteger(), nullable=True),
        sa.Column("rows_in", sa.BigInteger(), nullable=True),
        sa.Column("rows_out", sa.BigInteger(), nullable=True),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("logs", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_step_runs"),
        sa.UniqueConstraint("id", name="uq_step_runs_id"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_step_runs_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_step_runs_cache_key", "step_runs", ["cache_key", "status", "finished_at"])
    op.create_index("ix_step_runs_run_id", "step_runs", ["run_id", "finished_at"])
    op.create_index("ix_step_runs_pipeline_step", "step_runs", ["pipeline", "step", "finished_at"])

    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("materializer", sa.String(64), nullable=False),
        sa.Column("type_name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("inline", sa.LargeBinary(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
    )

    op.create_table(
        "step_run_artifacts",
        sa.Column("step_run_id", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("artifact_id", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint(
            "step_run_id", "direction", "position", name="pk_step_run_artifacts"
        ),
        sa.ForeignKeyConstraint(
            ["step_run_id"],
            ["step_runs.id"],
            name="fk_step_run_artifacts_step_run_id_step_runs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name="fk_step_run_artifacts_artifact_id_artifacts",
        ),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_step_run_artifacts_direction"),
    )
    op.create_index("ix_step_run_artifacts_artifact_id", "step_run_artifacts", ["artifact_id"])


def downgrade() -> None:
    op.drop_table("step_run_artifacts")
    op.drop_table("artifacts")
    op.drop_table("step_runs")
    op.drop_table("runs")
