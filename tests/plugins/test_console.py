"""The custody console's pages on a real run: figures checked against the catalog, Airflow's run
states (a failed run shows failed), sections of features not yet present render empty with a
label, and appear with their rows once their table exists; the run view; per-source access."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "crm"
DAG_ID = f"custody_pipeline_{SOURCE}"
OK_RUN, FAILED_RUN = "manual__2026-12-01T08:00:00+00:00", "manual__2026-12-02T08:00:00+00:00"


@pytest.fixture(scope="module")
def world(tmp_path_factory, new_catalog, new_keyring):
    """A Custody home with one successful run (backed up, reported, verified, drilled) and one
    failed run (its report names plan_extract)."""
    from typer.testing import CliRunner

    from custody.cli import app as cli
    from custody.demo import generate_crm
    from custody.demo.loaders import load_tables
    from custody.documents import run_key_for
    from custody.stages import (Runtime, stage_backup, stage_classify_and_validate, stage_extract,
                                stage_report)
    from custody.stages.failures import StageFailure, run_outcome
    from custody.store.ledger import record_drill

    home = tmp_path_factory.mktemp("console")
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTODY_HOME", str(home))
    mp.delenv("CUSTODY_KEYRING", raising=False)
    mp.delenv("CUSTODY_CATALOG_URL", raising=False)
    url = new_catalog(home / "catalog.db")
    new_keyring(f"local:{home / 'keys' / 'kek.json'}")
    engine = sa.create_engine(f"sqlite:///{home / 'crm.sqlite'}")
    load_tables(engine, generate_crm(contacts=300))
    rt = Runtime.from_env()
    ok_key = stage_extract(rt, engine, SOURCE, OK_RUN)["run_key"]
    stage_classify_and_validate(rt, SOURCE, ok_key)
    stage_backup(rt, SOURCE, ok_key)
    stage_report(rt, SOURCE, ok_key)
    failed = run_outcome({"plan_extract": "failed"}, [StageFailure(
        stage="plan_extract", error="OperationalError", transient=True, message="the source could not be reached")])
    stage_report(rt, SOURCE, run_key_for(FAILED_RUN), outcome=failed)
    assert CliRunner().invoke(cli, ["verify", "latest", "--source", SOURCE]).exit_code == 0
    catalog = sa.create_engine(url)
    record_drill(catalog, {"drill_id": "drill-1", "started_at": datetime.now(UTC).isoformat(),
                           "location": "local:backups", "snapshot_id": f"{SOURCE}/{ok_key}",
                           "tables": {"contacts": {"rows": 300}}, "rto_s": 12.5, "rpo_s": 3600.0,
                           "rto_limit_s": 900.0, "rpo_limit_s": 93600.0, "passed": True, "problems": []})
    yield {"home": home, "catalog": catalog, "ok_key": ok_key}
    catalog.dispose()
    mp.undo()


@pytest.fixture
def console(airflow_env, world, monkeypatch):
    """The plugin module with two runs of the crm DAG in Airflow's metadata database."""
    from sqlalchemy import delete

    from airflow.api_fastapi.app import create_auth_manager, purge_cached_app
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    monkeypatch.setenv("CUSTODY_HOME", str(world["home"]))
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-" + "k" * 64)
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER",
                       "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    with create_session() as session:
        # Earlier tests (dag.test runs of the pipeline) may have left the DAG and its runs in the
        # shared metadata database: this test owns exactly two runs of it.
        session.execute(delete(DagRun).where(DagRun.dag_id == DAG_ID))
        created = session.get(DagModel, DAG_ID) is None
        if created:
            session.add(DagBundleModel(name="console_bundle"))
            session.flush()
            session.add(DagModel(dag_id=DAG_ID, bundle_name="console_bundle", fileloc="/dags/custody_pipeline.py"))
        session.flush()
        for i, (run_id, state) in enumerate(((OK_RUN, DagRunState.SUCCESS), (FAILED_RUN, DagRunState.FAILED))):
            session.add(DagRun(dag_id=DAG_ID, run_id=run_id, run_type=DagRunType.MANUAL, state=state,
                               run_after=datetime(2026, 12, 1 + i, 8, tzinfo=UTC)))
    purge_cached_app()
    create_auth_manager()
    spec = importlib.util.spec_from_file_location("custody_plugin", ROOT / "plugins" / "custody_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    purge_cached_app()
    with create_session() as session:
        session.execute(delete(DagRun).where(DagRun.dag_id == DAG_ID))
        if created:
            session.execute(delete(DagModel).where(DagModel.dag_id == DAG_ID))
            session.execute(delete(DagBundleModel).where(DagBundleModel.name == "console_bundle"))


def _get(module, path: str, role: str | None = "admin"):
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"u-{role}", role=role))
    res = TestClient(module.app, headers={"Authorization": f"Bearer {token}"}).get(path)
    assert "default-src 'none'" in res.headers["content-security-policy"], path
    return res


def test_overview_shows_real_run_states_the_failed_stage_and_the_audit_logs_integrity(console, world):
    from custody.audit.log import AuditLog
    from custody.settings import Settings

    res = _get(console, "/")
    assert res.status_code == 200
    page = res.text
    assert "<script" not in page
    runs = re.findall(r'data-run-id="([^"]+)" data-state="([^"]+)"', page)
    # The crm DAG's two runs, newest first, in Airflow's own states (runs that earlier tests left
    # for other sources' DAGs are shown in those sources' rows).
    assert [r for r in runs if r[0] in (FAILED_RUN, OK_RUN)] == [(FAILED_RUN, "failed"), (OK_RUN, "success")]
    assert "failed: plan_extract" in page
    with AuditLog(Settings.from_env().catalog_url) as log:
        entries = log.size()
    assert f'id="audit-entries">{entries:,}<' in page
    # The next milestone of the deal (deal.yaml) not yet reached; no request is open.
    from datetime import date

    from custody.deal.config import load_deals
    from custody.settings import DEFAULT_CONFIG_DIR

    deal = load_deals(DEFAULT_CONFIG_DIR / "deal.yaml").deals[0]
    name, when = min(((n, m.date) for n, m in deal.milestones.items() if m.date and m.date >= date.today()),
                     key=lambda x: x[1])
    left = (datetime(when.year, when.month, when.day, tzinfo=UTC) - datetime.now(UTC)).days  # whole days to its start
    assert f"{name} ({deal.id}) in {left} day(s)" in page
    assert "not available yet" not in page


def test_inventory_counts_match_the_catalog(console, world):
    from custody.catalog.schema import inventory_column as t

    page = _get(console, "/inventory").text
    with world["catalog"].connect() as conn:
        rows = conn.execute(sa.select(t.c.level, t.c.pi_type, sa.func.count()).where(t.c.source == SOURCE)
                            .group_by(t.c.level, t.c.pi_type)).all()
    assert rows
    for level, pi_type, n in rows:
        assert f'data-level="{level}" data-pi-type="{pi_type or "-"}">{n:,}<' in page
    assert f"<code>{world['ok_key']}</code> (baseline)" in page


def test_backups_show_the_snapshot_the_last_verify_and_the_drill(console, world):
    from custody.store import LocalStore, list_snapshots
    from custody.settings import Settings

    page = _get(console, "/backups").text
    store = LocalStore(Settings.from_env().backup_dir)
    (key,) = list_snapshots(store, SOURCE)
    assert f"<code>{key}</code>" in page and store.location in page
    assert re.search(r'class="ok last-verify">passed \d{4}-\d\d-\d\d \d\d:\d\d', page)
    assert "drill-1" in page and "12.5 (900.0)" in page and "passed" in page


def test_requests_purges_and_milestones_pages_show_what_the_features_wrote(console, world):
    from custody.audit.entries import Actor
    from custody.config import load_dsr
    from custody.crypto import open_keyring
    from custody.deal.config import load_deals
    from custody.deal.record import record_milestone
    from custody.dsr.requests import RequestBook
    from custody.settings import DEFAULT_CONFIG_DIR, Settings
    from custody.stages import Runtime

    settings = Settings.from_env()
    url = settings.catalog_url
    assert "dsr-" not in _get(console, "/requests").text  # no request yet
    # A deletion request for crm received 20 days ago under PIPL (15 days): overdue by 5 days, and a
    # request of another source the user may not read.
    keyring = open_keyring(settings.keyring, key_store=url)
    clerk = Actor(kind="cli", user="clerk", host="h")
    past = RequestBook(url, keyring, config=load_dsr(DEFAULT_CONFIG_DIR / "dsr.yaml"),
                       clock=lambda: datetime.now(UTC) - timedelta(days=20))
    late = past.receive("deletion", {"mobile_phone": "13812345678"}, source=SOURCE, actor=clerk)
    other = past.receive("access", {"email": "x@example.com"}, source="elsewhere", actor=clerk)
    page = _get(console, "/requests").text
    assert late.request_id in page and other.request_id not in page  # only sources the user may read
    assert '<td class="failed">-6</td>' in page or '<td class="failed">-5</td>' in page  # days left, overdue
    overview = _get(console, "/").text
    assert re.search(r'<td class="num">1</td>\s*</tr>', overview)  # one overdue request for crm

    # The purge queue is read from the audit log's purge entries.
    rt = Runtime.from_env()
    rt.record("purge.plan", subject={"plan_id": "20261203T000000Z-abcd1234"}, counts={"items": 7, "blocked": 1})
    page = _get(console, "/purge").text
    assert "20261203T000000Z-abcd1234" in page and "planned" in page and ">7<" in page

    # Milestones: the deal's planned dates, and the one recorded.
    deal = load_deals(DEFAULT_CONFIG_DIR / "deal.yaml").deals[0]
    record_milestone(url, deal, "signing", deal.milestones["signing"].date)
    page = _get(console, "/milestones").text
    assert deal.id in page and "due_diligence" in page and "post_closing" in page
    assert deal.milestones["signing"].date.isoformat() in page and "cli" in page


def test_the_run_view_shows_the_run_and_refuses_other_dags(console, world):
    page = _get(console, f"/runs/{DAG_ID}/{FAILED_RUN}").text
    assert 'class="failed">failed</span>' in page and "FAILED</span>: plan_extract" in page
    assert _get(console, "/runs/custody_restore_drill/x").status_code == 404
    assert _get(console, f"/runs/{DAG_ID}/{OK_RUN}", role=None).status_code == 403


def test_a_user_without_a_role_sees_no_source(console, world):
    page = _get(console, "/", role=None).text
    assert OK_RUN not in page and "No source you may read." in page
    assert world["ok_key"] not in _get(console, "/backups", role=None).text
