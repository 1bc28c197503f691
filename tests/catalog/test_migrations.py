"""Catalog migrations: one linear history, a migrated database equal to the schema, old catalogs upgraded."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from custody.catalog import (
    MIGRATIONS,
    SCHEMA_REVISION,
    Catalog,
    CatalogNotMigrated,
    metadata,
    migrate,
    revisions,
)

LEGACY = Path(__file__).parent / "legacy_migrations"
OLD_HEADS = ("0002_inventory_drift", "0002_key_registry", "0002_snapshots", "0002_watermarks")
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _config(script_location: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return cfg


def _differences(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(ctx, metadata)


def test_history_is_linear_with_one_head_and_keeps_the_old_revision_ids():
    script = ScriptDirectory.from_config(_config(MIGRATIONS))
    assert script.get_heads() == [SCHEMA_REVISION]  # what `alembic heads` prints
    chain = [rev.revision for rev in script.walk_revisions()][::-1]
    assert chain == ["0001_inventory", *OLD_HEADS, "0003_linear_history", "0004_audit_log", "0006_dsr", SCHEMA_REVISION]
    for rev in script.walk_revisions():
        assert not rev.is_branch_point and not rev.is_merge_point, rev.revision
    # The fixture keeps the history as it was: four sibling heads on 0001_inventory.
    legacy = ScriptDirectory.from_config(_config(LEGACY))
    assert sorted(legacy.get_heads()) == list(OLD_HEADS)


def test_migrated_sqlite_catalog_equals_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    assert migrate(url) == SCHEMA_REVISION
    engine = sa.create_engine(url)
    assert _differences(engine) == []
    assert revisions(engine) == (SCHEMA_REVISION,)
    # Not vacuous: against an empty schema every catalog table is reported.
    with engine.connect() as conn:
        extra = compare_metadata(MigrationContext.configure(conn), sa.MetaData())
    assert sorted(d[1].name for d in extra if d[0] == "remove_table") == sorted(metadata.tables)
    engine.dispose()


@pytest.fixture
def pg_catalog(pg_server_url):
    """URL of an empty scratch PostgreSQL database, dropped afterwards."""
    name = f"custody_catalog_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.postgres
def test_migrated_postgres_catalog_equals_the_schema(pg_catalog):
    with pytest.raises(CatalogNotMigrated, match="catalog at revision none"):
        Catalog(pg_catalog)
    assert migrate(pg_catalog) == SCHEMA_REVISION
    Catalog(pg_catalog).engine.dispose()
    engine = sa.create_engine(pg_catalog, poolclass=sa.pool.NullPool)
    try:
        assert _differences(engine) == []
        assert migrate(engine) == SCHEMA_REVISION and revisions(engine) == (SCHEMA_REVISION,)
    finally:
        engine.dispose()


def _old_catalog(engine: sa.Engine, heads: tuple[str, ...]) -> None:
    """Build a catalog with the frozen branched history at exactly ``heads`` (``()``: only 0001), with data."""
    cfg = _config(LEGACY)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001_inventory")
        for head in heads:
            command.upgrade(cfg, head)
        assert sorted(MigrationContext.configure(conn).get_current_heads()) == sorted(heads or ["0001_inventory"])
        conn.execute(sa.text(
            "INSERT INTO inventory_column VALUES ('crm', 'contacts', 'mobile', 'mobile_phone', 'sensitive', 0.9, "
            "'{}', '2026.1', :t, :t, 'run-1')"), {"t": NOW})
        if "0002_key_registry" in heads:
            conn.execute(sa.text(
                "INSERT INTO crypto_key (key_id, purpose, scope, generation, state, created_at, data_keys) "
                "VALUES ('sk-1', 'scope', 'crm/customer', 1, 'active', :t, 3)"), {"t": NOW})
        if "0002_watermarks" in heads:
            conn.execute(sa.text(
                "INSERT INTO extract_watermark (source, table_name, kind, value, run_key, updated_at) "
                "VALUES ('crm', 'contacts', 'integer', '42', 'run-1', :t)"), {"t": NOW})


def _assert_upgraded_with_data(engine: sa.Engine, heads: tuple[str, ...]) -> None:
    assert revisions(engine) == (SCHEMA_REVISION,)
    assert _differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT last_run_key FROM inventory_column")).scalars().all() == ["run-1"]
        keys = conn.execute(sa.text("SELECT key_id, data_keys FROM crypto_key")).all()
        assert [tuple(k) for k in keys] == ([("sk-1", 3)] if "0002_key_registry" in heads else [])
        marks = conn.execute(sa.text("SELECT value FROM extract_watermark")).scalars().all()
        assert marks == (["42"] if "0002_watermarks" in heads else [])


@pytest.mark.parametrize(
    "heads",
    [c for n in range(len(OLD_HEADS) + 1) for c in itertools.combinations(OLD_HEADS, n)],
    ids=lambda heads: "+".join(h.removeprefix("0002_") for h in heads) or "0001-only",
)
def test_catalog_at_any_combination_of_the_old_heads_upgrades(tmp_path, heads):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    _old_catalog(engine, heads)
    assert migrate(engine) == SCHEMA_REVISION
    _assert_upgraded_with_data(engine, heads)
    assert migrate(engine) == SCHEMA_REVISION  # and again: nothing to do
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("heads", [OLD_HEADS, ("0002_key_registry", "0002_watermarks")], ids=["all", "two"])
def test_postgres_catalog_at_old_heads_upgrades(pg_catalog, heads):
    # All four old heads is what every existing catalog carries; two of them, an older deployment.
    engine = sa.create_engine(pg_catalog, poolclass=sa.pool.NullPool)
    try:
        _old_catalog(engine, heads)
        assert migrate(engine) == SCHEMA_REVISION
        _assert_upgraded_with_data(engine, heads)
    finally:
        engine.dispose()
