"""The purge stages: plan, guard, execute, verify, certify (the ``custody_purge`` DAG and the CLI).

Each reads and writes the sealed purge documents in staging (``purge/<plan_id>/``) and appends to
the audit log: ``purge.plan``, ``approval.answer`` (passed or refused, with the refusal's code),
``key.destroy`` per scope, ``purge.execute``, ``verify``, ``purge.certificate`` (the
certificate's SHA-256: the certificate is an audit entry), then an audit checkpoint is signed into
the stores. Nothing here reads or writes a value.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from custody.documents import (
    DestructionCertificate,
    PurgeApprovalDocument,
    PurgeExecutionDocument,
    PurgePlanDocument,
    document_key,
)
from custody.purge.guard import HumanAnswer, PurgeRefused, check_answer, check_recorded
from custody.retention.policy import LoadedPolicy, load_retention_policy
from custody.stages.runtime import Runtime

POLICY_FILE = "retention.yaml"


def load_policy(rt: Runtime) -> LoadedPolicy:
    """The retention policy in force (``CUSTODY_CONFIG_DIR/retention.yaml``). Raises ``ConfigError``."""
    return load_retention_policy(rt.settings.config_dir / POLICY_FILE)


def purge_stores(rt: Runtime, s3_client: Any | None = None) -> dict[str, Any]:
    """The snapshot stores a purge covers, by location: the local store (when configured) and S3."""
    from custody.store import LocalStore, S3Store

    stores: dict[str, Any] = {}
    if rt.sources.backup.local:
        local = LocalStore(rt.settings.backup_dir)
        stores[local.location] = local
    if s3_client is not None:
        s3 = S3Store(s3_client, rt.settings.s3_bucket, rt.settings.s3_prefix)
        stores[s3.location] = s3
    return stores


def _plan(rt: Runtime, plan_id: str) -> PurgePlanDocument:
    return rt.staging.get(document_key("purge-plan", plan_id=plan_id), PurgePlanDocument)


def reached_milestones(rt: Runtime, configured: dict[str, date]) -> dict[str, date]:
    """The milestones a plan counts from: those in the policy, and those recorded in the catalog
    (``custody milestone record``, the ``custody_milestone`` DAG) on the first date each was
    reached. A recorded date wins over the policy's, so recording post-closing starts its clock."""
    from custody.deal.record import recorded_milestones

    recorded: dict[str, date] = {}
    for rec in recorded_milestones(rt.settings.catalog_url):
        day = date.fromisoformat(rec.date)
        recorded[rec.milestone] = min(day, recorded.get(rec.milestone, day))
    return {**configured, **recorded}


def stage_purge_plan(rt: Runtime, *, requester: str, s3_client: Any | None = None, clock: datetime | None = None,
                     sources: set[str] | None = None) -> dict[str, Any]:
    """Inventory everything, judge it under the policy in force at ``clock`` (default now), seal
    the plan into staging and record ``purge.plan``. A dry run is just this stage.

    Returns ``{"plan_id", "plan_key", "plan_sha256", "summary", "items", "blocked", "totals"}``.
    """
    from custody.purge.inventory import build_inventory
    from custody.retention.planning import plan_purge

    loaded = load_policy(rt)
    now = datetime.now(UTC)
    inv = build_inventory(staging_dir=rt.settings.staging_dir, stores=purge_stores(rt, s3_client).values(),
                          keyring=rt.keyring, lawful_bases={s.name: s.lawful_basis for s in rt.sources.sources},
                          sources=sources)
    plan = plan_purge(inv.items, loaded, clock or now, requester=requester, probes=list(inv.probes.values()),
                      created_at=now, milestones=reached_milestones(rt, loaded.policy.milestones))
    key = rt.staging.put(plan)
    rt.record("purge.plan", subject={"plan_id": plan.plan_id}, policy_version=loaded.policy.version,
              counts={"items": len(plan.items), "blocked": len(plan.blocked), **plan.totals},
              hashes={"plan_sha256": plan.plan_hash(), "policy_sha256": loaded.sha256},
              key_ids=[i.ref for i in plan.items if i.kind == "scope_key"])
    return {"plan_id": plan.plan_id, "plan_key": key, "plan_sha256": plan.plan_hash(), "summary": plan.summary(),
            "items": len(plan.items), "blocked": len(plan.blocked), "totals": plan.totals}


def stage_purge_guard(rt: Runtime, plan_id: str, *, requested_hash: str, answer: HumanAnswer | None,
                      requester: str, all_admins: bool) -> dict[str, Any]:
    """Re-check the human answer (``custody.purge.guard``); record the approval or the refusal.

    Raises ``PurgeRefused`` (after recording it) when any check fails.
    """
    plan = _plan(rt, plan_id)
    approvers = load_policy(rt).policy.approvals.approvers
    try:
        approval = check_answer(plan, requested_hash=requested_hash, answer=answer, approvers=approvers,
                                requester=requester, all_admins=all_admins)
    except PurgeRefused as exc:
        rt.record("approval.answer", outcome="refused", subject={"plan_id": plan_id}, reason=exc.code,
                  hashes={"plan_sha256": plan.plan_hash()})
        raise
    key = rt.staging.put(approval)
    rt.record("approval.answer", subject={"plan_id": plan_id}, hashes={"plan_sha256": approval.plan_sha256},
              details={"approver": approval.approver[:128], "requester": approval.requester[:128]})
    return {"plan_id": plan_id, "approval_key": key, "approver": approval.approver}


def _approved(rt: Runtime, plan_id: str) -> tuple[PurgePlanDocument, PurgeApprovalDocument]:
    plan = _plan(rt, plan_id)
    approval = rt.staging.find(document_key("purge-approval", plan_id=plan_id), PurgeApprovalDocument)
    check_recorded(plan, approval, load_policy(rt).policy.approvals.approvers)
    assert approval is not None
    return plan, approval


def stage_purge_execute(rt: Runtime, plan_id: str, *, s3_client: Any | None = None) -> dict[str, Any]:
    """Execute an approved plan in the fixed order (``custody.purge.execute``).

    Refuses (``PurgeRefused``) without a recorded approval of this exact plan. Writes the
    execution document and records ``key.destroy`` per scope and ``purge.execute``.
    """
    from custody.purge.execute import (
        clean_local_stores,
        clean_staging,
        delete_s3_versions,
        destroy_keys,
        source_rows,
    )
    from custody.store import S3Store

    plan, approval = _approved(rt, plan_id)
    stores = purge_stores(rt, s3_client)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    seqs: list[int] = []
    who = f"purge {plan_id} approved by {approval.approver}"[:128]
    key_step, keys = destroy_keys(plan, rt.keyring, who=who)
    for k in keys:
        if k.certificate_id:
            seqs.append(rt.record("key.destroy", subject={"scope": k.scope, "certificate_id": k.certificate_id,
                                                          "plan_id": plan_id},
                                  key_ids=k.key_ids, counts={"keys": len(k.key_ids)}).seq)
    s3_step = delete_s3_versions(plan, {loc: s for loc, s in stores.items() if isinstance(s, S3Store)})
    local_step = clean_local_stores(plan, {loc: s for loc, s in stores.items() if not isinstance(s, S3Store)},
                                    rt.keyring)
    staging_step = clean_staging(plan, rt.settings.staging_dir)
    steps = [key_step, s3_step, local_step, staging_step, source_rows(plan)]
    counts = {f"{s.step}_done": s.done for s in steps} | {f"{s.step}_refused": s.refused for s in steps}
    entry = rt.record("purge.execute", subject={"plan_id": plan_id}, counts=counts,
                      hashes={"plan_sha256": plan.plan_hash()}, key_ids=key_step.key_ids)
    seqs.append(entry.seq)
    doc = PurgeExecutionDocument(plan_id=plan_id, plan_sha256=plan.plan_hash(), started_at=started,
                                 finished_at=datetime.now(UTC).isoformat(timespec="seconds"), steps=steps, keys=keys,
                                 audit_seq=seqs)
    rt.staging.put(doc)
    return {"plan_id": plan_id, **{s.step: s.done for s in steps},
            "followups": sum(len(s.followups) for s in steps)}


def stage_purge_verify(rt: Runtime, plan_id: str, *, s3_client: Any | None = None) -> dict[str, Any]:
    """Verify an executed plan (``custody.purge.execute.verify``), record ``verify``; raise
    ``PurgeError`` when anything is left."""
    from custody.purge.execute import PurgeError, verify

    plan, _ = _approved(rt, plan_id)
    execution = rt.staging.get(document_key("purge-execution", plan_id=plan_id), PurgeExecutionDocument)
    followups = {tuple(f.split(": ")[0].rsplit("@", 1)) for s in execution.steps for f in s.followups}
    result = verify(plan, rt.keyring, purge_stores(rt, s3_client), rt.settings.staging_dir, followups)
    entry = rt.record("verify", outcome="success" if result["result"] == "pass" else "failure",
                      subject={"plan_id": plan_id},
                      counts={k: int(v) for k, v in result.items() if isinstance(v, int) and not isinstance(v, bool)})
    doc = execution.model_copy(update={"verification": result, "audit_seq": [*execution.audit_seq, entry.seq]})
    rt.staging.put(doc)
    if result["result"] != "pass":
        raise PurgeError(f"purge {plan_id}: verification found data left (see the task log for keys and ids)")
    return {"plan_id": plan_id, **result}


def stage_purge_certify(rt: Runtime, plan_id: str, *, s3_client: Any | None = None) -> dict[str, Any]:
    """Issue the destruction certificate: sealed JSON in staging and every store, HTML (en, zh-CN)
    in ``reports/purge/<plan_id>/``; record ``purge.certificate`` and sign an audit checkpoint."""
    from custody.purge.certificate import build_certificate, certificate_sha256, write_certificate_html

    plan, approval = _approved(rt, plan_id)
    execution = rt.staging.get(document_key("purge-execution", plan_id=plan_id), PurgeExecutionDocument)
    if execution.verification.get("result") != "pass":
        from custody.purge.execute import PurgeError

        raise PurgeError(f"purge {plan_id} is not verified; no certificate")
    seqs = sorted(_plan_entries(rt, plan_id) | set(execution.audit_seq))
    stores = purge_stores(rt, s3_client)
    cert = build_certificate(plan, approval, execution,
                             audit={"first_seq": seqs[0] if seqs else -1, "last_seq": seqs[-1] if seqs else -1,
                                    "entries": len(seqs), "log_size_before": rt.audit.size()})
    rt.staging.put(cert)
    sealed = json.dumps(cert.sealed(rt.keyring), indent=1, ensure_ascii=False).encode()
    for store in stores.values():
        store.put_bytes(cert.key(), sealed)
    paths = write_certificate_html(cert, rt.settings.report_dir / "purge" / plan_id)
    digest = certificate_sha256(cert)
    entry = rt.record("purge.certificate", subject={"plan_id": plan_id, "certificate_id": cert.certificate_id},
                      hashes={"certificate_sha256": digest, "plan_sha256": cert.plan_sha256},
                      key_ids=[k for d in cert.keys for k in d.key_ids], policy_version=cert.policy_version,
                      counts={k: v for k, v in cert.what.items() if isinstance(v, int)})
    checkpoint = rt.checkpoint(list(stores.values()), reason="purge") if stores else None
    return {"plan_id": plan_id, "certificate_id": cert.certificate_id, "certificate_sha256": digest,
            "audit_seq": entry.seq, "checkpoint_size": checkpoint.size if checkpoint else None,
            "html": str(paths["html"]), "html_zh": str(paths["html_zh"])}


def _plan_entries(rt: Runtime, plan_id: str) -> set[int]:
    """Sequence numbers of the audit entries about one plan (plan, answer, keys, execute, verify)."""
    out = set()
    for e in rt.audit.find(actions=["purge.", "approval.answer", "key.destroy", "verify"]):
        if json.loads(e.data).get("subject", {}).get("plan_id") == plan_id:
            out.add(e.seq)
    return out


def load_certificate(rt: Runtime, plan_id: str) -> DestructionCertificate:
    """The sealed certificate of a plan from staging. Raises ``DocumentError``."""
    return rt.staging.get(document_key("purge-certificate", plan_id=plan_id), DestructionCertificate)
