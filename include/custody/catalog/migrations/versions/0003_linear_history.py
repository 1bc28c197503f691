"""Linear history: the four ``0002_*`` revisions, once sibling heads, are now one chain.

Revision ID: 0003_linear_history
Revises: 0002_watermarks

No schema change. It exists so that a catalog at this revision (one ``alembic_version`` row) can
be told apart from one still carrying rows of the old branched history: ``custody.catalog.migrate``
rewinds such a catalog to ``0001_inventory`` and re-applies the chain, whose ``0002_*`` steps
create only the tables that are missing. This step then checks that every table of the chain
exists, so an upgrade from an inconsistent old state fails here instead of in a task.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_linear_history"
down_revision = "0002_watermarks"
branch_labels = None
depends_on = None

TABLES = (
    "inventory_column",
    "inventory_run",
    "inventory_event",
    "inventory_vanished",
    "crypto_key",
    "crypto_key_wrap",
    "snapshot_retention_plan",
    "snapshot_retention_decision",
    "restore_drill",
    "extract_watermark",
    "extract_run",
    "extract_file",
)


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    absent = [t for t in TABLES if t not in present]
    if absent:
        raise RuntimeError(f"catalog upgrade: table(s) {', '.join(absent)} missing after revision 0002_watermarks")


def downgrade() -> None:
    pass
