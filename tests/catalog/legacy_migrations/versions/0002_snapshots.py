"""Snapshot store records: retention plans and decisions, restore drills.

Revision ID: 0002_snapshots
Revises: 0001_inventory
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_snapshots"
down_revision = "0001_inventory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshot_retention_plan",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("plan_key", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("kept", sa.Integer, nullable=False),
        sa.Column("forgotten", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("objects_deleted", sa.Integer, nullable=True),
    )
    op.create_table(
        "snapshot_retention_decision",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("snapshot_id", sa.String(256), primary_key=True),
        sa.Column("snapshot_key", sa.String(300), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("snapshot_created_at", sa.String(40), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
    )
    op.create_index("ix_retention_decision_snapshot", "snapshot_retention_decision", ["snapshot_id"])
    op.create_table(
        "restore_drill",
        sa.Column("drill_id", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("snapshot_id", sa.String(256), nullable=True),
        sa.Column("tables", sa.Integer, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("rto_s", sa.Float, nullable=False),
        sa.Column("rpo_s", sa.Float, nullable=True),
        sa.Column("rto_limit_s", sa.Float, nullable=False),
        sa.Column("rpo_limit_s", sa.Float, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("failure", sa.Text, nullable=True),
        sa.Column("result", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("restore_drill")
    op.drop_index("ix_retention_decision_snapshot", "snapshot_retention_decision")
    op.drop_table("snapshot_retention_decision")
    op.drop_table("snapshot_retention_plan")
