"""The report stage: the run report (JSON, HTML in English and Chinese) from the stage documents.

Before rendering, the audit log is checkpointed (a milestone: the run's entries are anchored in
the local store and on S3) and verified against the catalog's and the local store's checkpoints
(every leaf recomputed, the tree, signatures, consistency; entries are decoded only by
``custody audit verify``);
the report states the range of entries about the run, the checkpoint and the verification result
(PIPL Art 54: audits need a record they can trust). The report's own entry comes after it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from custody.documents import BackupDocument, ClassificationDocument, ValidationDocument, document_key
from custody.stages.runtime import Runtime, StageError


def _stores(rt: Runtime, s3_client: Any | None) -> list[Any]:
    from custody.store import LocalStore, S3Store

    stores: list[Any] = []
    if rt.sources.backup.local:
        stores.append(LocalStore(rt.settings.backup_dir))
    if s3_client is not None:
        stores.append(S3Store(s3_client, rt.settings.s3_bucket, rt.settings.s3_prefix))
    return stores


def audit_section(rt: Runtime, source: str, run_key: str, stores: list[Any]) -> dict[str, Any]:
    """Checkpoint the audit log into ``stores``, verify it, and describe both for the run report.

    Returns ``{"range": {"first", "last", "entries"} | None, "log_size", "checkpoint": {"size",
    "root", "signed_at", "signers", "note_sha256", "stores"} | None, "checkpoint_refused": reason |
    None, "verified": {"ok", "entries", "checkpoints", "first_bad_entry", "findings" (first 5),
    "stores"}}``: sequence numbers, hashes, times and key names only.
    """
    from custody.audit.checkpoints import CheckpointError
    from custody.audit.verify import verify_log
    from custody.store import LocalStore

    span = rt.audit.run_range(source, run_key)
    refused = None
    try:
        cp = rt.checkpoint(stores, reason="run")
    except CheckpointError as exc:
        cp, refused = None, str(exc)
    local = [s for s in stores if isinstance(s, LocalStore)]
    # Entries are not decoded here (the full check is `custody audit verify`): leaves, tree,
    # checkpoints and their consistency cost about a tenth (bench/audit.py).
    result = verify_log(rt.audit, [rt.signer().verifier()], local, origin=rt.settings.audit_origin,
                        decode_entries=False)
    latest = cp or result.latest
    summary = result.summary()
    return {
        "range": None if span is None else {"first": span[0], "last": span[1]},
        "log_size": result.size,
        "checkpoint": None if latest is None else {
            "size": latest.size, "root": latest.root.hex(), "signed_at": latest.signed_at,
            "signers": list(latest.signers), "note_sha256": latest.digest,
            "stores": [s.location for s in stores] if cp is not None else []},
        "checkpoint_refused": refused,
        "verified": {"ok": summary["ok"] and refused is None, "entries": summary["entries"],
                     "checkpoints": summary["checkpoints"], "first_bad_entry": summary["first_bad_entry"],
                     "findings": [f["message"] for f in summary["findings"][:5]], "stores": summary["stores"]},
    }


def stage_report(rt: Runtime, source: str, run_key: str, s3_client: Any | None = None) -> dict[str, str]:
    """Render the run report from whatever stage documents the run has; returns the file paths.

    ``s3_client``: a boto3 S3 client of the backup bucket (None: the checkpoint goes to the local
    store and the catalog only). Appends a ``report`` audit entry with the files' SHA-256.
    Raises ``StageError`` after writing the report when the audit log fails verification or a
    checkpoint was refused (the report says why).
    """
    from custody.reports import build_run_report, write_run_report

    def find(kind: Any, model: Any) -> Any:
        return rt.staging.find(document_key(kind, source=source, run_key=run_key), model)

    manifest = rt.manifest(source, run_key)
    audit = audit_section(rt, manifest.source, manifest.run_key, _stores(rt, s3_client))
    report = build_run_report(manifest, validation=find("validation", ValidationDocument),
                              classification=find("classification", ClassificationDocument),
                              backup=find("backup", BackupDocument), audit=audit)
    paths = write_run_report(report, rt.settings.report_dir / manifest.source / manifest.run_key)
    rt.record("report", subject={"source": manifest.source, "run_key": manifest.run_key, "report": "run"},
              hashes={f"{k}_sha256": hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()},
              details={"audit_ok": audit["verified"]["ok"]})
    if not audit["verified"]["ok"]:
        first = audit["checkpoint_refused"] or (audit["verified"]["findings"] or ["?"])[0]
        raise StageError(f"audit log failed verification: {first}")
    return {k: str(v) for k, v in paths.items()}
