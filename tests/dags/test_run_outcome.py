"""Failed runs end failed, with a value-free report that names the failed stage and why.

Each case runs the real ``custody_pipeline_<source>`` DAG with ``dag.test()`` on a source built
to fail one way: a missing table (extraction, permanent), a validation breach (no backup
taken), an unreachable database (transient: retried, then failed) and a missing key-encryption
key (refused at once, never replaced).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD_MOBILE = "12800128777"  # fails cn_mobile; must never appear in a report or log

SOURCES = """\
version: 1
backup: {local: true, s3_conn_id: null}
sources:
  - name: gone
    conn_id: custody_gone
    lawful_basis: contract
    retention_class: customer_contract
    tables:
      - name: no_such_table
  - name: breach
    conn_id: custody_breach
    lawful_basis: contract
    retention_class: customer_contract
    max_failing_share: 0
    tables:
      - name: people
        checks:
          - {column: id, check: not_null}
          - {column: mobile, check: cn_mobile}
  - name: down
    conn_id: custody_down
    lawful_basis: contract
    retention_class: customer_contract
    tables:
      - name: people
  - name: denied
    conn_id: custody_denied
    lawful_basis: contract
    retention_class: customer_contract
    tables:
      - name: people
"""


@pytest.fixture
def home(airflow_env, tmp_path, monkeypatch, new_catalog, new_keyring):
    from custody.settings import DEFAULT_CONFIG_DIR, Settings

    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
    (config / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    db = tmp_path / "source.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, mobile TEXT)")
        conn.executemany("INSERT INTO people VALUES (?, ?)", [(1, "13800138000"), (2, BAD_MOBILE), (3, "13900139000")])
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "custody"))
    monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(config))
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL"):
        monkeypatch.delenv(var, raising=False)
    sqlite_conn = json.dumps({"conn_type": "sqlite", "host": str(db)})
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_GONE", sqlite_conn)
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_BREACH", sqlite_conn)
    # Nothing listens on port 1: the connection is refused, a transient error.
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_DOWN", json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "postgres", "schema": "custody"}))
    settings = Settings.from_env()
    new_catalog(settings.home / "catalog.db")
    new_keyring(settings.keyring)
    return settings


def _run(source: str):
    """Run the source's DAG once (retries without delay); returns the run and its task instances."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(f"custody_pipeline_{source}")
    for task in dag.tasks:
        task.retry_delay = timedelta(0)
    run = dag.test()
    with create_session() as session:
        tis = {(ti.task_id, ti.map_index): (str(ti.state), ti.try_number)
               for ti in session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id)}
    return run, tis


def _report(settings, source: str) -> tuple[dict, str, str]:
    (folder,) = (settings.report_dir / source).iterdir()
    return (json.loads((folder / "report.json").read_text(encoding="utf-8")),
            (folder / "report.en.html").read_text(encoding="utf-8"),
            (folder / "report.zh-CN.html").read_text(encoding="utf-8"))


def _state(s: str) -> str:
    return s.rpartition(".")[2].lower()


@pytest.mark.slow
def test_a_failed_extraction_fails_the_run_at_once_and_still_writes_a_report(home):
    run, tis = _run("gone")
    assert _state(str(run.state)) == "failed"
    assert tis[("plan_extract", -1)] == ("failed", 1)  # a missing table is permanent: no retry
    assert _state(tis[("report", -1)][0]) == "success" and _state(tis[("run_outcome", -1)][0]) == "failed"
    report, html, html_zh = _report(home, "gone")
    outcome = report["outcome"]
    assert outcome["state"] == "failed" and outcome["failed_stages"] == ["plan_extract"]
    assert outcome["stages"]["commit_extract"] == "upstream_failed"
    (failure,) = outcome["failures"]
    assert (failure["stage"], failure["error"], failure["transient"]) == ("plan_extract", "ExtractError", False)
    assert "no_such_table" in failure["message"] and "not found" in failure["message"]
    assert report["reconciliation"] == [] and report["validation"] is None
    assert "The run FAILED: plan_extract" in html and "ExtractError" in html
    assert "本次运行失败" in html_zh


@pytest.mark.slow
def test_a_validation_breach_fails_the_run_and_takes_no_backup(home):
    run, tis = _run("breach")
    assert _state(str(run.state)) == "failed"
    assert tis[("classify_and_validate", -1)] == ("failed", 1)
    assert _state(tis[("back_up", -1)][0]) == "upstream_failed"
    assert not list(home.backup_dir.glob("snapshots/**/*.json"))
    report, html, _ = _report(home, "breach")
    assert report["outcome"]["failed_stages"] == ["classify_and_validate"]
    assert list(report["outcome"]["stages"])[:4] == ["plan_extract", "extract_part[0]", "commit_extract",
                                                     "classify_and_validate"]  # in the order they ran
    (failure,) = report["outcome"]["failures"]
    assert failure["error"] == "ValidationThresholdExceeded" and not failure["transient"]
    assert report["reconciliation"][0]["table"] == "people" and report["backup"] is None
    texts = [json.dumps(report, ensure_ascii=False), html] + [p.read_text(errors="replace")
                                                              for p in home.report_dir.rglob("*") if p.is_file()]
    assert not any(BAD_MOBILE in t for t in texts)


@pytest.mark.slow
def test_an_unreachable_source_is_retried_then_fails_without_the_drivers_text(home):
    run, tis = _run("down")
    assert _state(str(run.state)) == "failed"
    assert tis[("plan_extract", -1)] == ("failed", 3)  # transient: tried 1 + 2 retries
    report, html, _ = _report(home, "down")
    (failure,) = report["outcome"]["failures"]
    assert failure["stage"] == "plan_extract" and failure["transient"] is True
    assert failure["error"] == "OperationalError"
    text = json.dumps(report) + html
    # No driver text ("connection refused" of psycopg); Custody's own sentence and the audit
    # section's field name are the only places the word may appear.
    assert "refused" not in text.lower().replace("connection refused or lost", "").replace("checkpoint_refused", "")


@pytest.mark.slow
def test_a_permanent_database_error_fails_at_once(home, pg_server_url, monkeypatch):
    import sqlalchemy as sa

    server = sa.make_url(pg_server_url)
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_DENIED", json.dumps(
        {"conn_type": "postgres", "host": server.host, "port": server.port, "login": server.username,
         "schema": "no_such_database_custody"}))
    run, tis = _run("denied")
    assert _state(str(run.state)) == "failed"
    assert tis[("plan_extract", -1)] == ("failed", 1)  # an unknown database does not appear by retrying
    report, _, _ = _report(home, "denied")
    (failure,) = report["outcome"]["failures"]
    assert (failure["error"], failure["transient"]) == ("OperationalError", False)
    assert "no_such_database_custody" not in json.dumps(report)  # the driver's text stays out


@pytest.mark.slow
def test_a_missing_key_fails_the_run_at_once_and_is_not_replaced(home):
    key = Path(home.keyring.partition(":")[2])
    key.unlink()
    run, tis = _run("breach")
    assert _state(str(run.state)) == "failed"
    assert tis[("plan_extract", -1)] == ("failed", 1)
    assert not key.exists()
    report, _, _ = _report(home, "breach")
    (failure,) = report["outcome"]["failures"]
    assert failure["error"] == "KeyMissingError" and str(key) in failure["message"]
    assert "offline copy" in failure["message"]
    # The report still exists, without documents and without the audit section (both need the key).
    unreadable = report["outcome"]["unreadable"]
    assert [u.split(":")[0] for u in unreadable] == ["open staging", "audit log"]
    assert all("KeyMissingError" in u for u in unreadable)
