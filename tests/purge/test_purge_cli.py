"""``custody purge plan | execute | certificate`` on the demo CRM with versioned S3 over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from custody.cli import app
from custody.documents import PurgePlanDocument, document_key
from custody.purge.guard import HumanAnswer
from custody.stages.purge import stage_purge_guard

runner = CliRunner()


def test_plan_is_a_dry_run_execute_needs_an_approval_and_certificate_is_issued_once(purge_home):
    rt, client, bucket, runs = purge_home
    endpoint = ["--s3", "--endpoint-url", client.meta.endpoint_url]
    as_of = (datetime.now(UTC) + timedelta(days=70)).isoformat()
    planned = runner.invoke(app, ["purge", "plan", "--as-of", as_of, "--requester", "ops", "--json", *endpoint])
    assert planned.exit_code == 0, planned.output
    result = json.loads(planned.output)
    plan = rt.staging.get(result["plan_key"], PurgePlanDocument)
    assert result["plan_sha256"] == plan.plan_hash() and result["items"] == len(plan.items) > 0
    # A dry run: everything is still there.
    assert (rt.settings.staging_dir / "crm" / runs["crm"]).is_dir()
    refused = runner.invoke(app, ["purge", "execute", plan.plan_id, *endpoint])
    assert refused.exit_code == 1 and "no_approval" in refused.output
    assert (rt.settings.staging_dir / "crm" / runs["crm"]).is_dir()
    no_cert = runner.invoke(app, ["purge", "certificate", plan.plan_id, *endpoint])
    assert no_cert.exit_code == 1

    stage_purge_guard(rt, plan.plan_id, requested_hash=plan.plan_hash(), requester="ops", all_admins=False,
                      answer=HumanAnswer(True, ("Approve",), "security_officer", "Security", "2026-12-01T00:00:00"))
    done = runner.invoke(app, ["purge", "execute", plan.plan_id, *endpoint])
    assert done.exit_code == 0, done.output
    assert "verification pass" in done.output
    assert not (rt.settings.staging_dir / "crm" / runs["crm"]).exists()
    first = runner.invoke(app, ["purge", "certificate", plan.plan_id, "--json", *endpoint])
    again = runner.invoke(app, ["purge", "certificate", plan.plan_id, "--json", *endpoint])
    assert first.exit_code == 0 and again.exit_code == 0
    cert = json.loads(first.output)
    assert json.loads(again.output)["certificate_id"] == cert["certificate_id"]
    assert cert["approvers"] == ["security_officer"] and cert["plan_sha256"] == plan.plan_hash()
    assert len(rt.audit.find(actions=["purge.certificate"])) == 1
    assert client.get_object(Bucket=bucket, Key=f"custody/{document_key('purge-certificate', plan_id=plan.plan_id)}")
