"""Public must be earned, end to end on the demo CRM: classification document, run report (JSON,
English and Chinese HTML) and the catalog's inventory all say why each public column is public."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from custody.catalog import Catalog
from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.documents import ClassificationDocument
from custody.reports import build_run_report, write_run_report
from custody.stages import Runtime, stage_classify_and_validate, stage_extract

PUBLIC = [
    ("enterprise_customers", "company_name", "org_name", "org_name"),
    ("enterprise_customers", "industry", "industry", "industry"),
    ("enterprise_customers", "uscc", "uscc", "cn_uscc"),
]


@pytest.fixture
def rt(tmp_path, monkeypatch, new_catalog, new_keyring) -> Runtime:
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "custody"))
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    rt = Runtime.from_env()
    new_catalog(rt.settings.home / "catalog.db")
    new_keyring(rt.settings.keyring)
    return rt


def test_demo_public_columns_and_why(rt, tmp_path):
    crm = generate_crm(contacts=300)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    load_tables(engine, crm)
    run_key = stage_extract(rt, engine, "crm", "manual__public")["run_key"]
    done = stage_classify_and_validate(rt, "crm", run_key, as_of="2026-11-30")
    doc = rt.staging.get(done["classification_key"], ClassificationDocument)

    public = sorted(
        (t.table, c.column, c.pi_type, c.evidence.public_basis.detector)
        for t in doc.tables
        for c in t.columns
        if c.level == "public"
    )
    assert public == PUBLIC
    levels = {(t.table, c.column): c.level for t in doc.tables for c in t.columns}
    # Business information about customers is internal: numbers, account banks, amounts, dates.
    for key in [
        ("contacts", "contact_id"),
        ("enterprise_customers", "customer_id"),
        ("enterprise_customers", "registered_city"),
        ("bank_accounts", "bank_name"),
        ("bank_accounts", "opened_on"),
        ("contracts", "amount"),
        ("contracts", "signed_on"),
    ]:
        assert levels[key] == "internal", key
    assert not any(level == "public" for (table, _), level in levels.items() if table == "contacts")

    report = build_run_report(rt.manifest("crm", run_key), classification=doc)
    rows = [(p["table"], p["column"], p["pi_type"], p["detector"], p["by"]) for p in report["public_columns"]]
    assert sorted(rows) == [(*p, "detector") for p in PUBLIC]
    assert all("企业信息公示暂行条例 Art 6" in p["ref"] for p in report["public_columns"])
    paths = write_run_report(report, tmp_path / "report")
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["public_columns"] == report["public_columns"]
    en = paths["html"].read_text(encoding="utf-8")
    zh = paths["html_zh"].read_text(encoding="utf-8")
    assert "Public columns and why" in en and "Publicly disclosable data found by detector" in en
    assert "公开字段及依据" in zh and "检测器识别为可公开信息" in zh
    for _, column, _, detector in PUBLIC:
        assert f"<code>{detector}</code>" in en and f"<code>{detector}</code>" in zh

    # The inventory keeps the same evidence, so it says why too.
    cat = Catalog(rt.settings.catalog_url)
    try:
        inventory = {(r["table_name"], r["column_name"]): r for r in cat.inventory("crm")}
    finally:
        cat.engine.dispose()
    for table, column, _, detector in PUBLIC:
        row = inventory[(table, column)]
        basis = json.loads(row["evidence"])["public_basis"]
        assert (row["level"], basis["by"], basis["detector"]) == ("public", "detector", detector)
        assert basis["ref"].startswith(("Registered name", "Unified social credit", "Industry"))
    assert json.loads(inventory[("bank_accounts", "bank_name")]["evidence"])["table_context"] == (
        "people:account_number"
    )
