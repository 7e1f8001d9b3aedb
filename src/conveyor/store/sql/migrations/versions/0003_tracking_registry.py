"""Experiment tracking and the model registry: who ran what (new run columns); params, metric
series and their latest points, tags and logged artifacts; model versions, aliases with their
history, and gate decisions.

The params of runs stored before this revision are copied into the params table, so searches
see them as they see the params of new runs.

Revision ID: 0003
Revises: 0002
Create Date: 2025-04-01
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is a frozen snapshot: it spells out its types instead of importing _tables.
_UTC = sa.DateTime(timezone=True)
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_RUN_COLUMNS = ("parent_id", "user", "git_commit", "git_dirty", "environment")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("user", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("git_commit", sa.String(64), nullable=True))
        batch.add_column(sa.Column("git_dirty", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("environment", sa.JSON(), nullable=False, server_default="{}"))
    op.create_index("ix_runs_parent_id", "runs", ["parent_id", "started_at"])

    for name in ("params", "tags"):
        op.create_table(
            name,
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("num", sa.Float(), nullable=True),
            sa.Column("text", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("run_id", "key", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(
                ["run_id"], ["runs.id"], name=f"fk_{name}_run_id_runs", ondelete="CASCADE"
            ),
        )
        op.create_index(f"ix_{name}_key_num", name, ["key", "num"])

    op.create_table(
        "metrics",
        sa.Column("seq", _SEQ, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("step_name", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_metrics"),
    )
    op.create_index("ix_metrics_run_id_key_step", "metrics", ["run_id", "key", "step"])

    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("step_name", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_latest_metrics"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_latest_metrics_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    # covering: a search reads every latest value of the runs it found from the index alone
    op.create_index(
        "ix_latest_metrics_run_id_key_value", "latest_metrics", ["run_id", "key", "value"]
    )

    op.create_table(
        "logged_artifacts",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("artifact_id", sa.String(80), nullable=False),
        sa.Column("step_name", sa.String(255), nullable=False),
        sa.Column("logged_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_logged_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_logged_artifacts_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name="fk_logged_artifacts_artifact_id_artifacts"
        ),
    )
    op.create_index("ix_logged_artifacts_artifact_id", "logged_artifacts", ["artifact_id"])

    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.String(80), nullable=False),
        sa.Column("flavor", sa.String(255), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("step_name", sa.String(255), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("profile_id", sa.String(80), nullable=True),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_model_versions"),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name="fk_model_versions_artifact_id_artifacts"
        ),
        sa.CheckConstraint("version >= 1", name="ck_model_versions_version"),
    )
    op.create_index("ix_model_versions_artifact_id", "model_versions", ["artifact_id"])

    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_model_aliases"),
    )

    op.create_table(
        "alias_moves",
        sa.Column("seq", _SEQ, nullable=False, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("previous", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("moved_at", _UTC, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_alias_moves"),
    )
    op.create_index("ix_alias_moves_name_alias", "alias_moves", ["name", "alias"])

    op.create_table(
        "gate_decisions",
        sa.Column("id", _SEQ, nullable=False, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("decided_at", _UTC, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gate_decisions"),
    )
    op.create_index("ix_gate_decisions_name_version", "gate_decisions", ["name", "version"])

    _copy_run_params()


def _copy_run_params() -> None:
    """Each stored run's ``params`` into the params table, as the store writes them today."""
    runs = sa.table("runs", sa.column("id", sa.String()), sa.column("params", sa.JSON()))
    params = sa.table(
        "params",
        sa.column("run_id", sa.String()),
        sa.column("key", sa.String()),
        sa.column("value", sa.Text()),
        sa.column("num", sa.Float()),
        sa.column("text", sa.Text()),
    )
    connection = op.get_bind()
    rows = []
    for run_id, values in connection.execute(sa.select(runs.c.id, runs.c.params)):
        for key, value in (values or {}).items():
            if not 0 < len(key) <= 250:
                continue  # cannot be searched for; stays in runs.params
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            rows.append(
                {
                    "run_id": run_id,
                    "key": key,
                    "value": text,
                    "num": _number(value),
                    "text": value if isinstance(value, str) else text,
                }
            )
    if rows:
        connection.execute(sa.insert(params), rows)


def _number(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return None if math.isnan(number) else number


def downgrade() -> None:
    for table in (
        "gate_decisions",
        "alias_moves",
        "model_aliases",
        "model_versions",
        "logged_artifacts",
        "latest_metrics",
        "metrics",
        "tags",
        "params",
    ):
        op.drop_table(table)
    op.drop_index("ix_runs_parent_id", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for column in reversed(_RUN_COLUMNS):
            batch.drop_column(column)
