"""The compliance-report stage: the periodic report (JSON, HTML, PDF; English and Chinese).

Called monthly by ``dags/custody_compliance_report.py``, at each deal milestone, and by
``custody report compliance``. Before building, the audit log is checkpointed into the stores and
verified against the catalog's and the local store's checkpoints, so the report's audit-log
section states a result made for it (PIPL Art 54). The report's own ``report`` audit entry
(subject ``report: compliance``, the SHA-256 of every file) follows it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from custody.stages.report import _stores
from custody.stages.runtime import Runtime

# Audit hash names of the files (``[a-z][a-z0-9_.]*``).
_HASH_NAMES = {"compliance.json": "json", "compliance.en.html": "html_en", "compliance.zh-CN.html": "html_zh_cn",
               "compliance.en.pdf": "pdf_en", "compliance.zh-CN.pdf": "pdf_zh_cn"}


def verify_for_report(rt: Runtime, stores: list[Any]) -> dict[str, Any]:
    """Checkpoint the audit log into ``stores`` and verify it against the catalog and the local
    stores; returns ``AuditReport.summary()`` (a refused checkpoint is a finding, ``ok`` False)."""
    from custody.audit.checkpoints import CheckpointError
    from custody.audit.verify import verify_log
    from custody.store import LocalStore

    refused = None
    try:
        rt.checkpoint(stores, reason="compliance")
    except CheckpointError as exc:
        refused = {"kind": "checkpoint", "where": "catalog", "message": str(exc), "seq": None}
    local = [s for s in stores if isinstance(s, LocalStore)]
    summary = verify_log(rt.audit, [rt.signer().verifier()], local, origin=rt.settings.audit_origin,
                         decode_entries=False).summary()
    if refused:
        summary["findings"].append(refused)
        summary["ok"] = False
    return summary


def stage_compliance_report(rt: Runtime, period: str | None = None, s3_client: Any | None = None, *,
                            verify: bool = True) -> dict[str, Any]:
    """Build and write the compliance report of ``period`` (``YYYY-MM``; None: this month).

    ``s3_client``: boto3 client of the backup bucket for the checkpoint (None: local store and
    catalog only); ``verify`` False skips checkpoint and verification (the report then says the
    log was not verified). Writes ``<report_dir>/compliance/<period>/`` and appends a ``report``
    entry. Returns ``{"period", "folder", "files" (names), "pdf_missing" (reason or None),
    "audit_ok"}``. Raises ``ValueError`` for a malformed period, ``OSError`` when the folder cannot
    be written.
    """
    from custody.reports.compliance_collect import build_compliance_report, period_for
    from custody.reports.compliance_output import compliance_dir, write_compliance_report

    per = period_for(period)
    integrity = verify_for_report(rt, _stores(rt, s3_client)) if verify else None
    report = build_compliance_report(rt.settings.catalog_url, period=per, sources=rt.sources, integrity=integrity)
    folder = compliance_dir(rt.settings.report_dir, per.label)
    out = write_compliance_report(report, folder)
    rt.record("report", subject={"report": "compliance"},
              hashes={f"{_HASH_NAMES[name]}_sha256": hashlib.sha256(path.read_bytes()).hexdigest()
                      for name, path in out["files"].items()},
              counts={"files": len(out["files"])},
              details={"period": per.label, "pdf": out["pdf_missing"] is None,
                       "audit_ok": None if integrity is None else bool(integrity["ok"])})
    return {"period": per.label, "folder": str(folder), "files": sorted(out["files"]),
            "pdf_missing": out["pdf_missing"], "audit_ok": None if integrity is None else bool(integrity["ok"])}
