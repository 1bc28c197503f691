"""The purge section of a report: plans, approvals, executions and certificates, value-free.

Read from the sealed documents in staging (``purge/<plan_id>/``): for each plan its id, time,
policy version, requester, counts (items, blocked by legal hold, scope keys, bytes), hash, and
how far it got (``planned`` -> ``approved`` -> ``executed`` -> ``verified`` -> ``certified``), with
the approver, the verification result and the certificate id. No value ever appears.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from custody.documents import (
    DestructionCertificate,
    PurgeApprovalDocument,
    PurgeExecutionDocument,
    PurgePlanDocument,
    document_key,
)

log = logging.getLogger(__name__)


def purge_section(staging: Any, *, source: str | None = None, limit: int = 20) -> dict[str, Any]:
    """The newest ``limit`` purge plans (those touching ``source`` when given), newest first.

    ``staging``: a ``custody.staging.StagingStore``. A plan document that does not open is
    counted in ``unreadable`` and skipped. Returns ``{"plans": [...], "unreadable": n}``.
    """
    root = Path(staging.root) / "purge"
    plans: list[dict[str, Any]] = []
    unreadable = 0
    folders = sorted((p for p in root.iterdir() if p.is_dir()), reverse=True) if root.is_dir() else []
    for folder in folders:
        plan_id = folder.name
        try:
            plan = staging.get(document_key("purge-plan", plan_id=plan_id), PurgePlanDocument)
            approval = staging.find(document_key("purge-approval", plan_id=plan_id), PurgeApprovalDocument)
            execution = staging.find(document_key("purge-execution", plan_id=plan_id), PurgeExecutionDocument)
            cert = staging.find(document_key("purge-certificate", plan_id=plan_id), DestructionCertificate)
        except Exception as exc:  # noqa: BLE001 - one unreadable plan must not hide the others
            log.warning("purge report: plan %s unreadable (%s)", plan_id, type(exc).__name__)
            unreadable += 1
            continue
        if source is not None and source not in {i.source for i in (*plan.items, *plan.blocked)}:
            continue
        verified = execution.verification.get("result") if execution else None
        status = ("certified" if cert else "verified" if verified == "pass" else "executed" if execution
                  else "approved" if approval else "planned")
        plans.append({
            "plan_id": plan_id, "created_at": plan.created_at, "clock": plan.clock,
            "policy_version": plan.policy_version, "requester": plan.requester, "plan_sha256": plan.plan_hash(),
            "items": len(plan.items), "blocked": len(plan.blocked),
            "holds": sorted({h for b in plan.blocked for h in b.hold_ids}),
            "scope_keys": sum(1 for i in plan.items if i.kind == "scope_key"),
            "bytes": sum(i.bytes for i in plan.items), "status": status,
            "approver": approval.approver if approval else None,
            "answered_at": approval.answered_at if approval else None,
            "verification": verified, "certificate_id": cert.certificate_id if cert else None,
        })
        if len(plans) >= limit:
            break
    return {"plans": plans, "unreadable": unreadable}
