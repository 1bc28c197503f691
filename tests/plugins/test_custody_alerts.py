"""Alerts through Airflow's own notifiers, received by a local SMTP server (and a local webhook):
value-free text, the connection chooses the channel, a failure to send never raises."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from conftest import smtp_connection
from custody.alerts import Alert, AlertSettings, failure_reasons

ROOT = Path(__file__).resolve().parents[2]
SECRET = "110105198001010011"  # resident-ID shaped: what an exception's text could carry


@pytest.fixture
def alerts(airflow_env, monkeypatch):
    spec = importlib.util.spec_from_file_location("custody_alerts", ROOT / "plugins" / "custody_alerts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("CUSTODY_ALERT_TO", "operator@example.test, second@example.test")
    return module


def test_settings_from_the_environment():
    s = AlertSettings.from_env({"CUSTODY_ALERT_TO": "a@x.test,b@x.test", "CUSTODY_RUN_DEADLINE_MINUTES": "0.5",
                                "CUSTODY_UI_URL": "https://airflow.example.test/"})
    assert s.to == ("a@x.test", "b@x.test") and s.deadline.total_seconds() == 30
    assert s.ui_url == "https://airflow.example.test" and s.conn_id == "custody_alerts"
    assert AlertSettings.from_env({"CUSTODY_RUN_DEADLINE_MINUTES": "0"}).deadline is None
    assert AlertSettings.from_env({}).deadline is None  # dag.test() cannot run a DAG with a deadline


def test_failure_reasons_keep_only_custodys_own_lines():
    recorded = {"stage": "plan_extract", "error": "OperationalError", "transient": True,
                "message": "the source could not be reached"}
    assert failure_reasons(recorded) == (
        "plan_extract: OperationalError, transient, retried: the source could not be reached",)
    assert failure_reasons(["not a failure", None, {"stage": 1}]) == ()


def test_a_task_alert_reaches_the_smtp_server_without_values(alerts, smtp_server, monkeypatch):
    port, inbox = smtp_server
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_ALERTS", smtp_connection(port))
    alert = Alert("task_failed", "custody_pipeline_crm", "manual__2026-12-03T10:00:00+00:00",
                  task_id="extract_part[3]", state="failed",
                  reasons=("extract_part[3]: DataError (22P02), permanent: a value does not fit its column type",))
    assert alerts.send(alert) is True
    (message,) = inbox.messages
    assert message["Subject"] == "[custody] custody_pipeline_crm: task extract_part[3] failed " \
                                 "(manual__2026-12-03T10:00:00+00:00)"
    assert sorted(a.strip() for a in message["To"].split(",")) == ["operator@example.test", "second@example.test"]
    body = inbox.body(message)
    assert "a value does not fit its column type" in body and "/dags/custody_pipeline_crm/runs/" in body
    assert "<script" not in body


def test_a_deadline_alert_is_sent_from_the_schedulers_context(alerts, smtp_server, monkeypatch):
    port, inbox = smtp_server
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_ALERTS", smtp_connection(port))
    alerts.deadline_missed(context={"dag_run": {"dag_id": "custody_pipeline_crm", "dag_run_id": "manual__late",
                                                "state": "running"},
                                    "deadline": {"id": "x", "deadline_time": "2026-12-03T10:15:00+00:00"}})
    (message,) = inbox.messages
    assert message["Subject"] == "[custody] custody_pipeline_crm: run missed its deadline (manual__late)"
    assert "deadline: 2026-12-03T10:15:00+00:00" in inbox.body(message)


def test_a_webhook_connection_gets_json(alerts, monkeypatch):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_ALERTS", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": server.server_address[1], "schema": "http"}))
        assert alerts.send(Alert("run_failed", "custody_pipeline_crm", "manual__1", state="failed",
                                 reasons=("back_up: StoreError, transient, retried: the store is locked",)))
    finally:
        server.shutdown()
    (payload,) = received
    assert payload["kind"] == "run_failed" and payload["dag_id"] == "custody_pipeline_crm"
    assert payload["reasons"] == ["back_up: StoreError, transient, retried: the store is locked"]


def test_an_unreachable_channel_is_logged_by_class_and_never_raises(alerts, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_ALERTS", smtp_connection(9))  # nothing listens on port 9
    caplog.set_level("WARNING", logger="custody.alerts")
    sent = alerts.send(Alert("run_failed", "custody_pipeline_crm", f"manual__{SECRET}", state="failed"))
    assert sent is False
    assert "not sent" in caplog.text and SECRET not in caplog.text


def test_dag_alerts_wire_a_deadline_and_failure_callbacks(alerts, monkeypatch):
    from airflow.sdk import DeadlineAlert

    monkeypatch.setenv("CUSTODY_RUN_DEADLINE_MINUTES", "90")
    kwargs = alerts.dag_alerts()
    assert kwargs["on_failure_callback"] is alerts.run_failed
    assert isinstance(kwargs["deadline"], DeadlineAlert) and kwargs["deadline"].interval.total_seconds() == 5400
    assert kwargs["deadline"].callback.path == "custody_alerts.deadline_missed"
    assert alerts.failure_callbacks() == {"on_failure_callback": alerts.task_failed}
    monkeypatch.setenv("CUSTODY_RUN_DEADLINE_MINUTES", "0")
    assert "deadline" not in alerts.dag_alerts()
