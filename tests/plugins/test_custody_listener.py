"""The listener plugin: task outcomes and human answers of Custody DAGs go to the audit log."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from custody.audit.log import AuditLog
from custody.audit.verify import verify_log
from custody.documents import run_key_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener(airflow_env, tmp_path, monkeypatch, new_catalog):
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    monkeypatch.delenv("CUSTODY_CATALOG_URL", raising=False)
    new_catalog(tmp_path / "catalog.db")
    spec = importlib.util.spec_from_file_location("custody_listener", ROOT / "plugins" / "custody_listener.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CustodyListenerPlugin.listeners[0]


def ti(task_id: str, *, dag_id: str = "custody_pipeline_crm", task=None, try_number: int = 1, map_index: int = -1):
    return SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id="manual__2026-12-01T09:00:00+00:00",
                           try_number=try_number, map_index=map_index, task=task)


def entries(tmp_path) -> list[dict]:
    with AuditLog(f"sqlite:///{tmp_path / 'catalog.db'}") as log:
        assert verify_log(log, []).ok
        return [json.loads(r.data) for r in log.rows()]


def test_task_outcomes_are_recorded_with_the_task_as_actor(listener, tmp_path):
    listener.on_task_instance_success(None, ti("back_up"))
    listener.on_task_instance_failed(None, ti("extract_part", try_number=2, map_index=3),
                                     ValueError("110101199003074258 is not a valid date"))
    listener.on_task_instance_skipped(None, ti("drift_alert"))
    listener.on_task_instance_success(None, ti("other", dag_id="someone_elses_dag"))  # not Custody's: ignored
    got = entries(tmp_path)
    assert [(e["action"], e["outcome"], e["subject"]["task_id"]) for e in got] == [
        ("task.success", "success", "back_up"), ("task.failed", "failure", "extract_part"),
        ("task.skipped", "skipped", "drift_alert")]
    failed = got[1]
    assert failed["reason"] == "ValueError" and "110101199003074258" not in json.dumps(got)
    assert (failed["actor"]["kind"], failed["actor"]["try_number"], failed["actor"]["map_index"]) == ("airflow", 2, 3)
    assert failed["subject"]["source"] == "crm"
    assert failed["subject"]["run_key"] == run_key_for("manual__2026-12-01T09:00:00+00:00")


def _approval(**answer):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    op = ApprovalOperator(task_id="approve_purge", subject="Purge crm/customer_contract?", body="customer 张三 …")
    op.hitl_summary_extra.update(answer)
    return op


def test_human_answers_are_recorded_and_a_timeout_is_never_an_approval(listener, tmp_path):
    answered = _approval(chosen_options=["Approve"], params_input={"note": "call 13800138000"}, approved=True,
                         responded_at=datetime.now(UTC).isoformat(),
                         responded_by_user={"id": "7", "name": "li.wei"})
    listener.on_task_instance_success(None, ti("approve_purge", dag_id="custody_purge", task=answered))
    timed_out = _approval(error_type="timeout")
    listener.on_task_instance_failed(None, ti("approve_purge", dag_id="custody_purge", task=timed_out),
                                     TimeoutError())
    got = [e for e in entries(tmp_path) if e["action"] == "approval.answer"]
    assert [(e["outcome"], e["details"]["approved"], e["refs"], e["actor"]["user"]) for e in got] == [
        ("success", True, ["option:Approve"], "li.wei"),
        ("refused", False, [], None)]
    assert got[1]["reason"] == "TimeoutError"
    text = json.dumps(entries(tmp_path), ensure_ascii=False)
    assert "13800138000" not in text and "张三" not in text  # form values and the body never recorded


def test_a_listener_that_cannot_record_leaves_the_task_alone(listener, tmp_path, monkeypatch, caplog):
    caplog.set_level("WARNING")
    monkeypatch.setenv("CUSTODY_CATALOG_URL", f"sqlite:///{tmp_path / 'not-migrated.db'}")
    listener.on_task_instance_success(None, ti("back_up"))  # does not raise
    assert "task.success of custody_pipeline_crm.back_up not recorded (CatalogNotMigrated)" in caplog.text


def test_airflow_loads_the_plugin_with_its_listener(listener):
    from airflow.plugins_manager import get_plugin_info

    info = {p["name"]: p for p in get_plugin_info(["listeners"])}
    assert [name.rpartition(".")[2] for name in info["custody_listener"]["listeners"]] == ["CustodyListener"]
