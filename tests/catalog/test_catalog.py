"""Catalog database: migrations and the data inventory."""

from __future__ import annotations

import sqlalchemy as sa

from custody.catalog import Catalog, metadata, migrate


def _mirrors() -> list[sa.MetaData]:
    # Each module that queries catalog tables keeps its own sa.Table mirror of the migrated schema.
    from custody.classification import inventory
    from custody.crypto import scopes
    from custody.store import ledger
    from custody.extract import watermarks

    return [metadata, inventory.metadata, scopes.metadata, ledger.metadata, watermarks.metadata]


def test_migrations_create_the_mirrored_schema_and_are_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    cat = Catalog(url)
    assert cat.heads and migrate(cat.engine) == cat.heads
    insp = sa.inspect(cat.engine)
    mirrored = [t for md in _mirrors() for t in md.sorted_tables]
    assert len(mirrored) >= 10
    for table in mirrored:
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}, table.name
    # Every migrated table is mirrored somewhere (none is written by raw SQL only).
    assert set(insp.get_table_names()) - {"alembic_version"} == {t.name for t in mirrored}


def test_inventory_keeps_first_seen_and_updates_last_seen(tmp_path):
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    col = {"column": "resident_id", "pi_type": "resident_id", "level": "sensitive", "confidence": 0.98,
           "evidence": {"detector": "cn_resident_id", "match_rate": 1.0}, "policy_version": "2026.1"}
    assert cat.record_inventory("crm", "run-1", [{"table": "contacts", "columns": [col]}]) == 1
    first = cat.inventory("crm")[0]
    cat.record_inventory("crm", "run-2", [{"table": "contacts", "columns": [{**col, "confidence": 0.9}]}])
    rows = cat.inventory("crm")
    assert len(rows) == 1
    assert rows[0]["first_seen"] == first["first_seen"] and rows[0]["last_run_key"] == "run-2"
    assert rows[0]["confidence"] == 0.9 and rows[0]["level"] == "sensitive"
