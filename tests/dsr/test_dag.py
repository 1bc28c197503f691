"""``dags/custody_dsr.py`` with ``dag.test()``: an approved deletion is carried out, the open
requests are written value-free, and an overdue request fails the run."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custody.audit.entries import Actor
from custody.dsr.requests import RequestBook
from dsr._runs import subject_of

CLERK = Actor(kind="cli", user="clerk", host="h")


@pytest.fixture(autouse=True)
def _forget_task_context():
    """``dag.test()`` exports ``AIRFLOW_CTX_*`` for each task in this process: later tests would
    otherwise see an Airflow task as the actor of their audit entries."""
    before = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CTX_")}
    yield
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CTX_")]:
        del os.environ[key]
    os.environ.update(before)


@pytest.mark.slow
def test_dsr_dag_executes_approved_deletions_and_fails_on_overdue(airflow_env, backed_up):
    from airflow.dag_processing.dagbag import DagBag

    rt, snapshot, crm, run_key = backed_up
    rid, contact_id, accounts = subject_of(crm)
    book = RequestBook(rt.settings.catalog_url, rt.keyring)
    approved = book.receive("deletion", {"resident_id": rid}, actor=CLERK)
    book.verify(approved.request_id, actor=CLERK)
    book.approve(approved.request_id, approver="dpo")
    waiting = book.receive("deletion", {"email": "wang.fang@example.com"}, actor=CLERK)  # not approved
    late = book.receive("access", {"mobile_phone": "13700001111"}, actor=CLERK,
                        received_at=datetime.now(UTC) - timedelta(days=20))

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags" / "custody_dsr.py")).get_dag("custody_dsr")
    run = dag.test()
    assert str(run.state).endswith("failed"), run.state  # the overdue request fails the run
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["execute_deletion"].endswith("success") and states["open_requests"].endswith("failed")
    assert states["reapply_ledger"].endswith("success")
    assert book.get(approved.request_id).state == "executed"
    assert book.get(waiting.request_id).state == "received"  # never approved by default
    assert rt.manifest("crm", run_key).table("contacts").erased_rows == 1
    section = json.loads((rt.settings.report_dir / "dsr" / "open-requests.json").read_text(encoding="utf-8"))
    assert section["overdue"] == 1 and [o["request_id"] for o in section["open"] if o["overdue"]] == [late.request_id]
    assert rid not in json.dumps(section) and "13700001111" not in json.dumps(section)
