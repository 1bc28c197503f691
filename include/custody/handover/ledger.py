"""The transferor's record of handover packages: the catalog (``handover_package``) and the audit log.

``record_package`` keeps what a receipt must confirm (manifest SHA-256, receipt commitment, rows
and content hash per table) and appends ``handover.build``; ``acknowledge`` checks a receipt
against that record (``custody.handover.verify.check_receipt``), marks the package acknowledged
and appends ``handover.acknowledge``. Both are idempotent.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from custody.catalog.schema import handover_package
from custody.handover.package import MANIFEST, HandoverError
from custody.handover.verify import check_receipt


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def record_package(catalog_url: str, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Record a built package (once) and append ``handover.build``; returns the record (ids, counts, hashes)."""
    from custody.audit.log import AuditLog
    from custody.catalog import require_head

    manifest_sha = hashlib.sha256((Path(folder) / MANIFEST).read_bytes()).hexdigest()
    tables = [{"table": t["table"], "rows": t["rows"], "content_hash": t["content_hash"]} for t in manifest["tables"]]
    record = {"package_id": manifest["package_id"], "deal": manifest["deal"], "snapshot": manifest["snapshot"],
              "recipient_key_id": manifest["recipient"]["key_id"], "manifest_sha256": manifest_sha,
              "receipt_commitment": manifest["receipt_commitment"], "tables": tables,
              "rows": manifest["totals"]["rows"], "objects": manifest["totals"]["objects"]}
    engine = _engine(catalog_url)
    try:
        require_head(engine)
        with engine.connect() as conn:
            if conn.execute(sa.select(handover_package.c.package_id)
                            .where(handover_package.c.package_id == record["package_id"])).first():
                return record
        with AuditLog(catalog_url) as log:
            log.append("handover.build", subject={"deal": record["deal"], "snapshot": record["snapshot"]},
                       counts={"tables": len(tables), "rows": record["rows"], "objects": record["objects"]},
                       hashes={"manifest_sha256": manifest_sha}, key_ids=[record["recipient_key_id"]],
                       details={"package_id": record["package_id"]})
        with engine.begin() as conn:
            conn.execute(sa.insert(handover_package).values(
                package_id=record["package_id"], deal_id=record["deal"], snapshot=record["snapshot"],
                recipient_key_id=record["recipient_key_id"], created_at=datetime.now(UTC),
                manifest_sha256=manifest_sha, receipt_commitment=record["receipt_commitment"],
                tables=json.dumps(tables, sort_keys=True), rows=record["rows"]))
    finally:
        engine.dispose()
    return record


def acknowledge(catalog_url: str, receipt: dict[str, Any]) -> dict[str, Any]:
    """Accept the transferee's receipt: check it against the recorded package, mark it acknowledged.

    Returns ``{"package_id", "acknowledged_at", "acknowledged_by", "rows"}``. Raises ``HandoverError``
    for an unknown package or a receipt that does not match (nothing is recorded then, except a
    ``handover.acknowledge`` entry with outcome ``refused``).
    """
    from custody.audit.log import AuditLog

    engine = _engine(catalog_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(handover_package)
                               .where(handover_package.c.package_id == str(receipt.get("package_id")))).first()
        if row is None:
            raise HandoverError(f"no handover package {receipt.get('package_id')!s:.40} was built here")
        expected = {"package_id": row.package_id, "manifest_sha256": row.manifest_sha256,
                    "receipt_commitment": row.receipt_commitment, "tables": json.loads(row.tables)}
        subject = {"deal": row.deal_id, "snapshot": row.snapshot}
        try:
            check_receipt(expected, receipt)
        except HandoverError as exc:
            with AuditLog(catalog_url) as log:
                log.append("handover.acknowledge", outcome="refused", subject=subject, reason=type(exc).__name__,
                           details={"package_id": row.package_id})
            raise
        if row.acknowledged_at is not None:
            return {"package_id": row.package_id, "acknowledged_at": str(row.acknowledged_at),
                    "acknowledged_by": row.acknowledged_by, "rows": int(row.rows)}
        by = str(receipt.get("verified_by") or "transferee")[:255]
        now = datetime.now(UTC)
        receipt_sha = hashlib.sha256(json.dumps(receipt, sort_keys=True).encode()).hexdigest()
        with AuditLog(catalog_url) as log:
            log.append("handover.acknowledge", subject=subject, counts={"rows": int(row.rows)},
                       hashes={"manifest_sha256": row.manifest_sha256,
                               "receipt_sha256": receipt_sha},
                       details={"package_id": row.package_id})
        with engine.begin() as conn:
            conn.execute(sa.update(handover_package).where(handover_package.c.package_id == row.package_id)
                         .values(acknowledged_at=now, acknowledged_by=by))
        return {"package_id": row.package_id, "acknowledged_at": now.isoformat(timespec="seconds"),
                "acknowledged_by": by, "rows": int(row.rows)}
    finally:
        engine.dispose()
