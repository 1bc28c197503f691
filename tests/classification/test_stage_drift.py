"""Drift and minors through ``stage_classify_and_validate`` on a SQLite source, and into the run report.

Run 1 is the baseline. Before run 2 the source gains an ID-card column and loses ``gender``: the
classification document's ``drift`` names both, ``raise_for_drift`` (the DAG's alert task) raises,
and the report document carries the drift beside the classification.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from custody.classification import DriftDetected, raise_for_drift
from custody.classification import inventory as inv
from custody.documents import ClassificationDocument
from custody.stages import Runtime, stage_classify_and_validate, stage_extract
from custody.reports import build_run_report, write_run_report
from custody.demo import generate_crm
from custody.demo.loaders import load_tables

AS_OF = "2026-11-30"


@pytest.fixture(scope="module")
def crm():
    return generate_crm(contacts=300)


@pytest.fixture
def rt(tmp_path, monkeypatch, new_catalog, new_keyring) -> Runtime:
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "custody"))
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    rt = Runtime.from_env()
    new_catalog(rt.settings.home / "catalog.db")
    new_keyring(rt.settings.keyring)
    return rt


def test_second_run_with_new_id_column_and_dropped_column(rt, crm, tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    load_tables(engine, crm)

    first = stage_classify_and_validate(rt, "crm", stage_extract(rt, engine, "crm", "manual__run-1")["run_key"],
                                        as_of=AS_OF)
    assert first["drift"] == {"new_sensitive": 0, "level_changes": 0, "vanished": 0}
    doc1 = rt.staging.get(first["classification_key"], ClassificationDocument).model_dump(mode="json")
    assert doc1["drift"]["baseline"] is True and doc1["as_of"] == AS_OF
    raise_for_drift(doc1["drift"])  # the baseline never alerts

    # Minors: counted over every row from birth_date and resident_id, as of the run date.
    births = crm["contacts"].column("birth_date").to_pylist()
    cutoff = dt.date(2012, 11, 30)
    truth = sum(1 for b in births if cutoff < b <= dt.date(2026, 11, 30))
    contacts1 = next(t for t in doc1["tables"] if t["table"] == "contacts")
    assert contacts1["minors_under_14"] == truth == first["minors"]["contacts"] > 0
    assert {b["column"] for b in contacts1["minors"]["basis"]} == {"birth_date", "resident_id"}
    assert next(t for t in doc1["tables"] if t["table"] == "contracts")["minors"]["counted"] is False

    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE contacts ADD COLUMN id_card_no VARCHAR(32)")
        conn.exec_driver_sql("UPDATE contacts SET id_card_no = resident_id")
        conn.exec_driver_sql("ALTER TABLE contacts DROP COLUMN gender")

    extracted = stage_extract(rt, engine, "crm", "manual__run-2")
    second = stage_classify_and_validate(rt, "crm", extracted["run_key"], as_of=AS_OF)
    assert second["drift"] == {"new_sensitive": 1, "level_changes": 0, "vanished": 1}
    cdoc2 = rt.staging.get(second["classification_key"], ClassificationDocument)
    doc2 = cdoc2.model_dump(mode="json")
    drift = doc2["drift"]
    assert drift["new_sensitive"] == [
        {"table": "contacts", "column": "id_card_no", "level": "sensitive", "pi_type": "resident_id"}
    ]
    assert drift["vanished"] == [
        {"table": "contacts", "column": "gender", "old_level": "internal", "pi_type": "gender"}
    ]
    assert drift["previous_run_key"] == doc1["run_key"] and drift["baseline"] is False

    with pytest.raises(DriftDetected) as err:
        raise_for_drift(drift, source="crm", run_key=doc2["run_key"])
    assert "contacts.id_card_no" in str(err.value) and "contacts.gender" in str(err.value)

    # A retried classify task gives the same document and the same alert.
    again = stage_classify_and_validate(rt, "crm", extracted["run_key"], as_of=AS_OF)
    assert rt.staging.get(again["classification_key"], ClassificationDocument).model_dump(mode="json")["drift"] == drift

    # The report carries the drift (and the minors) for the template to render.
    manifest = rt.manifest("crm", extracted["run_key"])
    report = build_run_report(manifest, classification=cdoc2)
    assert report["classification"]["drift"]["new_sensitive"][0]["column"] == "id_card_no"
    assert report["classification"]["drift"]["vanished"][0]["column"] == "gender"
    paths = write_run_report(report, tmp_path / "report")
    written = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert written["classification"]["drift"] == drift
    assert paths["html"].read_text(encoding="utf-8").startswith("<!doctype html>")

    # The catalog keeps the history; the dropped column is marked, not deleted.
    engine_cat = sa.create_engine(rt.settings.catalog_url)
    assert [v["column_name"] for v in inv.vanished_columns(engine_cat, "crm")] == ["gender"]
    assert any(r["column_name"] == "gender" for r in _inventory(rt))
    # No value of the source in the classification document.
    blob = json.dumps(doc2, ensure_ascii=False)
    for rid in crm["contacts"].column("resident_id").to_pylist()[:50]:
        assert rid not in blob


def _inventory(rt: Runtime) -> list[dict]:
    from custody.catalog import Catalog

    return Catalog(rt.settings.catalog_url).inventory("crm")
