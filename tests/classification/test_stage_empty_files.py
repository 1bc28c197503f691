"""Empty and header-only file drops through the stages: the run says so, and the columns stay.

A header-only file used to pass without a word and its columns vanished from the inventory (a
table without rows had no chunk to classify). Now the file notes reach the run report and the
classification and inventory keep every column of the table.
"""

from __future__ import annotations

import json
import shutil

from custody.catalog import Catalog
from custody.documents import ClassificationDocument
from custody.settings import DEFAULT_CONFIG_DIR, Settings
from custody.stages import Runtime, stage_classify_and_validate, stage_extract, stage_report


def _runtime(tmp_path, new_catalog, new_keyring) -> Runtime:
    landing = tmp_path / "landing"
    landing.mkdir()
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
    (config / "sources.yaml").write_text(
        "version: 1\nbackup: {local: true, s3_conn_id: null}\nsources:\n"
        f"  - {{name: partner, kind: files, landing: '{landing}', lawful_basis: contract,\n"
        "     retention_class: partner_drop, tables: [{name: leads, files: 'leads*.csv'}]}\n", encoding="utf-8")
    settings = Settings.from_env({"CUSTODY_HOME": str(tmp_path / "home"), "CUSTODY_CONFIG_DIR": str(config)})
    new_catalog(settings.home / "catalog.db")
    new_keyring(settings.keyring)
    return Runtime(settings)


def test_header_only_and_empty_files_keep_their_columns_and_are_reported(tmp_path, new_catalog, new_keyring):
    from custody.sources.landings import LocalLanding

    rt = _runtime(tmp_path, new_catalog, new_keyring)
    landing = LocalLanding(tmp_path / "landing")
    (tmp_path / "landing" / "leads-1.csv").write_bytes(b"")
    (tmp_path / "landing" / "leads-2.csv").write_text("姓名,手机号,身份证号,备注,,\n", encoding="utf-8")

    run_key = stage_extract(rt, None, "partner", "manual__empty", landing=landing)["run_key"]
    result = stage_classify_and_validate(rt, "partner", run_key)
    doc = rt.staging.get(result["classification_key"], ClassificationDocument)
    columns = [c.column for c in doc.tables[0].columns]
    assert columns == ["姓名", "手机号", "身份证号", "备注"]
    by_name = {c.column: c for c in doc.tables[0].columns}
    assert by_name["身份证号"].pi_type == "resident_id" and by_name["身份证号"].level == "sensitive"
    inventory = {(r["table_name"], r["column_name"]) for r in Catalog(rt.settings.catalog_url).inventory("partner")}
    assert inventory == {("leads", c) for c in columns}

    paths = stage_report(rt, "partner", run_key)
    report = json.loads((rt.settings.report_dir / "partner" / run_key / "report.json").read_text())
    assert report["files"] == [
        {"table": "leads", "file": "leads-1.csv", "sheet": None, "rows": 0, "note": "empty"},
        {"table": "leads", "file": "leads-2.csv", "sheet": None, "rows": 0,
         "note": "header only; 2 empty trailing column(s) dropped"}]
    html = (rt.settings.report_dir / "partner" / run_key / "report.zh-CN.html").read_text(encoding="utf-8")
    assert "需关注的文件" in html and "leads-2.csv" in html and paths
