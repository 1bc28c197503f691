"""Executing an approved purge plan in a fixed order, then verifying that nothing is left.

Order (each step only after the previous one finished; a rerun skips what is already gone, so
the step is idempotent):

1. **keys**: destroy the scope keys of the plan in the key store (``ScopedKeyring.destroy_scope``,
   ``docs/format.md`` 1.5). From here every object of those scopes, wherever a copy survives, is
   unreadable: cryptographic erase (NIST SP 800-88 Rev. 1, 2.6 "Cryptographic Erase").
2. **s3**: delete every planned S3 object version and delete marker by version id
   (``DeleteObject`` with ``VersionId``), so no older version keeps the ciphertext. A version
   under Object Lock in compliance or governance mode cannot be deleted before its retain-until
   date: it is left with a dated follow-up; one under an Object Lock legal hold is refused.
3. **local**: delete the planned snapshot documents and objects of local stores, then prune
   (``custody.store.retention.prune``) so no object stays that no snapshot references.
4. **staging**: delete the planned staging objects and the documents of their runs.

Source rows (``source_row`` items, only when ``purge_source_rows`` is on) are recorded as refused
by ``source_rows``: deleting from the source system needs its own approval.

``verify`` then checks: every probe's data key fails to open (``ScopeDestroyedError``), every
planned key is a tombstone, no planned S3 version or delete marker is listed, no planned local
or staging object exists. PIPL Art 47; GB/T 35273-2020 8.3; GDPR Art 17.
"""

from __future__ import annotations

import base64
import logging
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custody.canonical import canonical_json
from custody.documents import KeyDestruction, PurgeItem, PurgePlanDocument, StepRecord

log = logging.getLogger(__name__)


class PurgeError(Exception):
    """A purge step failed or verification found something left (names keys and ids, never values)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def destroy_keys(plan: PurgePlanDocument, keyring: Any, *, who: str) -> tuple[StepRecord, list[KeyDestruction]]:
    """Step 1. Refuses (``PurgeError``) a scope whose active keys are not exactly the planned ones
    (a key created after planning would otherwise be destroyed unseen)."""
    planned: dict[str, set[str]] = defaultdict(set)
    for i in plan.items:
        if i.kind == "scope_key" and i.scope:
            planned[i.scope].add(i.ref)
    if not planned:
        return StepRecord(step="keys"), []
    keys = {k["key_id"]: k for k in keyring.inventory("scope")}
    out: list[KeyDestruction] = []
    record = StepRecord(step="keys")
    for scope, ids in sorted(planned.items()):
        active = {k for k, v in keys.items() if v["scope"] == scope and v["state"] == "active"}
        if active - ids:
            raise PurgeError(f"scope {scope}: active key(s) {sorted(active - ids)} are not in plan {plan.plan_id}; "
                             "plan again")
        if not active:  # destroyed by an earlier attempt: record the tombstone's facts
            gone = [keys[k] for k in sorted(ids) if k in keys]
            out.append(KeyDestruction(scope=scope, key_ids=sorted(ids),
                                      destroyed_at=max((g["destroyed_at"] or "" for g in gone), default=""),
                                      certificate_id="", kek_ids=[]))
            continue
        cert = keyring.destroy_scope(scope, who, f"retention purge {plan.plan_id}")
        out.append(KeyDestruction(scope=scope, key_ids=cert["key_ids"], destroyed_at=cert["destroyed_at"],
                                  certificate_id=cert["certificate_id"], kek_ids=cert["kek_ids"],
                                  residual_copies_expire_by=cert["residual_copies_expire_by"]))
        record.done += len(cert["key_ids"])
        record.key_ids.extend(cert["key_ids"])
    return record, out


def _code(exc: BaseException) -> str:
    resp = getattr(exc, "response", None) or {}
    return str(resp.get("Error", {}).get("Code", type(exc).__name__))


def delete_s3_versions(plan: PurgePlanDocument, stores: dict[str, Any]) -> StepRecord:
    """Step 2: every planned version and delete marker, by version id."""
    from botocore.exceptions import ClientError

    record = StepRecord(step="s3")
    for i in plan.items:
        if i.kind not in ("s3_version", "s3_delete_marker"):
            continue
        store = stores.get(i.store or "")
        if store is None:
            raise PurgeError(f"plan {plan.plan_id} names store {i.store}, which is not configured here")
        key = store._key(i.ref)
        try:
            store.client.delete_object(Bucket=store.bucket, Key=key, VersionId=i.version_id)
            record.done += 1
            record.bytes += i.bytes
        except ClientError as exc:
            code = _code(exc)
            if code in ("NoSuchVersion", "NoSuchKey", "404"):
                record.done += 1  # gone already (a rerun)
                continue
            if code != "AccessDenied":
                raise PurgeError(f"{store.location}: delete {i.ref} version {i.version_id} failed: {code}") from None
            record.refused += 1
            record.followups.append(_lock_followup(store, key, i))
    return record


def _lock_followup(store: Any, key: str, item: PurgeItem) -> str:
    """Why an S3 version could not be deleted, and from when it can: Object Lock facts only, read
    with ``HeadObject`` of that version (``ObjectLockLegalHoldStatus``, ``ObjectLockMode``,
    ``ObjectLockRetainUntilDate``)."""
    from botocore.exceptions import ClientError

    try:
        head = store.client.head_object(Bucket=store.bucket, Key=key, VersionId=item.version_id)
    except ClientError as exc:
        return f"{item.ref}@{item.version_id}: delete refused ({_code(exc)})"
    if head.get("ObjectLockLegalHoldStatus") == "ON":
        return f"{item.ref}@{item.version_id}: S3 legal hold on; refused until it is lifted"
    until = head.get("ObjectLockRetainUntilDate")
    if until is None:
        return f"{item.ref}@{item.version_id}: delete refused (AccessDenied, no Object Lock retention)"
    return (f"{item.ref}@{item.version_id}: Object Lock {head.get('ObjectLockMode', '?')} until "
            f"{until.isoformat() if hasattr(until, 'isoformat') else until}; delete on or after that date")


def clean_local_stores(plan: PurgePlanDocument, stores: dict[str, Any], keyring: Any) -> StepRecord:
    """Step 3: planned snapshot documents first, then objects, then a prune of each touched store."""
    from custody.store.locks import store_lock
    from custody.store.retention import prune

    record = StepRecord(step="local")
    touched: dict[str, Any] = {}
    for kind in ("store_snapshot", "store_object"):
        for i in plan.items:
            if i.kind != kind:
                continue
            store = stores.get(i.store or "")
            if store is None:
                raise PurgeError(f"plan {plan.plan_id} names store {i.store}, which is not configured here")
            store.delete(i.ref)
            touched[store.location] = store
            record.done += 1
            record.bytes += i.bytes
    for location, store in sorted(touched.items()):
        with store_lock(store, "prune"):
            pruned = prune(store, keyring)
        record.details[f"pruned:{location}"] = str(pruned["deleted"])
    return record


def clean_staging(plan: PurgePlanDocument, staging_dir: Path) -> StepRecord:
    """Step 4: planned staging objects, then the documents of runs with no object left."""
    record = StepRecord(step="staging")
    root = staging_dir.resolve()
    for i in plan.items:
        if i.kind != "staging_object":
            continue
        path = (root / i.ref).resolve()
        if root not in path.parents:
            raise PurgeError(f"staging key {i.ref} escapes staging")
        if path.exists():
            path.unlink()
        record.done += 1
        record.bytes += i.bytes
    for i in plan.items:
        if i.kind != "staging_document":
            continue
        folder = (root / i.ref).resolve()
        if root not in folder.parents or not folder.is_dir():
            continue
        if any(folder.rglob("*.cdy")):
            record.details[f"kept:{i.ref}"] = "objects of another scope remain"
            continue
        shutil.rmtree(folder)
        record.done += 1
    return record


def source_rows(plan: PurgePlanDocument) -> StepRecord:
    """Source rows in a plan are never deleted by this step: deleting from the source system needs
    its own approval. They are counted as refused, so the certificate does not claim them."""
    rows = [i for i in plan.items if i.kind == "source_row"]
    record = StepRecord(step="source_rows", refused=len(rows))
    if rows:
        record.details["reason"] = "source deletion needs a separate approval"
    return record


def verify(plan: PurgePlanDocument, keyring: Any, stores: dict[str, Any], staging_dir: Path | None,
           followups: set[tuple[str, str]] | None = None) -> dict[str, str | int | bool]:
    """Check that nothing of the plan is left. Returns the verification record (method, counts,
    ``result`` ``pass``/``fail``); never raises for a finding (the caller decides)."""
    from custody.crypto.scopes import ScopeDestroyedError

    left: list[str] = []
    failed_probes = 0
    for p in plan.probes:
        context = canonical_json({"object_id": p.object_id, "scope": p.scope})
        try:
            keyring.unwrap(p.kek_id, base64.b64decode(p.wrapped_dek_b64), context)
        except ScopeDestroyedError:
            continue
        except Exception as exc:  # noqa: BLE001 - any other failure is not proof of destruction
            left.append(f"probe {p.object_id}: {type(exc).__name__}")
            failed_probes += 1
            continue
        left.append(f"probe {p.object_id}: data key still opens")
        failed_probes += 1
    keys = {k["key_id"]: k["state"] for k in keyring.inventory("scope")}
    planned_keys = [i.ref for i in plan.items if i.kind == "scope_key"]
    left += [f"key {k} is {keys.get(k)}" for k in planned_keys if keys.get(k) not in ("destroyed", None)]
    s3_left = 0
    s3_keys: dict[str, set[str]] = defaultdict(set)
    for i in plan.items:
        if i.kind in ("s3_version", "s3_delete_marker"):
            s3_keys[i.store or ""].add(i.ref)
    for location, refs in s3_keys.items():
        store = stores[location]
        for ref in sorted(refs):
            resp = store.client.list_object_versions(Bucket=store.bucket, Prefix=store._key(ref))
            for v in [*resp.get("Versions", []), *resp.get("DeleteMarkers", [])]:
                if v["Key"] == store._key(ref) and (ref, v["VersionId"]) not in (followups or set()):
                    s3_left += 1
                    left.append(f"{location}/{ref} version {v['VersionId']} is listed")
    local_left = [i.ref for i in plan.items if i.kind in ("store_snapshot", "store_object")
                  and stores.get(i.store or "") is not None and stores[i.store or ""].size(i.ref) is not None]
    left += [f"store object {r} exists" for r in local_left]
    staging_left = []
    if staging_dir is not None:
        staging_left = [i.ref for i in plan.items if i.kind == "staging_object" and (staging_dir / i.ref).exists()]
        left += [f"staging object {r} exists" for r in staging_left]
    for line in left:
        log.error("purge %s verification: %s", plan.plan_id, line)
    return {
        "method": "unwrap each scope's probe data key (must fail: scope destroyed); key states; "
                  "ListObjectVersions of every planned key; existence of every planned store and staging object",
        "probes": len(plan.probes), "probes_failed": failed_probes, "keys_checked": len(planned_keys),
        "s3_versions_left": s3_left, "store_objects_left": len(local_left), "staging_objects_left": len(staging_left),
        "result": "pass" if not left else "fail", "checked_at": _now(),
    }
