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
    assert "custody_pipeline" in bag.dag_ids


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
            if t.task_id != "report":
                assert t.retries >= 2, f"{dag_id}.{t.task_id}"


def test_pipeline_shape(dagbag_and_calls):
    bag, _ = dagbag_and_calls
    dag = bag.dags["custody_pipeline"]
    assert {t.task_id for t in dag.tasks} == {
        "plan_extract_crm", "extract_range_crm", "plan_extract_chinook", "extract_range_chinook",
        "extract", "classify", "validate", "drift_alert", "back_up", "report",
    }
    assert dag.get_task("validate").upstream_task_ids == {"extract", "classify"}
    assert dag.get_task("extract_range_crm").pool == "custody_crm"
    assert dag.get_task("extract_range_crm").execution_timeout.total_seconds() == 6 * 3600
    assert dag.get_task("back_up").upstream_task_ids == {"extract", "validate", "classify"}
    assert dag.get_task("report").trigger_rule == "all_done"
    outlets = {t.task_id: [a.name for a in t.outlets] for t in dag.tasks if t.outlets}
    assert outlets == {
        "extract": ["custody_staging"], "validate": ["custody_validated"], "classify": ["custody_inventory"],
        "back_up": ["custody_snapshots"], "report": ["custody_reports"],
    }
    assert set(dag.params.get_param("source").schema["enum"]) >= {"crm", "chinook"}


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
