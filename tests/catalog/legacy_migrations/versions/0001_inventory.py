"""Data inventory: one row per source column.

Revision ID: 0001_inventory
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_inventory"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inventory_column",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("table_name", sa.String(128), primary_key=True),
        sa.Column("column_name", sa.String(128), primary_key=True),
        sa.Column("pi_type", sa.String(64), nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_key", sa.String(160), nullable=False),
    )
