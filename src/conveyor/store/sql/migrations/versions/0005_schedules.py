"""Schedules: their definitions, every fire, the files file triggers have seen, and the
scheduler's lease.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is a frozen snapshot: it spells out its types instead of importing _tables.
_UTC = sa.DateTime(timezone=True)
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("missed", sa.String(16), nullable=False),
        sa.Column("workdir", sa.Text(), nullable=False),
        sa.Column("handled_until", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.UniqueConstraint("name", name="uq_schedules_name"),
    )
    op.create_table(
        "schedule_seen_files",
        sa.Column("schedule_id", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id", "path", name="pk_schedule_seen_files"),
    )
    op.create_table(
        "schedule_fires",
        sa.Column("id", _SEQ, nullable=False, autoincrement=True),
        sa.Column("schedule_id", sa.String(64), nullable=False),
        sa.Column("due_at", _UTC, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_fires"),
    )
    op.create_index("ix_schedule_fires_schedule_id_id", "schedule_fires", ["schedule_id", "id"])
    op.create_index("ix_schedule_fires_status", "schedule_fires", ["status"])
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("acquired_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_scheduler_leases"),
    )


def downgrade() -> None:
    for table in ("scheduler_leases", "schedule_fires", "schedule_seen_files", "schedules"):
        op.drop_table(table)
