"""Data-subject requests and the deletion ledger.

Revision ID: 0006_dsr
Revises: 0004_audit_log

Creates ``dsr_request`` (one row per access or deletion request: kind, regime, state, due date,
the subject as keyed pseudonyms only) and ``dsr_ledger`` (the pseudonyms of every erased
subject, applied by every restore). ``docs/format.md`` section 9 specifies them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_dsr"
down_revision = "0004_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dsr_request",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("regime", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pseudonyms", sa.Text, nullable=False),
        sa.Column("audit_subject", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(128), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.String(128), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(128), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_reason", sa.String(48), nullable=True),
        sa.Column("rejection_reason", sa.String(48), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_dsr_request_state", "dsr_request", ["state", "due_at"])
    op.create_table(
        "dsr_ledger",
        sa.Column("pi_type", sa.String(32), primary_key=True),
        sa.Column("pseudonym", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dsr_ledger")
    op.drop_index("ix_dsr_request_state", "dsr_request")
    op.drop_table("dsr_request")
