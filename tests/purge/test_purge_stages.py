"""Retention purge end to end at the stage level, on the demo CRM with S3 over HTTP (moto server,
versioning on): plan -> guard -> execute -> verify -> certify, and answers that must purge nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custody.cli import app
from custody.crypto import decrypt_bytes
from custody.crypto.scopes import ScopeDestroyedError
from custody.documents import DestructionCertificate, PurgePlanDocument, document_key
from custody.purge.guard import HumanAnswer, PurgeRefused
from custody.purge.report import purge_section
from custody.stages import stage_report
from custody.stages.purge import (
    stage_purge_certify,
    stage_purge_execute,
    stage_purge_guard,
    stage_purge_plan,
    stage_purge_verify,
)
from custody.store import LocalStore, S3Store, list_snapshots, load_snapshot, verify_snapshot

from .conftest import CONFIG as CONFIG_DIR
from .conftest import RETENTION

runner = CliRunner()
NOW = datetime.now(UTC)


def _listing(client, bucket):
    """Every (key, version id, is delete marker) under the store prefix."""
    out = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="custody/"):
        out += [(v["Key"], v["VersionId"], False) for v in page.get("Versions", [])]
        out += [(m["Key"], m["VersionId"], True) for m in page.get("DeleteMarkers", [])]
    return out


def _answer(user, option="Approve", received=True):
    return HumanAnswer(response_received=received, chosen_options=(option,) if option else (), user_id=user,
                       user_name=user, responded_at=NOW.isoformat())


def _old_version_and_delete_marker(rt, client, bucket, run_key):
    """What a forget, a prune and a re-upload leave in a versioned bucket: one crm object with an
    older version and a delete marker under its key. Returns its store key and bytes."""
    local = LocalStore(rt.settings.backup_dir)
    doc = load_snapshot(local, document_key("snapshot", source="crm", run_key=run_key), rt.keyring)
    obj = next(o for o in doc.objects if o.kind == "chunk")
    blob = local.get_bytes(obj.key)
    client.delete_object(Bucket=bucket, Key=f"custody/{obj.key}")
    client.put_object(Bucket=bucket, Key=f"custody/{obj.key}", Body=blob)
    return obj.key, blob


def test_an_expired_source_is_purged_after_an_approval_and_nothing_of_it_is_left(purge_home):
    rt, client, bucket, runs = purge_home
    key, blob = _old_version_and_delete_marker(rt, client, bucket, runs["crm"])
    assert decrypt_bytes(blob, keyring=rt.keyring)  # readable before the purge
    before = _listing(client, bucket)
    assert sum(1 for k, _, m in before if k == f"custody/{key}") == 3

    # 70 days on, crm (30 days after extraction, its key 30 days after its month) has expired; archive
    # (ten years) has not.
    out = stage_purge_plan(rt, requester="ops", s3_client=client, clock=NOW + timedelta(days=70))
    plan = rt.staging.get(out["plan_key"], PurgePlanDocument)
    assert plan.sources == ["archive", "crm"] and {i.source for i in plan.items} == {"crm"}
    assert [i.scope for i in plan.items if i.kind == "scope_key"] == [f"crm/customer_contract/{NOW:%Y-%m}"]
    mine = [(i.kind, i.version_id) for i in plan.items if i.ref == key and i.kind.startswith("s3")]
    assert sorted(k for k, _ in mine) == ["s3_delete_marker", "s3_version", "s3_version"]
    assert {i.kind for i in plan.items} >= {"store_snapshot", "store_object", "staging_object", "staging_document"}
    assert plan.policy_version == "test-1" and out["plan_sha256"] == plan.plan_hash()
    assert plan.probes and plan.probes[0].scope.startswith("crm/")

    # Answers that must purge nothing: each refused by the guard, and execute refuses without approval.
    refusals = [
        (_answer("dpo", "Reject"), "ops", False, plan.plan_hash(), "rejected"),
        (None, "ops", False, plan.plan_hash(), "no_answer"),                        # timed out: no answer
        (_answer(None, None, received=False), "ops", False, plan.plan_hash(), "no_answer"),
        (_answer("dpo"), "dpo", False, plan.plan_hash(), "requester_answered"),     # the requester answered
        (_answer("intern"), "ops", False, plan.plan_hash(), "not_an_approver"),
        (_answer("dpo"), "ops", False, "0" * 64, "plan_changed"),
        (_answer("dpo"), "ops", True, plan.plan_hash(), "all_admins"),
    ]
    for answer, requester, all_admins, requested, code in refusals:
        with pytest.raises(PurgeRefused) as refused:
            stage_purge_guard(rt, plan.plan_id, requested_hash=requested, answer=answer, requester=requester,
                              all_admins=all_admins)
        assert refused.value.code == code
        with pytest.raises(PurgeRefused):
            stage_purge_execute(rt, plan.plan_id, s3_client=client)
    assert _listing(client, bucket) == before
    assert decrypt_bytes(blob, keyring=rt.keyring)

    # An assigned approver who is not the requester approves the exact plan.
    stage_purge_guard(rt, plan.plan_id, requested_hash=plan.plan_hash(), answer=_answer("dpo"), requester="ops",
                      all_admins=False)
    done = stage_purge_execute(rt, plan.plan_id, s3_client=client)
    assert done["keys"] == 1 and done["s3"] == len([i for i in plan.items if i.kind.startswith("s3")])
    checked = stage_purge_verify(rt, plan.plan_id, s3_client=client)
    assert checked["result"] == "pass" and checked["probes_failed"] == 0 and checked["s3_versions_left"] == 0
    cert_out = stage_purge_certify(rt, plan.plan_id, s3_client=client)

    # Nothing of crm is listed in S3, not even an older version or a delete marker.
    after = _listing(client, bucket)
    planned = {f"custody/{i.ref}" for i in plan.items if i.kind.startswith("s3")}
    assert not [v for v in after if v[0] in planned]
    assert not [v for v in after if "/crm/" in v[0] and v[0].startswith("custody/snapshots/")]
    # Its objects fail to decrypt wherever a copy survived.
    with pytest.raises(ScopeDestroyedError, match="crypto-shredded"):
        decrypt_bytes(blob, keyring=rt.keyring)
    # The local store holds none of it, staging neither; archive is intact in both stores.
    local = LocalStore(rt.settings.backup_dir)
    assert list_snapshots(local, "crm") == []
    assert all(local.size(i.ref) is None for i in plan.items if i.kind == "store_object")
    assert not (rt.settings.staging_dir / "crm" / runs["crm"]).exists()
    s3 = S3Store(client, bucket, "custody")
    for store in (local, s3):
        report = verify_snapshot(store, document_key("snapshot", source="archive", run_key=runs["archive"]),
                                 rt.keyring)
        assert report.ok
    # A certificate exists: sealed in staging and in both stores, HTML in English and Chinese.
    cert = rt.staging.get(document_key("purge-certificate", plan_id=plan.plan_id), DestructionCertificate)
    assert cert.certificate_id == cert_out["certificate_id"] and cert.approvers == ["dpo"] and cert.requester == "ops"
    assert cert.what["sources"] == ["crm"] and cert.verification["result"] == "pass"
    assert cert.keys[0].key_ids == [i.ref for i in plan.items if i.kind == "scope_key"]
    for store in (local, s3):
        assert json.loads(store.get_bytes(cert.key()))["certificate_id"] == cert.certificate_id
    html_zh = (rt.settings.report_dir / "purge" / plan.plan_id / "certificate.zh-CN.html").read_text("utf-8")
    assert "数据销毁证明" in html_zh and cert.certificate_id in html_zh
    # The certificate is an audit entry, and the log verifies against the checkpoints in both stores.
    entries = rt.audit.find(actions=["purge.certificate"])
    assert json.loads(entries[-1].data)["hashes"]["certificate_sha256"] == cert_out["certificate_sha256"]
    result = runner.invoke(app, ["audit", "verify", "--store", "all", "--endpoint-url",
                                 client.meta.endpoint_url])
    assert result.exit_code == 0, result.output + str(result.stderr if result.stderr_bytes else "")
    # The report's purge section: the plan, its approver and certificate; English and Chinese.
    section = purge_section(rt.staging, source="crm")
    assert [(p["plan_id"], p["status"], p["approver"], p["certificate_id"]) for p in section["plans"]] == [
        (plan.plan_id, "certified", "dpo", cert.certificate_id)]
    assert purge_section(rt.staging, source="archive")["plans"] == []
    paths = stage_report(rt, "crm", runs["crm"], client)
    report = json.loads(Path(paths["json"]).read_text("utf-8"))
    assert report["purge"]["plans"][0]["status"] == "certified"
    html_zh = Path(paths["html_zh"]).read_text("utf-8")
    assert plan.plan_id in html_zh and "已出具证明" in html_zh
    refused = [json.loads(e.data) for e in rt.audit.find(actions=["approval.answer"])]
    assert [e["reason"] for e in refused if e["outcome"] == "refused"] == [r[-1] for r in refusals]


def test_a_legal_hold_blocks_the_purge_of_its_scope(purge_home):
    import yaml

    rt, client, _, _ = purge_home
    hold = {"hold_id": "LH-7", "source": "crm", "reason": "regulator inquiry 2026-17", "placed_by": "legal",
            "placed_at": NOW.date().isoformat()}
    (rt.settings.config_dir / "retention.yaml").write_text(yaml.safe_dump({**RETENTION, "legal_holds": [hold]}))
    out = stage_purge_plan(rt, requester="ops", s3_client=client, clock=NOW + timedelta(days=70))
    plan = rt.staging.get(out["plan_key"], PurgePlanDocument)
    assert plan.items == []
    assert {b.source for b in plan.blocked} == {"crm"} and "scope_key" in {b.kind for b in plan.blocked}
    assert all(b.hold_ids == ["LH-7"] and "regulator inquiry 2026-17" in b.reason for b in plan.blocked)
    shown = purge_section(rt.staging, source="crm")["plans"][0]
    assert shown["status"] == "planned" and shown["items"] == 0 and shown["holds"] == ["LH-7"]


def test_recording_the_closing_milestone_starts_the_transferors_clock(purge_home):
    import yaml

    from custody.deal.config import load_deals
    from custody.deal.record import record_milestone

    rt, client, _, _ = purge_home
    # archive is kept only until 30 days after closing (the transferor's copies, PIPL Art 22)
    rules = [RETENTION["rules"][0], {"name": "transferor_copies", "source": "archive", "anchor": "milestone",
                                     "milestone": "closing", "days": 30, "basis": "PIPL Art 22"}]
    (rt.settings.config_dir / "retention.yaml").write_text(yaml.safe_dump({**RETENTION, "rules": rules}))
    later = NOW + timedelta(days=70)
    # Closing not reached: archive never expires, however late the clock.
    plan = rt.staging.get(stage_purge_plan(rt, requester="ops", s3_client=client, clock=later)["plan_key"],
                          PurgePlanDocument)
    assert {i.source for i in plan.items} == {"crm"} and plan.milestones == {}
    # Closing recorded (as the milestone DAG or `custody milestone record` does): 30 days after it
    # the transferor's archive copies are in the plan too.
    deal = load_deals(CONFIG_DIR / "deal.yaml").deals[0]
    record_milestone(rt.settings.catalog_url, deal, "closing", NOW.date())
    plan = rt.staging.get(stage_purge_plan(rt, requester="ops", s3_client=client, clock=later)["plan_key"],
                          PurgePlanDocument)
    assert plan.milestones == {"closing": NOW.date().isoformat()}
    assert {i.source for i in plan.items} == {"crm", "archive"}
    assert {i.kind for i in plan.items if i.source == "archive"} >= {"scope_key", "staging_object", "store_object"}
