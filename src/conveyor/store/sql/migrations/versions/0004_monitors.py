"""Monitors: their definitions, and every evaluation, alert and action with its figures.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is a frozen snapshot: it spells out its types instead of importing _tables.
_UTC = sa.DateTime(timezone=True)
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_monitors"),
    )
    op.create_table(
        "monitor_evaluations",
        sa.Column("id", _SEQ, nullable=False, autoincrement=True),
        sa.Column("monitor", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("evaluated_at", _UTC, nullable=False),
        sa.Column("window_start", _UTC, nullable=True),
        sa.Column("window_end", _UTC, nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_evaluations"),
    )
    op.create_index("ix_monitor_evaluations_monitor_id", "monitor_evaluations", ["monitor", "id"])
    op.create_index("ix_monitor_evaluations_model", "monitor_evaluations", ["model"])
    op.create_table(
        "monitor_alerts",
        sa.Column("id", _SEQ, nullable=False, autoincrement=True),
        sa.Column("evaluation_id", sa.BigInteger(), nullable=False),
        sa.Column("monitor", sa.String(200), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", _UTC, nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_alerts"),
    )
    op.create_index("ix_monitor_alerts_monitor_id", "monitor_alerts", ["monitor", "id"])
    op.create_table(
        "monitor_actions",
        sa.Column("id", _SEQ, nullable=False, autoincrement=True),
        sa.Column("evaluation_id", sa.BigInteger(), nullable=False),
        sa.Column("monitor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_actions"),
    )
    op.create_index(
        "ix_monitor_actions_monitor_evaluation_id",
        "monitor_actions",
        ["monitor", "evaluation_id"],
    )


def downgrade() -> None:
    for table in ("monitor_actions", "monitor_alerts", "monitor_evaluations", "monitors"):
        op.drop_table(table)
