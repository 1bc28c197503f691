"""Milestones through Airflow's REST API, run by a real scheduler: a DAG run of ``custody_milestone``
with conf, an Asset event posted straight to the API, and ``custody milestone record --actions
airflow``; each milestone's Asset schedules its action DAG, which runs the milestone's actions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from custody.audit.entries import decode
from custody.audit.log import AuditLog
from custody.catalog.schema import deal_milestone
from custody.deal.config import MILESTONES

ROOT = Path(__file__).resolve().parents[2]
# One date per way, so each way records its own milestone (a milestone is recorded once per date).
WAYS = {"api": "2026-11-0%d", "asset": "2026-11-1%d", "cli": "2026-11-2%d"}


def _date(way: str, m: str) -> str:
    return WAYS[way] % (MILESTONES.index(m) + 1)


@pytest.mark.slow
def test_each_milestone_through_the_rest_api_and_the_cli_starts_its_actions(deal_world, pg_server_url, tmp_path):
    import httpx

    from e2e._scheduler import AirflowServices

    action_dags = [f"custody_milestone_{m}" for m in MILESTONES]
    with AirflowServices(tmp_path / "airflow", pg_server_url, dags=ROOT / "dags", plugins=ROOT / "plugins",
                         env=deal_world.env(), pools=[],
                         dag_files=("custody_milestone.py", "custody_milestone_actions.py")) as services:
        deadline = time.monotonic() + 600
        services._wait("parsing the DAGs", lambda: {"custody_milestone", *action_dags} <= {
            r[0] for r in services._query("SELECT dag_id FROM serialized_dag")}, deadline)
        api = httpx.Client(base_url=f"http://127.0.0.1:{services.port}", timeout=60)
        services._wait("the API server", lambda: _up(api), deadline)

        def finished(expected: dict[str, int]):
            def done() -> bool:
                rows = services._query("SELECT dag_id, state FROM dag_run")
                failed = [d for d, s in rows if s == "failed"]
                assert not failed, f"failed runs: {failed}"
                return all(sum(1 for d, s in rows if d == dag and s == "success") >= n for dag, n in expected.items())
            return done

        # (b1) the REST API: a DAG run of custody_milestone with the form's keys in conf.
        for m in MILESTONES:
            res = api.post("/api/v2/dags/custody_milestone/dagRuns", json={
                "logical_date": None, "conf": {"deal": "test-deal", "milestone": m, "date": _date("api", m),
                                               "via": "api"}})
            assert res.status_code in (200, 201), res.text
        services._wait("the recorded milestones' actions", finished(
            {"custody_milestone": 4, **{d: 1 for d in action_dags}}), deadline)

        # (b2) the REST API: an Asset event posted straight to the milestone's Asset.
        assets = {a["uri"]: a["id"] for a in api.get("/api/v2/assets", params={"limit": 100}).json()["assets"]}
        for m in MILESTONES:
            res = api.post("/api/v2/assets/events", json={
                "asset_id": assets[f"custody://milestone/{m}"],
                "extra": {"deal": "test-deal", "milestone": m, "date": _date("asset", m)}})
            assert res.status_code in (200, 201), res.text
        services._wait("the posted events' actions", _milestones_recorded(deal_world, "asset"), deadline)

        # (c) the command line, starting the actions in Airflow.
        env = {**os.environ, **deal_world.env(), "COLUMNS": "200",
               "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), os.environ.get("PYTHONPATH", "")])}
        for m in MILESTONES:
            res = subprocess.run([sys.executable, "-m", "custody.cli", "milestone", "record", m, "--deal",
                                  "test-deal", "--date", _date("cli", m), "--actions", "airflow", "--airflow-url",
                                  f"http://127.0.0.1:{services.port}"], env=env, capture_output=True, text=True,
                                 timeout=300)
            assert res.returncode == 0, res.stderr[-2000:]
            assert "asset event" in res.stdout
        services._wait("the command line's actions", _actions_done(deal_world, "cli"), deadline)
        services._wait("every run finished", lambda: not any(
            s not in ("success", "failed") for _, s in services._query("SELECT dag_id, state FROM dag_run")), deadline)
        states = services._query("SELECT dag_id, state FROM dag_run")
    assert {s for _, s in states} == {"success"}
    # Every milestone, each way: one catalog row, one audit entry, its actions run for it.
    engine = sa.create_engine(deal_world.catalog_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deal_milestone)).all()
    engine.dispose()
    got = {(r.milestone, r.occurred_on.isoformat()): r for r in rows}
    for way in WAYS:
        for m in MILESTONES:
            assert (m, _date(way, m)) in got, (way, m)
    assert sorted(r.via for r in rows) == sorted(["api"] * 4 + ["asset"] * 4 + ["cli"] * 4)
    with AuditLog(deal_world.catalog_url) as log:
        entries = [decode(r.data) for r in log.rows()]
    recorded = [e for e in entries if e.action == "milestone.record"]
    assert len(recorded) == 12
    acted = {(e.subject["milestone_id"], e.details["action"]) for e in entries if e.action == "milestone.action"}
    for r in rows:
        expected = {"due_diligence": {"inventory_summary", "pipia_draft"}, "signing": {"notification_list"},
                    "closing": {"handover_package"},
                    "post_closing": {"retention_rules"}}[r.milestone]
        assert {a for mid, a in acted if mid == r.milestone_id} == expected, (r.milestone, r.via)


def _up(api) -> bool:
    try:
        return api.get("/api/v2/version").status_code == 200
    except Exception:
        return False


def _milestones_recorded(world, via: str):
    def done() -> bool:
        engine = sa.create_engine(world.catalog_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.select(sa.func.count()).where(deal_milestone.c.via == via)).scalar() == 4
        finally:
            engine.dispose()
    return done


def _actions_done(world, via: str):
    def done() -> bool:
        engine = sa.create_engine(world.catalog_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                ids = set(conn.execute(sa.select(deal_milestone.c.milestone_id).where(
                    deal_milestone.c.via == via)).scalars())
        finally:
            engine.dispose()
        with AuditLog(world.catalog_url) as log:
            acted = {json.loads(r.data)["subject"].get("milestone_id") for r in log.rows()
                     if r.action == "milestone.action"}
        return len(ids) == 4 and ids <= acted
    return done
