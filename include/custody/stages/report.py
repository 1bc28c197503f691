"""The report stage: the run report (JSON, HTML in English and Chinese) from the stage documents.

It runs whatever happened before it (the DAG's ``report`` task runs when all others are done), so
it writes a report from the documents that exist and the run's outcome: when extraction failed
there is no manifest, and the report still says which stage failed and why. It is the run's last
stage, so it also removes the temporary files its run's tasks left behind (a killed task's).

Before rendering, the audit log is checkpointed (a milestone: the run's entries are anchored in
the local store and on S3) and verified against the catalog's and the local store's checkpoints
(every leaf recomputed, the tree, signatures, consistency; entries are decoded only by
``custody audit verify``); the report states the range of entries about the run, the checkpoint
and the verification result (PIPL Art 54: audits need a record they can trust). The report's own
entry comes after it.
"""

from __future__ import annotations

import hashlib
import shutil
from typing import Any

from custody.documents import (
    BackupDocument,
    ClassificationDocument,
    RunManifest,
    ValidationDocument,
    document_key,
    run_prefix,
)
from custody.stages.failures import RunOutcome, describe_failure
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


def stage_report(rt: Runtime, source: str, run_key: str, s3_client: Any | None = None, *,
                 outcome: RunOutcome | dict[str, Any] | None = None) -> dict[str, str]:
    """Render the run report from whatever stage documents the run has; returns the file paths.

    ``s3_client``: a boto3 S3 client of the backup bucket (None: the audit checkpoint goes to the
    local store and the catalog only). ``outcome``: the run's ``RunOutcome`` (task states and
    value-free failures, from the DAG layer) or its dict; None for a run driven without Airflow.
    A document that is missing is reported as not run; one that cannot be read (a missing key, a
    broken seal) is named with its error class in ``unreadable``. Appends a ``report`` audit
    entry with the files' SHA-256. Returns ``{"json", "html", "html_zh"}`` paths (text). Raises
    ``OSError`` when the report folder cannot be written, and ``StageError`` after writing the
    report when the audit log fails verification or a checkpoint was refused (the report says why).
    """
    from custody.fsio import remove_orphans
    from custody.reports import build_run_report, write_run_report

    outcome = RunOutcome.model_validate(outcome) if isinstance(outcome, dict) else outcome
    unreadable: list[str] = []
    try:
        staging = rt.staging
    except Exception as exc:  # e.g. a missing key: a report must still be written, without documents
        unreadable.append(describe_failure("open staging", exc).line())
        staging = None

    def find(kind: Any, model: Any) -> Any:
        if staging is None:
            return None
        try:
            return staging.find(document_key(kind, source=source, run_key=run_key), model)
        except Exception as exc:  # name the document and the error class, and go on
            unreadable.append(describe_failure(f"read {kind}.json", exc).line())
            return None

    manifest = find("manifest", RunManifest)
    audit: dict[str, Any] | None = None
    try:
        audit = audit_section(rt, source, run_key, _stores(rt, s3_client))
    except Exception as exc:  # a report is written even when the audit log cannot be reached
        unreadable.append(describe_failure("audit log", exc).line())
    purge: dict[str, Any] | None = None
    if staging is not None:
        from custody.purge.report import purge_section

        try:
            purge = purge_section(staging, source=source)
        except Exception as exc:  # a report is written even when the purge documents cannot be read
            unreadable.append(describe_failure("purge plans", exc).line())
    report = build_run_report(manifest, validation=find("validation", ValidationDocument),
                              classification=find("classification", ClassificationDocument),
                              backup=find("backup", BackupDocument),
                              outcome=outcome.model_dump(mode="json") if outcome else None,
                              source=source, run_key=run_key, unreadable=unreadable, audit=audit, purge=purge)
    folder = rt.settings.report_dir / source / run_key
    paths = write_run_report(report, folder)
    # Every other task of the run has ended: a temporary file still in its staging or report
    # folder is a killed task's leftover (a partly written object, document or Data Docs site).
    if staging is not None:
        # On S3 a live upload of another run is spared by age (its multipart upload is younger).
        staging.sweep_temporary(run_prefix(source, run_key), older_than_s=0 if not staging.shared else 3600)
    elif rt.settings.staging_url == "local":
        remove_orphans(rt.settings.staging_dir / run_prefix(source, run_key), older_than_s=0)
    remove_orphans(folder, older_than_s=0)
    for site in folder.glob(".datadocs.building-*"):
        shutil.rmtree(site, ignore_errors=True)
    if audit is not None:
        rt.record("report", subject={"source": source, "run_key": run_key, "report": "run"},
                  hashes={f"{k}_sha256": hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()},
                  details={"audit_ok": audit["verified"]["ok"]})
        if not audit["verified"]["ok"]:
            first = audit["checkpoint_refused"] or (audit["verified"]["findings"] or ["?"])[0]
            raise StageError(f"audit log failed verification: {first}")
    return {k: str(v) for k, v in paths.items()}
