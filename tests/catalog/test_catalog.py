"""Catalog database: one schema module, explicit migration, readers that refuse an old catalog."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import custody
from custody.catalog import (
    MIGRATIONS,
    SCHEMA_REVISION,
    Catalog,
    CatalogNotMigrated,
    metadata,
    migrate,
    revisions,
)

CORE = Path(custody.__file__).parent
NEEDS = f"this Custody needs {SCHEMA_REVISION}: run `custody catalog migrate`"


def test_every_catalog_table_is_defined_in_the_schema_module_only():
    # Every sa.Table(...) call naming a catalog table, anywhere in the package (migrations use op.create_table).
    found: list[tuple[str, str]] = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Table"
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value in metadata.tables):
                found.append((str(path.relative_to(CORE)), node.args[0].value))
    assert sorted(found) == sorted(("catalog/schema.py", name) for name in metadata.tables)


def test_catalog_tables_are_imported_from_the_schema_module():
    from custody.catalog import schema
    from custody.classification import inventory
    from custody.crypto import scopes
    from custody.store import ledger
    from custody.extract import watermarks
    from custody.dsr import ledger as dsr_ledger, requests as dsr_requests

    assert dsr_ledger.dsr_ledger is schema.dsr_ledger and dsr_requests.dsr_request is schema.dsr_request
    assert inventory.inventory_run is schema.inventory_run
    assert scopes.crypto_key is schema.crypto_key
    assert ledger.restore_drill is schema.restore_drill
    assert watermarks.watermark_table is schema.extract_watermark
    from custody.deal import record
    from custody.handover import ledger
    from custody.incident import response

    assert record.deal_milestone is schema.deal_milestone
    assert ledger.handover_package is schema.handover_package
    assert response.incident_table is schema.incident
    assert len(metadata.tables) == 20


def test_readers_refuse_an_unmigrated_catalog_and_create_nothing(tmp_path):
    from custody.crypto.keyring import LocalKeyring
    from custody.crypto.scopes import ScopedKeyring
    from custody.extract.watermarks import WatermarkStore

    url = f"sqlite:///{tmp_path / 'state' / 'catalog.db'}"
    message = f"catalog at revision none, {NEEDS}"
    with pytest.raises(CatalogNotMigrated, match="catalog at revision none") as refused:
        Catalog(url)
    assert str(refused.value) == message
    with pytest.raises(CatalogNotMigrated, match="custody catalog migrate"):
        WatermarkStore(url)
    with pytest.raises(CatalogNotMigrated, match="custody catalog migrate"):
        ScopedKeyring(LocalKeyring.create(tmp_path / "keys" / "kek.json"), url)
    assert not (tmp_path / "state").exists()


def test_readers_refuse_a_catalog_behind_head_until_migrated(tmp_path):
    from custody.store.ledger import record_drill

    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:  # a catalog of the first release
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001_inventory")
    with pytest.raises(CatalogNotMigrated) as refused:
        Catalog(url)
    assert str(refused.value) == f"catalog at revision 0001_inventory, {NEEDS}"
    assert refused.value.current == ("0001_inventory",) and refused.value.needed == SCHEMA_REVISION
    with pytest.raises(CatalogNotMigrated):
        record_drill(engine, {})
    assert migrate(url) == SCHEMA_REVISION
    Catalog(url)
    engine.dispose()


def test_readers_check_with_one_query_and_never_migrate(catalog_url):
    engine = sa.create_engine(catalog_url)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    from custody.catalog import require_head

    require_head(engine)
    assert statements == ["SELECT version_num FROM alembic_version"]
    engine.dispose()


def test_cli_migrate_and_status(tmp_path, monkeypatch):
    from custody.cli import app

    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    monkeypatch.setenv("CUSTODY_CATALOG_URL", url)
    before = runner.invoke(app, ["catalog", "status"])
    assert before.exit_code == 1 and "run `custody catalog migrate`" in before.output
    first = runner.invoke(app, ["catalog", "migrate"])
    assert first.exit_code == 0, first.output
    assert f"migrated from none to revision {SCHEMA_REVISION}" in first.output
    again = runner.invoke(app, ["catalog", "migrate", "--url", url])
    assert again.exit_code == 0 and f"already at revision {SCHEMA_REVISION}" in again.output
    after = runner.invoke(app, ["catalog", "status"])
    assert after.exit_code == 0 and f"at revision {SCHEMA_REVISION} (head)" in after.output
    assert revisions(sa.create_engine(url)) == (SCHEMA_REVISION,)


def test_inventory_keeps_first_seen_and_updates_last_seen(catalog_url):
    cat = Catalog(catalog_url)
    col = {"column": "resident_id", "pi_type": "resident_id", "level": "sensitive", "confidence": 0.98,
           "evidence": {"detector": "cn_resident_id", "match_rate": 1.0}, "policy_version": "2026.1"}
    assert cat.record_inventory("crm", "run-1", [{"table": "contacts", "columns": [col]}]) == 1
    first = cat.inventory("crm")[0]
    cat.record_inventory("crm", "run-2", [{"table": "contacts", "columns": [{**col, "confidence": 0.9}]}])
    rows = cat.inventory("crm")
    assert len(rows) == 1
    assert rows[0]["first_seen"] == first["first_seen"] and rows[0]["last_run_key"] == "run-2"
    assert rows[0]["confidence"] == 0.9 and rows[0]["level"] == "sensitive"
