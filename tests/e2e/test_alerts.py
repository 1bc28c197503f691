"""Alerts from a real scheduler run: a source that cannot be reached fails its run, which still
writes its report, shows as failed on the console's overview and sends e-mails (the task, the run)
to a local SMTP server; the same run, held by its retries past a 15-second deadline, raises
Airflow's deadline alert. Every message is value-free: names, states and Custody's own lines."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from conftest import smtp_connection

from custody.crypto import init_keyring
from custody.documents import run_key_for
from custody.settings import DEFAULT_CONFIG_DIR, Settings

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # released: nothing listens there


@pytest.mark.slow
def test_a_failing_run_reports_fails_and_alerts_and_a_held_run_misses_its_deadline(
        tmp_path, new_catalog, pg_server_url, smtp_server):
    from e2e._scheduler import AirflowServices
    from custody.overview.runs import last_runs

    port, inbox = smtp_server
    config, home = tmp_path / "config", tmp_path / "custody"
    config.mkdir()
    shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
    (config / "sources.yaml").write_text(json.dumps({
        "version": 1, "backup": {"local": True, "s3_conn_id": None},
        "sources": [{"name": "alerting", "conn_id": "alerting", "lawful_basis": "contract",
                     "retention_class": "customer_contract", "tables": [{"name": "contacts"}]}]}))
    env = {
        "CUSTODY_HOME": str(home), "CUSTODY_CONFIG_DIR": str(config),
        # PostgreSQL on a port where nothing listens: connection refused, a transient error that is
        # retried twice, 30 s apart, so the run is still going when its 15-second deadline passes.
        "AIRFLOW_CONN_ALERTING": json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": _closed_port(),
                                             "login": "postgres", "schema": "nothing"}),
        "AIRFLOW_CONN_CUSTODY_ALERTS": smtp_connection(port),
        "CUSTODY_ALERT_TO": "operator@example.test",
        "CUSTODY_RUN_DEADLINE_MINUTES": "0.25",
    }
    settings = Settings.from_env(env)
    new_catalog(settings.home / "catalog.db")
    init_keyring(settings.keyring)
    with AirflowServices(tmp_path / "airflow", pg_server_url, dags=ROOT / "dags", plugins=ROOT / "plugins",
                         env=env, pools=["custody_alerting"]) as af:
        af.run(["custody_pipeline_alerting"], timeout=480)
        states = af.states()
        (run_id,), = af._query("SELECT run_id FROM dag_run")
        # The run-failed e-mail comes from the DAG processor once the run has ended: wait for it.
        af._wait("the run's failure e-mail", lambda: any("run failed" in s for s in inbox.subjects()),
                 time.monotonic() + 120)
        missed = af._query("SELECT missed FROM deadline")
    assert states == {"custody_pipeline_alerting": "failed"}
    assert missed == [(True,)]

    # The report exists and says why; the console's overview shows the run failed.
    report = json.loads((settings.report_dir / "alerting" / run_key_for(run_id) / "report.json").read_text())
    assert report["outcome"]["state"] == "failed"
    (last,) = last_runs(settings.report_dir)["alerting"]
    assert last.state == "failed" and "plan_extract" in last.failed_stages

    subjects = inbox.subjects()
    assert f"[custody] custody_pipeline_alerting: run missed its deadline ({run_id})" in subjects
    assert f"[custody] custody_pipeline_alerting: task plan_extract failed ({run_id})" in subjects
    assert f"[custody] custody_pipeline_alerting: run failed ({run_id})" in subjects
    assert not any("run_outcome" in s for s in subjects)  # the run's alert says it once
    bodies = {str(m["Subject"]): inbox.body(m) for m in inbox.messages}
    run_body = bodies[f"[custody] custody_pipeline_alerting: run failed ({run_id})"]
    assert "reason: plan_extract: OperationalError" in run_body and "transient" in run_body
    # Value-free: no driver text (it names the host and port), no traceback.
    for body in bodies.values():
        assert "Traceback" not in body and "Connection refused" not in body and "127.0.0.1" not in body
