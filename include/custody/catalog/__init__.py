"""Custody's own state database (the catalog): SQLite by default, PostgreSQL in production.

One SQLAlchemy URL (``CUSTODY_CATALOG_URL``). Airflow's metadata database is never used for
Custody state. Every table is defined in :mod:`custody.catalog.schema`; this module holds the data
inventory (per source column, its PI type, level, confidence, evidence and policy version, with
first and last seen: PIPL Art 51 classification management, GDPR Art 30 records of processing)
and the schema's life cycle.

Schema life cycle. The database is built by the Alembic migrations in ``migrations/versions/``,
one linear history::

    0001_inventory -> 0002_inventory_drift -> 0002_key_registry -> 0002_snapshots
                   -> 0002_watermarks -> 0003_linear_history
                   -> 0004_audit_log -> 0006_dsr -> 0007_deal (head, ``SCHEMA_REVISION``)

Migrating is an explicit step, run once per deployment before any task: ``custody catalog
migrate`` (``migrate``). Readers (``Catalog``, ``custody.extract.watermarks.WatermarkStore``,
``custody.crypto.scopes.ScopedKeyring``, the ledger writes of ``custody.store.ledger``) never
migrate: they check the revision with one query and raise ``CatalogNotMigrated`` naming the
command to run.

Catalogs migrated before the history was linear carry any combination of the four ``0002_*``
revisions as separate heads; ``migrate`` recognises them, rewinds the version record to
``0001_inventory`` and re-applies the chain, whose ``0002_*`` steps create only what is missing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from custody.catalog.schema import inventory_column, metadata

__all__ = [
    "SCHEMA_REVISION",
    "Catalog",
    "CatalogNotMigrated",
    "inventory_column",
    "metadata",
    "migrate",
    "require_head",
    "revisions",
]

MIGRATIONS = Path(__file__).parent / "migrations"

# The head of the migration history; a test checks it against Alembic's script directory, so
# readers compare with a constant instead of parsing the migration files in every task.
SCHEMA_REVISION = "0007_deal"

# Revisions that were sibling heads before the history was linear (see the module docstring).
_BRANCHED = frozenset({"0002_inventory_drift", "0002_key_registry", "0002_snapshots", "0002_watermarks"})
_ROOT = "0001_inventory"

MIGRATE_COMMAND = "custody catalog migrate"


class CatalogNotMigrated(Exception):
    """The catalog database is not at the schema revision this Custody needs.

    ``current``: the revisions recorded in the database (empty tuple for an empty or missing
    database); ``needed``: ``SCHEMA_REVISION``. The message names both and the command to run.
    """

    def __init__(self, current: tuple[str, ...], needed: str = SCHEMA_REVISION) -> None:
        self.current, self.needed = current, needed
        shown = ", ".join(current) if current else "none"
        super().__init__(f"catalog at revision {shown}, this Custody needs {needed}: run `{MIGRATE_COMMAND}`")


def _sqlite_file(url: sa.URL) -> Path | None:
    """The database file of a SQLite URL, or None (other dialects, in-memory databases)."""
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def revisions(engine: sa.Engine) -> tuple[str, ...]:
    """The revisions recorded in the catalog's ``alembic_version`` table, sorted.

    One query. Returns ``()`` for a database without that table (never migrated) and, for a
    SQLite URL, without creating the database file when it does not exist. Errors other than a
    missing table (connection refused, permissions) propagate as SQLAlchemy errors.
    """
    path = _sqlite_file(engine.url)
    if path is not None and not path.exists():
        return ()
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa.exc.DBAPIError:
        # Only "no such table" means "never migrated"; anything else is a real failure.
        if sa.inspect(engine).has_table("alembic_version"):
            raise
        return ()
    return tuple(sorted(rows))


def require_head(engine: sa.Engine) -> None:
    """Return when the catalog is at ``SCHEMA_REVISION``; raise ``CatalogNotMigrated`` otherwise.

    One query (``revisions``). Called by every reader before its first statement.
    """
    current = revisions(engine)
    if current != (SCHEMA_REVISION,):
        raise CatalogNotMigrated(current)


def migrate(url: str | sa.Engine) -> str:
    """Bring the catalog at ``url`` (a SQLAlchemy URL or engine) to ``SCHEMA_REVISION``; return it.

    Idempotent; a catalog already at head costs one query and changes nothing. Creates the folder
    of a SQLite file. Runs in one transaction on the given connection; run it once per deployment
    (CLI ``custody catalog migrate``, the compose init service, the demo), not from tasks, since
    two concurrent first migrations of one PostgreSQL catalog would race. A catalog carrying
    revisions of the old branched history is rewound to ``0001_inventory`` first (module
    docstring). Raises Alembic / SQLAlchemy errors unchanged.
    """
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(url) if isinstance(url, str) else url
    path = _sqlite_file(engine.url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        current = revisions(engine)
        if current == (SCHEMA_REVISION,):
            return SCHEMA_REVISION
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            if _BRANCHED & set(current):
                command.stamp(cfg, _ROOT, purge=True)
            command.upgrade(cfg, "head")
        return SCHEMA_REVISION
    finally:
        if isinstance(url, str):
            engine.dispose()


class Catalog:
    """The data inventory in the catalog at ``url`` (a SQLAlchemy URL).

    Raises ``CatalogNotMigrated`` when the catalog is not at ``SCHEMA_REVISION`` (one query);
    nothing is created or migrated here. ``engine`` is the SQLAlchemy engine, for the other
    catalog modules (inventory drift, ledger).
    """

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        try:
            require_head(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    def record_inventory(self, source: str, run_key: str, tables: list[dict[str, Any]]) -> int:
        """Upsert the classification of every column seen in a run; returns columns written.

        ``tables``: ``[{"table": name, "columns": [ColumnClassification as dict]}]``.
        ``first_seen`` is kept from the first run that saw the column.
        """
        now = datetime.now(UTC)
        n = 0
        inv = inventory_column
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
                    where = sa.and_(*[inv.c[k] == v for k, v in key.items()])
                    if conn.execute(sa.update(inv).where(where).values(**values)).rowcount == 0:
                        conn.execute(sa.insert(inv).values(**key, **values, first_seen=now))
                    n += 1
        return n

    def inventory(self, source: str | None = None) -> list[dict[str, Any]]:
        """Inventory rows (optionally of one source) as dicts, ordered by table and column."""
        inv = inventory_column
        stmt = sa.select(inv).order_by(inv.c.source, inv.c.table_name, inv.c.column_name)
        if source:
            stmt = stmt.where(inv.c.source == source)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]
