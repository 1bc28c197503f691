"""The compliance report of a real pipeline run, through ``custody report compliance`` and the
``custody_compliance_report`` DAG: figures agree with the run, the audit log verifies, the
report's own audit entry holds every file's hash, and no personal value of the source is in any
output (canary search over the JSON, HTML and the PDFs' bytes and extracted text)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from typer.testing import CliRunner

from custody.audit.log import AuditLog
from custody.cli import app
from custody.crypto import init_keyring
from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.stages import Runtime, stage_backup, stage_classify_and_validate, stage_extract

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "compliance-report.schema.json").read_text(encoding="utf-8"))
ENV_VARS = ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_AUDIT_SIGNER", "CUSTODY_AUDIT_ORIGIN",
            "CUSTODY_CONFIG_DIR", "CUSTODY_CJK_FONT")
runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory, new_catalog):
    home = tmp_path_factory.mktemp("custody")
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTODY_HOME", str(home))
    for var in ENV_VARS:
        mp.delenv(var, raising=False)
    new_catalog(home / "catalog.db")
    engine = sa.create_engine(f"sqlite:///{home / 'crm.sqlite'}")
    load_tables(engine, generate_crm(contacts=200))
    rt = Runtime.from_env()
    init_keyring(rt.settings.keyring)
    run_key = stage_extract(rt, engine, "crm", "manual__compliance")["run_key"]
    stage_classify_and_validate(rt, "crm", run_key)
    stage_backup(rt, "crm", run_key)
    with engine.connect() as conn:
        needles = {str(v) for col in ("name", "resident_id", "mobile", "email")
                   for v in conn.execute(sa.text(f"SELECT {col} FROM contacts WHERE {col} IS NOT NULL")).scalars()}
        needles |= {str(v) for v in conn.execute(sa.text("SELECT account_number FROM bank_accounts")).scalars()}
        rows = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in ("contacts", "bank_accounts")}
    engine.dispose()
    res = runner.invoke(app, ["report", "compliance"])
    assert res.exit_code == 0, res.output
    (folder,) = (home / "reports" / "compliance").iterdir()
    yield home, folder, needles, rows, res.output
    mp.undo()


def test_the_cli_writes_every_file_and_the_json_validates(home):
    _, folder, _, _, output = home
    assert sorted(p.name for p in folder.iterdir()) == [
        "compliance.en.html", "compliance.en.pdf", "compliance.json", "compliance.zh-CN.html", "compliance.zh-CN.pdf"]
    assert str(folder) in output.replace("\n", "")
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads((folder / "compliance.json").read_bytes()))


def test_figures_agree_with_the_run_and_the_catalog(home):
    path, folder, _, rows, _ = home
    r = json.loads((folder / "compliance.json").read_bytes())
    engine = sa.create_engine(f"sqlite:///{path / 'catalog.db'}")
    with engine.connect() as conn:
        levels = dict(conn.execute(sa.text("SELECT level, COUNT(*) FROM inventory_column GROUP BY level")).all())
        sensitive_tables = set(conn.execute(sa.text(
            "SELECT DISTINCT table_name FROM inventory_column WHERE level = 'sensitive'")).scalars())
    engine.dispose()
    assert {t["key"]: t["current"] for t in r["inventory"]["by_level"]} == levels
    assert {"contacts", "bank_accounts"} <= sensitive_tables
    assert r["sensitive"]["sensitive_records"] >= rows["contacts"] + rows["bank_accounts"]
    assert r["sensitive"]["encryption_coverage"] == 1.0  # every staged object is encrypted
    assert r["backups"]["backups"] >= 1 and r["lawful_basis"]["coverage"] == 1.0
    assert r["audit_log"]["verified"] is True and len(r["audit_log"]["checkpoint_root"]) == 64
    assert r["compliance_audit"]["individuals"] == rows["contacts"]


def test_the_report_is_recorded_in_the_audit_log_with_every_file_hash(home):
    path, folder, _, _, _ = home
    with AuditLog(f"sqlite:///{path / 'catalog.db'}") as log:
        (entry,) = [json.loads(e.data) for e in log.find(actions=["report"]) if b'"compliance"' in e.data]
    names = {"json": "compliance.json", "html_en": "compliance.en.html", "html_zh_cn": "compliance.zh-CN.html",
             "pdf_en": "compliance.en.pdf", "pdf_zh_cn": "compliance.zh-CN.pdf"}
    assert entry["hashes"] == {f"{k}_sha256": hashlib.sha256((folder / v).read_bytes()).hexdigest()
                               for k, v in names.items()}
    assert entry["details"]["pdf"] is True and entry["details"]["audit_ok"] is True


def test_no_personal_value_in_any_output(home):
    _, folder, needles, _, _ = home
    assert len(needles) > 600
    haystack = "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.iterdir())
    haystack += "\n".join(page.extract_text() for p in folder.glob("*.pdf") for page in PdfReader(p).pages)
    found = [n for n in needles if len(n) >= 2 and n in haystack]
    assert found == [], f"{len(found)} personal values found in the compliance report"


@pytest.mark.slow
def test_the_dag_writes_the_report_of_the_period_asked(home, airflow_env, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    path = home[0]
    monkeypatch.setenv("CUSTODY_HOME", str(path))
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    config = path / "config"
    config.mkdir(exist_ok=True)
    from custody.settings import DEFAULT_CONFIG_DIR

    (config / "policy.yaml").write_bytes((DEFAULT_CONFIG_DIR / "policy.yaml").read_bytes())
    (config / "sources.yaml").write_text((DEFAULT_CONFIG_DIR / "sources.yaml").read_text(encoding="utf-8")
                                         .replace("s3_conn_id: custody_s3", "s3_conn_id: null"), encoding="utf-8")
    monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(config))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    dag = bag.get_dag("custody_compliance_report")
    run = dag.test(run_conf={"period": "2026-01"})
    assert str(run.state).lower().endswith("success")
    r = json.loads((path / "reports" / "compliance" / "2026-01" / "compliance.json").read_bytes())
    assert r["period"] == {"label": "2026-01", "start": "2026-01-01", "end": "2026-02-01",
                           "previous_start": "2025-12-01", "previous_end": "2026-01-01"}
    assert r["inventory"]["columns"] == 0 and r["audit_log"]["verified"] is True  # nothing before January
