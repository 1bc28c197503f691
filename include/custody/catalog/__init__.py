"""Custody's own state database (the catalog): SQLite by default, PostgreSQL in production.

One SQLAlchemy URL (``CUSTODY_CATALOG_URL``). This module holds the data inventory: per source
column, its PI type, level, confidence, evidence and policy version, with first and last seen
(PIPL Art 51 classification management; GDPR Art 30 records of processing). Airflow's metadata
database is never used for Custody state.

The schema is managed by Alembic migrations in ``migrations/versions/`` (one file per change,
applied by ``migrate``; several heads are allowed and all are applied). The ``sa.Table`` objects
below mirror the migrated schema for queries; a test checks that the two agree.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

inventory = sa.Table(
    "inventory_column",
    metadata,
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


MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: sa.Engine) -> list[str]:
    """Apply every pending migration (all heads) to the catalog at ``engine``; return the heads now applied.

    Idempotent; safe to call from every task. Concurrent first runs on SQLite are serialised by
    SQLite's own write lock.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
        return sorted(MigrationContext.configure(conn).get_current_heads())


class Catalog:
    """Access to the catalog database at ``url``; migrates it to the latest schema on first use."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url)
        self.heads = migrate(self.engine)

    def record_inventory(self, source: str, run_key: str, tables: list[dict[str, Any]]) -> int:
        """Upsert the classification of every column seen in a run; returns columns written.

        ``tables``: ``[{"table": name, "columns": [ColumnClassification as dict]}]``.
        ``first_seen`` is kept from the first run that saw the column.
        """
        now = datetime.now(UTC)
        n = 0
        with self.engine.begin() as conn:
            for t in tables:
                for c in t["columns"]:
                    key = {"source": source, "table_name": t["table"], "column_name": c["column"]}
                    values = {
                        "pi_type": c.get("pi_type"),
                        "level": c["level"],
                        "confidence": float(c.get("confidence", 0.0)),
                        "evidence": json.dumps(c.get("evidence", {}), sort_keys=True, ensure_ascii=False),
                        "policy_version": str(c.get("policy_version", "")),
                        "last_seen": now,
                        "last_run_key": run_key,
                    }
                    where = sa.and_(*[inventory.c[k] == v for k, v in key.items()])
                    if conn.execute(sa.update(inventory).where(where).values(**values)).rowcount == 0:
                        conn.execute(sa.insert(inventory).values(**key, **values, first_seen=now))
                    n += 1
        return n

    def inventory(self, source: str | None = None) -> list[dict[str, Any]]:
        """Inventory rows (optionally of one source) as dicts, ordered by table and column."""
        stmt = sa.select(inventory).order_by(inventory.c.source, inventory.c.table_name, inventory.c.column_name)
        if source:
            stmt = stmt.where(inventory.c.source == source)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]
