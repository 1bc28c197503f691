"""``make demo`` end to end: scripts/demo.py in its own process, then its audit log is checked.

Every stage of every run has its entries, the listener recorded every task, checkpoints are in
the catalog and the local store and verify, and no personal value of the demo data (resident IDs,
mobiles, e-mail addresses of the generated contacts) is in the audit table or the checkpoints.
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


@pytest.mark.slow
def test_demo_leaves_an_audit_log_of_every_stage_with_a_checkpoint_and_no_personal_value(tmp_path, chinook_dir):
    home = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CUSTODY_"))}
    env.update(CUSTODY_HOME=str(home), AIRFLOW_HOME=str(home / "airflow"), CUSTODY_CHINOOK_DIR=str(chinook_dir),
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--contacts", str(CONTACTS)],
                         env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
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
    source = sa.create_engine(f"sqlite:///{home / 'sources' / f'crm-{CONTACTS}.sqlite'}")
    with source.connect() as conn:
        needles = [v for col in ("resident_id", "mobile", "email", "name")
                   for v in conn.execute(sa.text(f"SELECT {col} FROM contacts WHERE {col} IS NOT NULL")).scalars()]
    source.dispose()
    assert len(needles) > CONTACTS
    engine = sa.create_engine(catalog)
    with engine.connect() as conn:
        haystack = "\n".join(repr(tuple(r)) for t in ("audit_entry", "audit_checkpoint")
                             for r in conn.execute(sa.text(f"SELECT * FROM {t}")))
    engine.dispose()
    haystack += "\n".join(p.read_bytes().decode("utf-8", "replace") for p in (home / "backups" / "audit").rglob("*")
                          if p.is_file())
    found = [n for n in needles if len(str(n)) >= 2 and str(n) in haystack]
    assert found == [], f"{len(found)} personal values found in the audit log"


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
