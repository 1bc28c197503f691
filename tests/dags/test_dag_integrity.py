"""DagBag integrity: imports cleanly, tagged, retries, and parsing touches no connection, DB or network."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag_and_calls(airflow_env):
    import sqlalchemy as sa
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook

    calls: list[str] = []
    real_connect = socket.socket.connect

    def no_network(self, address):
        calls.append(f"socket {address}")
        return real_connect(self, address)

    def no_conn(*args, **kwargs):
        calls.append(f"connection {args} {kwargs}")
        raise AssertionError("connection looked up at parse time")

    def count_query(*args, **kwargs):
        calls.append("metadata query")

    engine = settings.engine
    sa.event.listen(engine, "before_cursor_execute", count_query)
    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", no_network)
    mp.setattr(BaseHook, "get_connection", classmethod(no_conn))
    try:
        bag = DagBag(dag_folder=str(ROOT / "dags"))
    finally:
        mp.undo()
        sa.event.remove(engine, "before_cursor_execute", count_query)
    return bag, calls


def test_dagbag_imports_without_errors(dagbag_and_calls):
    bag, _ = dagbag_and_calls
    assert bag.import_errors == {}
    assert {"custody_pipeline_crm", "custody_pipeline_chinook", "custody_restore_drill",
            "custody_purge"} <= set(bag.dag_ids)


def test_parsing_makes_no_lookup_query_or_connection(dagbag_and_calls):
    _, calls = dagbag_and_calls
    assert calls == []


def test_every_dag_is_tagged_documented_and_retries(dagbag_and_calls):
    bag, _ = dagbag_and_calls
    for dag_id, dag in bag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        assert dag.catchup is False, dag_id
        for t in dag.tasks:
            if t.task_id not in ("report", "run_outcome"):  # they only read what the others left
                if (dag_id, t.task_id) == ("custody_purge", "approve"):
                    assert t.retries == 0  # asking again after a timeout would be a new request
                    continue
                assert t.retries >= 2, f"{dag_id}.{t.task_id}"


def test_one_pipeline_per_source_touching_only_that_source(dagbag_and_calls):
    bag, _ = dagbag_and_calls
    for name, pool in (("crm", "custody_crm"), ("chinook", "custody_chinook")):
        dag = bag.dags[f"custody_pipeline_{name}"]
        assert f"source:{name}" in dag.tags and name in dag.dag_display_name
        assert {t.task_id for t in dag.tasks} == {
            "plan_extract", "extract_part", "commit_extract", "classify_and_validate", "drift_alert", "back_up",
            "report", "run_outcome",
        }
        assert dag.get_task("extract_part").pool == pool
        assert dag.get_task("extract_part").execution_timeout.total_seconds() == 6 * 3600
        assert dag.get_task("commit_extract").upstream_task_ids == {"extract_part"}
        assert dag.get_task("classify_and_validate").upstream_task_ids == {"commit_extract"}
        assert dag.get_task("back_up").upstream_task_ids == {"classify_and_validate"}
        assert dag.get_task("report").upstream_task_ids == {"back_up", "drift_alert"}
        assert dag.get_task("report").trigger_rule == "all_done"
        # The last leaf fails the run when a stage failed: the report alone would leave it green.
        assert dag.leaves == [dag.get_task("run_outcome")]
        assert dag.get_task("run_outcome").upstream_task_ids == {"report"}
        assert dag.get_task("run_outcome").trigger_rule == "all_done"
        outlets = {t.task_id: [a.name for a in t.outlets] for t in dag.tasks if t.outlets}
        assert outlets == {"commit_extract": ["custody_staging"], "classify_and_validate": ["custody_inventory"],
                           "back_up": ["custody_snapshots"], "report": ["custody_reports"]}
        assert "source" not in dag.params


def test_a_broken_sources_file_is_an_import_error_not_a_smaller_dag(airflow_env, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "sources.yaml").write_text("version: 1\nsources:\n  - name: crm\n    kind: sql\n", encoding="utf-8")
    monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(tmp_path))
    bag = DagBag(dag_folder=str(ROOT / "dags" / "custody_pipeline.py"))
    assert not any(d.startswith("custody_pipeline") for d in bag.dag_ids)
    (path, error), = bag.import_errors.items()
    assert path.endswith("custody_pipeline.py")
    assert "sources.yaml" in error and "sources.0.lawful_basis: Field required" in error


def test_no_heavy_imports_at_dag_top_level():
    # boto3 is left out of the list: Airflow itself loads the amazon provider's asset-URI handlers.
    heavy = ("pandas", "great_expectations", "pyarrow", "custody.extract", "custody.validation", "custody.store")
    code = (
        "import sys; sys.path.insert(0, %r); import runpy; runpy.run_path(%r);"
        "print(','.join(m for m in %r if m in sys.modules))"
    ) % (str(ROOT / "dags"), str(ROOT / "dags" / "custody_pipeline.py"), heavy)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1:] in ([], [""])


def test_dag_files_import_only_the_sdk_at_top_level():
    import ast

    for path in (ROOT / "dags").glob("*.py"):
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        modules = {(n.module if isinstance(n, ast.ImportFrom) else n.names[0].name) for n in top}
        assert modules <= {"__future__", "datetime", "airflow.sdk"}, (path.name, modules)


def test_ruff_finds_no_airflow2_imports():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff, "ruff is installed from requirements.txt"
    res = subprocess.run([ruff, "check", "--select", "AIR3", "dags", "plugins"], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_purge_asks_the_configured_approvers_with_no_default_answer(dagbag_and_calls):
    from custody.retention.policy import load_retention_policy

    bag, _ = dagbag_and_calls
    dag = bag.dags["custody_purge"]
    assert [t.task_id for t in dag.topological_sort()] == ["plan", "approve", "guard", "execute", "verify",
                                                          "certify"]
    approve = dag.get_task("approve")
    policy = load_retention_policy(ROOT / "include" / "config" / "retention.yaml").policy
    assert approve.defaults is None
    assert approve.options == ["Approve", "Reject"]
    assert [u["id"] for u in approve.assigned_users] == policy.approvals.approvers
    assert approve.response_timeout.total_seconds() == policy.approvals.timeout_hours * 3600
    assert "plan_sha256" in approve.body and "summary" in approve.body
    assert set(dag.get_task("guard").upstream_task_ids) == {"plan", "approve"}
    # A timed-out approval fails its task (no default to fall back on): the guard then never runs.
    assert all(dag.get_task(t).trigger_rule == "all_success" for t in ("guard", "execute", "verify", "certify"))
    # Daily, and when the post-closing milestone is recorded (the Asset custody_milestone updates).
    cond = dag.timetable.asset_condition
    assert (cond.name, cond.uri) == ("custody_milestone_post_closing", "custody://milestone/post_closing")
    assert dag.timetable.timetable.expression == "0 2 * * *"
    outlet = bag.dags["custody_milestone"].get_task("announce_post_closing").outlets
    assert [(a.name, a.uri) for a in outlet] == [("custody_milestone_post_closing", "custody://milestone/post_closing")]
