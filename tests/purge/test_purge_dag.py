"""A real ``custody_purge`` run: scheduler, DAG processor and API server as processes, the approval
answered through Airflow's REST API (HITL endpoint) by an assigned approver, on the demo CRM with
versioned S3 over HTTP (moto server). Users are named (simple auth manager, not all admins)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USERS = {"ops": "ops-secret-1", "dpo": "dpo-secret-2", "intern": "intern-secret-3"}


def _token(base: str, user: str) -> str:
    import httpx

    resp = httpx.post(f"{base}/auth/token", json={"username": user, "password": USERS[user]}, timeout=120)
    assert resp.status_code == 201, resp.text
    return resp.json()["access_token"]


def _wait(what: str, check, services, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = services.outputs()[-3000:].decode("utf-8", "replace")
            raise TimeoutError(f"{what} did not happen in time; output:\n{tail}")
        time.sleep(2)


@pytest.mark.slow
def test_an_assigned_approver_answering_through_the_rest_api_purges_the_expired_source(
        purge_home, pg_server_url, tmp_path):
    import httpx

    from e2e._scheduler import AirflowServices

    from typer.testing import CliRunner

    from custody.cli import app
    from custody.crypto import decrypt_bytes
    from custody.crypto.scopes import ScopeDestroyedError
    from custody.documents import PurgePlanDocument, document_key
    from custody.store import LocalStore, list_snapshots, load_snapshot

    rt, client, bucket, runs = purge_home
    endpoint = client.meta.endpoint_url
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(USERS))
    env = {
        "CUSTODY_HOME": str(rt.settings.home), "CUSTODY_CONFIG_DIR": str(rt.settings.config_dir),
        "CUSTODY_S3_BUCKET": bucket, "CUSTODY_S3_PREFIX": "custody",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1",
        "AIRFLOW_CONN_CUSTODY_S3": json.dumps({"conn_type": "aws", "login": "test", "password": "test-secret",
                                               "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}),
        "PYTHONPATH": str(ROOT / "include"),
    }
    config = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "ops:admin,dpo:admin,intern:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    with AirflowServices(tmp_path / "airflow", pg_server_url, dags=ROOT / "dags", plugins=ROOT / "plugins",
                         env=env, pools=[], dag_files=("custody_purge.py",), airflow_config=config) as services:
        base = f"http://127.0.0.1:{services.port}"
        _wait("parsing custody_purge", lambda: services._query(
            "SELECT dag_id FROM serialized_dag WHERE dag_id = 'custody_purge'"), services, 240)
        def api_up():
            try:
                return httpx.get(f"{base}/api/v2/monitor/health", timeout=10).status_code == 200
            except httpx.TransportError:
                return False

        _wait("the API server", api_up, services, 240)
        ops = {"Authorization": f"Bearer {_token(base, 'ops')}"}
        resp = httpx.patch(f"{base}/api/v2/dags/custody_purge", json={"is_paused": False}, headers=ops, timeout=120)
        assert resp.status_code == 200, resp.text
        as_of = (datetime.now(UTC) + timedelta(days=70)).isoformat()

        def trigger() -> str:
            resp = httpx.post(f"{base}/api/v2/dags/custody_purge/dagRuns", headers=ops, timeout=120,
                              json={"logical_date": None, "conf": {"as_of": as_of}})
            assert resp.status_code == 200, resp.text
            return resp.json()["dag_run_id"]

        def hitl(run_id: str) -> str:
            return f"{base}/api/v2/dags/custody_purge/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails"

        def asked(run_id: str) -> dict:
            def check():
                try:
                    r = httpx.get(hitl(run_id), headers=ops, timeout=120)
                except httpx.TimeoutException:  # a loaded machine: ask again
                    return None
                return r.json() if r.status_code == 200 else None

            detail = _wait("the approval request", check, services, 300)

            # Answer only once the scheduler has taken the paused task's executor event: an answer
            # that resumes the task before that makes Airflow see a state "changed externally" and
            # fail the task (a race no person answering is fast enough to hit).
            event = (f"Received executor event with state success for task instance TaskInstanceKey("
                     f"dag_id='custody_purge', task_id='approve', run_id='{run_id}'")

            def settled():
                return event in (services.home / "scheduler.out").read_text(errors="replace") or None

            _wait("the scheduler to see the approval task paused", settled, services, 120)
            return detail

        def answer(run_id: str, user: str, option: str) -> httpx.Response:
            return httpx.patch(hitl(run_id), json={"chosen_options": [option]}, timeout=120,
                               headers={"Authorization": f"Bearer {_token(base, user)}"})

        def finished(run_id: str) -> tuple[str, dict]:
            def check():
                rows = services._query("SELECT state FROM dag_run WHERE run_id = :r", r=run_id)
                return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

            state = _wait("the purge run", check, services, 600)
            return state, dict(services._query("SELECT task_id, state FROM task_instance WHERE run_id = :r",
                                               r=run_id))

        # A copy of one crm object, to show afterwards that no copy can be decrypted.
        local = LocalStore(rt.settings.backup_dir)
        snapshot = load_snapshot(local, document_key("snapshot", source="crm", run_key=runs["crm"]), rt.keyring)
        blob = local.get_bytes(next(o.key for o in snapshot.objects if o.kind == "chunk"))
        assert decrypt_bytes(blob, keyring=rt.keyring)
        # A rejection purges nothing: everything after the approval is skipped.
        before = client.list_object_versions(Bucket=bucket, Prefix="custody/objects/")
        rejected = trigger()
        asked(rejected)
        assert answer(rejected, "dpo", "Reject").status_code == 200
        state, tasks = finished(rejected)
        assert state == "success" and tasks["approve"] == "success", tasks
        assert {tasks[t] for t in ("guard", "execute", "verify", "certify")} == {"skipped"}, tasks
        after = client.list_object_versions(Bucket=bucket, Prefix="custody/objects/")
        assert [v["VersionId"] for v in after.get("Versions", [])] == [v["VersionId"] for v in before["Versions"]]
        assert (rt.settings.staging_dir / "crm" / runs["crm"]).is_dir()

        run_id = trigger()
        detail = asked(run_id)
        plan_id = detail["subject"].rsplit(" ", 1)[-1]
        plan = rt.staging.get(document_key("purge-plan", plan_id=plan_id), PurgePlanDocument)
        assert plan.plan_hash() in detail["body"] and plan.requester == "ops"
        assert detail["defaults"] is None and [u["id"] for u in detail["assigned_users"]] == ["dpo",
                                                                                              "security_officer"]
        # Neither the requester nor a user who is not assigned may answer.
        for user in ("ops", "intern"):
            refused = answer(run_id, user, "Approve")
            assert refused.status_code == 403, refused.text
        answered = answer(run_id, "dpo", "Approve")
        assert answered.status_code == 200, answered.text
        assert answered.json()["responded_by"]["id"] == "dpo"
        state, tasks = finished(run_id)
    assert state == "success", tasks
    assert tasks == {t: "success" for t in ("plan", "approve", "guard", "execute", "verify", "certify")}
    planned = {f"custody/{i.ref}" for i in plan.items if i.kind.startswith("s3")}
    listed = client.list_object_versions(Bucket=bucket, Prefix="custody/")
    left = [v["Key"] for v in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])] if v["Key"] in planned]
    assert planned and left == []
    assert list_snapshots(LocalStore(rt.settings.backup_dir), "crm") == []
    cert = json.loads((rt.settings.report_dir / "purge" / plan_id / "certificate.json").read_text("utf-8"))
    assert cert["approvers"] == ["dpo"] and cert["requester"] == "ops" and cert["verification"]["result"] == "pass"
    with pytest.raises(ScopeDestroyedError, match="crypto-shredded"):
        decrypt_bytes(blob, keyring=rt.keyring)
    verified = CliRunner().invoke(app, ["audit", "verify", "--store", "all", "--endpoint-url", endpoint])
    assert verified.exit_code == 0, verified.output
    # The listener recorded the two human answers, and the guard the one it let through.
    answers = [json.loads(e.data) for e in rt.audit.find(actions=["approval.answer"])]
    assert [(a["actor"].get("user"), a["details"].get("approved")) for a in answers
            if a["subject"].get("task_id") == "approve"] == [("dpo", False), ("dpo", True)]
