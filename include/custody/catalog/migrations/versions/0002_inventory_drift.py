"""Inventory history and drift: runs compared, column events, vanished-column marks.

Revision ID: 0002_inventory_drift
Revises: 0001_inventory

``inventory_run`` holds one row per classified run of a source with the drift found (names and
levels only); ``inventory_event`` the column-level history; ``inventory_vanished`` the columns that
left their table (the ``inventory_column`` row is kept). Mirrored by ``custody.catalog.schema``.

Once a sibling head of ``0001_inventory`` (the four ``0002_*`` revisions were applied in any
combination); now one step of the linear history. Each table is created only if missing, so a
catalog that already had it from the old history is upgraded without error.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.catalog.migrations import missing

revision = "0002_inventory_drift"
down_revision = "0001_inventory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if missing("inventory_run"):
        op.create_table(
            "inventory_run",
            sa.Column("source", sa.String(64), primary_key=True),
            sa.Column("run_key", sa.String(160), primary_key=True),
            sa.Column("previous_run_key", sa.String(160), nullable=True),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("policy_version", sa.String(64), nullable=False),
            sa.Column("columns", sa.Integer, nullable=False),
            sa.Column("baseline", sa.Boolean, nullable=False),
            sa.Column("drift", sa.Text, nullable=False),
        )
        op.create_index("ix_inventory_run_recorded", "inventory_run", ["source", "recorded_at"])
    if missing("inventory_event"):
        op.create_table(
            "inventory_event",
            sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("source", sa.String(64), nullable=False),
            sa.Column("run_key", sa.String(160), nullable=False),
            sa.Column("table_name", sa.String(128), nullable=False),
            sa.Column("column_name", sa.String(128), nullable=False),
            sa.Column("kind", sa.String(24), nullable=False),
            sa.Column("pi_type", sa.String(64), nullable=True),
            sa.Column("old_level", sa.String(16), nullable=True),
            sa.Column("new_level", sa.String(16), nullable=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_inventory_event_run", "inventory_event", ["source", "run_key"])
        op.create_index("ix_inventory_event_column", "inventory_event", ["source", "table_name", "column_name"])
    if missing("inventory_vanished"):
        op.create_table(
            "inventory_vanished",
            sa.Column("source", sa.String(64), primary_key=True),
            sa.Column("table_name", sa.String(128), primary_key=True),
            sa.Column("column_name", sa.String(128), primary_key=True),
            sa.Column("pi_type", sa.String(64), nullable=True),
            sa.Column("old_level", sa.String(16), nullable=False),
            sa.Column("last_run_key", sa.String(160), nullable=False),
            sa.Column("vanished_run_key", sa.String(160), nullable=False),
            sa.Column("vanished_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("inventory_vanished")
    op.drop_index("ix_inventory_event_column", table_name="inventory_event")
    op.drop_index("ix_inventory_event_run", table_name="inventory_event")
    op.drop_table("inventory_event")
    op.drop_index("ix_inventory_run_recorded", table_name="inventory_run")
    op.drop_table("inventory_run")
