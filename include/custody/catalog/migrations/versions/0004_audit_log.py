"""The audit log: append-only entries, the head of their Merkle tree, signed checkpoints.

Revision ID: 0004_audit_log
Revises: 0003_linear_history

Creates ``audit_entry`` (one row per custody action; ``seq`` is the leaf index of the RFC 9162
tree), ``audit_head`` (one row, ``main``: the log's size, updated and so locked by every
appender) and ``audit_checkpoint`` (signed notes of the tree, also written to the snapshot
stores). ``docs/format.md`` section 8 specifies them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_log"
down_revision = "0003_linear_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(400), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("run_key", sa.String(160), nullable=True),
        sa.Column("entry", sa.Text, nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_entry_action", "audit_entry", ["action", "seq"])
    op.create_index("ix_audit_entry_run", "audit_entry", ["source", "run_key"])
    op.create_index("ix_audit_entry_time", "audit_entry", ["recorded_at"])
    head = op.create_table(
        "audit_head",
        sa.Column("log_id", sa.String(16), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(head, [{"log_id": "main", "size": 0, "updated_at": datetime.now(UTC)}])
    op.create_table(
        "audit_checkpoint",
        sa.Column("note_sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("stores", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_checkpoint_size", "audit_checkpoint", ["size"])


def downgrade() -> None:
    op.drop_index("ix_audit_checkpoint_size", "audit_checkpoint")
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_entry_time", "audit_entry")
    op.drop_index("ix_audit_entry_run", "audit_entry")
    op.drop_index("ix_audit_entry_action", "audit_entry")
    op.drop_table("audit_entry")
