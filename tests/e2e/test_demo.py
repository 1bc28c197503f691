"""``make demo`` end to end: scripts/demo.py in its own process, then its audit log is checked.

Every stage of every run has its entries, the listener recorded every task, checkpoints are in
the catalog and the local store and verify, and no personal value of the demo data (resident IDs,
mobiles, e-mail addresses of the generated contacts) is in the audit table or the checkpoints.
The demo also writes the month's compliance report: its JSON validates against the schema in
``docs/``, its HTML has charts, its Chinese PDF's extracted text holds the section titles and the
JSON's figures, and no personal value is in any of its files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from custody.audit.log import AuditLog
from custody.audit.signing import Verifier
from custody.audit.verify import verify_log
from custody.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 300
STAGES = {"extract.plan", "extract.part", "extract.commit", "classify", "validate", "drift.alert", "backup",
          "key.backup", "report"}
TASKS = {"plan_extract", "extract_part", "commit_extract", "classify_and_validate", "drift_alert", "back_up",
         "report"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, chinook_dir):
    """``scripts/demo.py`` run once in its own process: ``(CUSTODY_HOME, the finished process)``."""
    home = tmp_path_factory.mktemp("demo") / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CUSTODY_"))}
    env.update(CUSTODY_HOME=str(home), AIRFLOW_HOME=str(home / "airflow"), CUSTODY_CHINOOK_DIR=str(chinook_dir),
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--contacts", str(CONTACTS)],
                         env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return home, res


def _needles(home: Path) -> list:
    """Personal values of the generated source: resident IDs, mobiles, e-mail addresses, names."""
    source = sa.create_engine(f"sqlite:///{home / 'sources' / f'crm-{CONTACTS}.sqlite'}")
    with source.connect() as conn:
        needles = [v for col in ("resident_id", "mobile", "email", "name")
                   for v in conn.execute(sa.text(f"SELECT {col} FROM contacts WHERE {col} IS NOT NULL")).scalars()]
    source.dispose()
    assert len(needles) > CONTACTS
    return needles


@pytest.mark.slow
def test_demo_leaves_an_audit_log_of_every_stage_with_a_checkpoint_and_no_personal_value(demo):
    home, res = demo
    assert "checkpoints verified" in res.stdout

    catalog = f"sqlite:///{home / 'catalog.db'}"
    with AuditLog(catalog) as log:
        for source in ("crm", "chinook"):
            rows = log.find(source=source)
            assert STAGES <= {r.action for r in rows}, source
            assert TASKS <= {json.loads(r.data)["subject"]["task_id"] for r in rows if r.action == "task.success"}
        vkey = re.search(r"signed by (\S+);", res.stdout).group(1)  # the key the demo printed
        report = verify_log(log, [Verifier.parse(vkey)], [LocalStore(home / "backups")], origin="custody/audit")
        assert report.ok, [f.message for f in report.findings]
        assert report.size == log.size() and report.checkpoints >= 5  # per backup, per report, and the last
        last = max(r.seq for r in log.rows())
    notes = sorted((home / "backups" / "audit" / "checkpoints").glob("*.note"))
    assert notes and int(notes[-1].name.split("-")[0]) == last + 1  # the final checkpoint covers every entry

    # Canary: personal values of the generated source, searched in the audit table and checkpoints.
    needles = _needles(home)
    engine = sa.create_engine(catalog)
    with engine.connect() as conn:
        haystack = "\n".join(repr(tuple(r)) for t in ("audit_entry", "audit_checkpoint")
                             for r in conn.execute(sa.text(f"SELECT * FROM {t}")))
    engine.dispose()
    haystack += "\n".join(p.read_bytes().decode("utf-8", "replace") for p in (home / "backups" / "audit").rglob("*")
                          if p.is_file())
    found = [n for n in needles if len(str(n)) >= 2 and str(n) in haystack]
    assert found == [], f"{len(found)} personal values found in the audit log"


@pytest.mark.slow
def test_demo_writes_the_compliance_report_in_both_languages_with_charts_and_no_personal_value(demo):
    from datetime import UTC, datetime

    import jsonschema
    from pypdf import PdfReader

    from custody.reports.compliance_labels import SECTIONS
    from custody.reports.compliance_view import num, pct

    home, res = demo
    period = datetime.now(UTC).strftime("%Y-%m")
    folder = home / "reports" / "compliance" / period
    assert f"compliance report {period}: run" in res.stdout and "PDF not written" not in res.stdout
    data = json.loads((folder / "compliance.json").read_bytes())
    schema = json.loads((ROOT / "docs" / "compliance-report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["inventory"]["columns"] > 0 and data["sensitive"]["sensitive_records"] > 0
    assert data["audit_log"]["verified"] is True
    for lang in ("en", "zh-CN"):
        html = (folder / f"compliance.{lang}.html").read_text(encoding="utf-8")
        assert len(re.findall(r"<svg\b", html)) >= 3 and "<script" not in html.lower()
    # The PDF's text, as extracted: Chinese section titles and the JSON's figures
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(folder / "compliance.zh-CN.pdf").pages))
    for sid in ("inventory", "sensitive", "lawful_basis", "backups", "requests", "cross_border", "audit_log"):
        assert SECTIONS["zh-CN"][sid] in text, sid
    s = data["sensitive"]
    for figure in (num(data["inventory"]["columns"]), num(s["sensitive_records"]), num(s["minor_records"]),
                   num(s["encrypted_records"]), pct(s["encryption_coverage"]), num(data["audit_log"]["entries"]),
                   data["audit_log"]["checkpoint_root"]):
        assert figure in text, figure
    for t in data["inventory"]["by_level"]:
        assert num(t["current"]) in text
    # Canary over every file of the report, and the PDFs' extracted text
    haystack = "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.iterdir())
    haystack += "\n".join(page.extract_text() for p in folder.glob("*.pdf") for page in PdfReader(p).pages)
    found = [n for n in _needles(home) if len(str(n)) >= 2 and str(n) in haystack]
    assert found == [], f"{len(found)} personal values found in the compliance report"
def test_make_up_offers_only_the_prepared_sources_and_defines_the_drill_connection(tmp_path):
    # `make up` runs this, then sources connections.env into `airflow standalone`.
    home = tmp_path / "var"
    no_chinook = tmp_path / "no-chinook"
    no_chinook.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CUSTODY_"))}
    env.update(CUSTODY_HOME=str(home), AIRFLOW_HOME=str(home / "airflow"), CUSTODY_CHINOOK_DIR=str(no_chinook),
               CUSTODY_DRILL_URL="postgresql+psycopg2://drill:drill-secret-9@127.0.0.1:5432/custody_console_drill",
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--contacts", "50", "--prepare-only",
                          "--s3-port", "5999"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[1/4] catalog" in res.stdout and "[3/4] Airflow" in res.stdout
    assert "sources offered in the UI: crm" in res.stdout and "Chinook not found" in res.stdout
    lines = dict(line.split("=", 1) for line in (home / "airflow" / "connections.env").read_text().splitlines())
    assert lines["CUSTODY_SOURCES"] == "'crm'" and "AIRFLOW_CONN_CUSTODY_CHINOOK" not in lines
    assert lines["CUSTODY_RUN_DEADLINE_MINUTES"] == "'360'"
    drill = json.loads(lines["AIRFLOW_CONN_CUSTODY_DRILL"].strip("'"))
    assert drill == {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "drill",
                     "password": "drill-secret-9", "schema": "custody_console_drill"}
    assert "drill-secret-9" not in res.stdout  # the URL is printed without its password
