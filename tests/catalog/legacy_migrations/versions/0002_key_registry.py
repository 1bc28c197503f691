"""Key registry: scope, seal and deal keys, each wrapped by one or more key-encryption keys.

Revision ID: 0002_key_registry
Revises: 0001_inventory

``crypto_key`` holds one row per key (destroyed keys stay as tombstones without material);
``crypto_key_wrap`` holds each key wrapped under a KEK (base64). Mirrored by the ``sa.Table``
objects in ``custody.crypto.scopes``; the format is specified in ``docs/format.md`` section 1.4.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_key_registry"
down_revision = "0001_inventory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crypto_key",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_keys", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_by", sa.String(128), nullable=True),
        sa.Column("destroy_reason", sa.Text, nullable=True),
        sa.UniqueConstraint("purpose", "scope", "generation", name="uq_crypto_key_generation"),
    )
    op.create_index("ix_crypto_key_scope_state", "crypto_key", ["purpose", "scope", "state"])
    op.create_table(
        "crypto_key_wrap",
        sa.Column("key_id", sa.String(64), sa.ForeignKey("crypto_key.key_id"), primary_key=True),
        sa.Column("kek_id", sa.String(255), primary_key=True),
        sa.Column("keyring", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crypto_key_wrap")
    op.drop_index("ix_crypto_key_scope_state", table_name="crypto_key")
    op.drop_table("crypto_key")
