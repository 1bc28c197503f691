"""The deal: recorded milestones, handover packages and incidents.

Revision ID: 0007_deal
Revises: 0004_audit_log

Creates ``deal_milestone`` (one row per recorded milestone of a deal), ``handover_package`` (the
packages built for a transferee and their acknowledged receipts) and ``incident`` (incidents with
their 72-hour notification deadline and revoked scopes). Rows hold ids, dates, counts and hashes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_deal"
down_revision = "0006_dsr"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deal_milestone",
        sa.Column("milestone_id", sa.String(32), primary_key=True),
        sa.Column("deal_id", sa.String(64), nullable=False),
        sa.Column("milestone", sa.String(32), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("note_sha256", sa.String(64), nullable=True),
        sa.Column("audit_seq", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_deal_milestone_deal", "deal_milestone", ["deal_id", "milestone"])
    op.create_table(
        "handover_package",
        sa.Column("package_id", sa.String(32), primary_key=True),
        sa.Column("deal_id", sa.String(64), nullable=False),
        sa.Column("snapshot", sa.String(255), nullable=False),
        sa.Column("recipient_key_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("receipt_commitment", sa.String(64), nullable=False),
        sa.Column("tables", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(255), nullable=True),
    )
    op.create_table(
        "incident",
        sa.Column("incident_id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notify_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("incident")
    op.drop_table("handover_package")
    op.drop_index("ix_deal_milestone_deal", table_name="deal_milestone")
    op.drop_table("deal_milestone")
