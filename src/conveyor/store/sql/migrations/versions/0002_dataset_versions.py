"""Named dataset versions: each row points a (name, version) at a dataset's manifest artifact.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is a frozen snapshot: it spells out its types instead of importing _tables.
_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dataset_versions",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.String(80), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_dataset_versions"),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name="fk_dataset_versions_artifact_id_artifacts",
        ),
        sa.CheckConstraint("version >= 1", name="ck_dataset_versions_version"),
    )
    op.create_index("ix_dataset_versions_artifact_id", "dataset_versions", ["artifact_id"])


def downgrade() -> None:
    op.drop_index("ix_dataset_versions_artifact_id", table_name="dataset_versions")
    op.drop_table("dataset_versions")
