"""Incremental extraction state: committed watermarks, planned run intervals, committed files.

Revision ID: 0002_watermarks
Revises: 0002_snapshots

Once a sibling head of ``0001_inventory`` (the four ``0002_*`` revisions were applied in any
combination); now one step of the linear history. Each table is created only if missing, so a
catalog that already had it from the old history is upgraded without error.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.catalog.migrations import missing

revision = "0002_watermarks"
down_revision = "0002_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if missing("extract_watermark"):
        op.create_table(
            "extract_watermark",
            sa.Column("source", sa.String(64), primary_key=True),
            sa.Column("table_name", sa.String(128), primary_key=True),
            sa.Column("column_name", sa.String(128), nullable=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("value", sa.String(64), nullable=True),
            sa.Column("columns_json", sa.Text, nullable=True),
            sa.Column("run_key", sa.String(160), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
    if missing("extract_run"):
        op.create_table(
            "extract_run",
            sa.Column("source", sa.String(64), primary_key=True),
            sa.Column("table_name", sa.String(128), primary_key=True),
            sa.Column("run_key", sa.String(160), primary_key=True),
            sa.Column("run_id", sa.String(250), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("column_name", sa.String(128), nullable=True),
            sa.Column("low", sa.String(64), nullable=True),
            sa.Column("high", sa.String(64), nullable=True),
            sa.Column("files_json", sa.Text, nullable=True),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        )
    if missing("extract_file"):
        op.create_table(
            "extract_file",
            sa.Column("source", sa.String(64), primary_key=True),
            sa.Column("table_name", sa.String(128), primary_key=True),
            sa.Column("name", sa.String(512), primary_key=True),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("bytes", sa.BigInteger, nullable=False),
            sa.Column("run_key", sa.String(160), nullable=False),
            sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("extract_file")
    op.drop_table("extract_run")
    op.drop_table("extract_watermark")
