"""Snapshots: the encrypted objects of one run plus a sealed snapshot document, in a store.

Store layout (same on local disk and S3; ``docs/format.md`` is the specification)::

    objects/<sha256[0:2]>/<sha256>.cdy        ciphertext, content-addressed by its SHA-256
    snapshots/<source>/<run_key>.json         sealed snapshot document

The snapshot document is written last, so a snapshot exists only once all its objects are stored
and read back; a crash before that leaves unreferenced objects that the next run reuses (same
content address) rather than a half snapshot.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from custody.crypto.envelope import IntegrityError, decrypt_bytes
from custody.crypto.keyring import Keyring
from custody.manifest import ManifestError, ObjectEntry, RunManifest, seal, verify_seal
from custody.staging import StagingStore
from custody.store.backends import ObjectStore, StoreError

SNAPSHOT_FORMAT = "custody-snapshot"
SNAPSHOT_VERSION = 1


class SnapshotError(Exception):
    """A snapshot is missing, unsealed, or one of its objects fails verification.

    ``failures`` lists ``(object_id, reason)`` pairs; the message names the first failing object.
    """

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


def object_key(sha256: str) -> str:
    """Content address of a ciphertext in a store."""
    return f"objects/{sha256[:2]}/{sha256}.cdy"


def snapshot_key(source: str, run_key: str) -> str:
    """Key of the snapshot document of one run."""
    return f"snapshots/{source}/{run_key}.json"


def snapshot_objects(manifest: RunManifest, documents: dict[str, Any]) -> list[ObjectEntry]:
    """All objects a snapshot must hold: extracted chunks and quarantine objects."""
    entries = list(manifest.objects())
    validation = documents.get("validation") or {}
    for table in validation.get("tables", []):
        entries.extend(ObjectEntry.model_validate(q) for q in table.get("quarantine", []))
    return entries


def create_snapshot(
    stores: list[ObjectStore],
    staging: StagingStore,
    manifest: RunManifest,
    documents: dict[str, Any],
    keyring: Keyring,
) -> dict[str, Any]:
    """Copy a run's objects and documents to every store, read each copy back, then seal the snapshot.

    ``documents`` are the run's stage results (validation, classification), stored inside the
    snapshot document. Objects already present with the right size are not uploaded again
    (content addressing makes reruns idempotent) but are still read back and hashed.
    Returns a summary: per store, objects uploaded/reused, bytes, and the snapshot key.
    Raises ``StoreError`` or ``SnapshotError`` (read-back hash mismatch, naming the object).
    """
    entries = snapshot_objects(manifest, documents)
    listing = [
        {"object_id": e.object_id, "kind": e.kind, "table": e.table, "rows": e.rows,
         "sha256": e.sha256, "bytes": e.ciphertext_bytes, "key": object_key(e.sha256)}
        for e in entries
    ]
    doc = seal(
        {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "snapshot_id": f"{manifest.source}/{manifest.run_key}",
            "source": manifest.source,
            "run_key": manifest.run_key,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "manifest": manifest.model_dump(mode="json"),
            "documents": documents,
            "objects": listing,
        },
        keyring,
    )
    doc_bytes = json.dumps(doc, indent=1, ensure_ascii=False).encode()
    key = snapshot_key(manifest.source, manifest.run_key)
    summary: dict[str, Any] = {"snapshot_key": key, "objects": len(entries), "stores": []}
    for store in stores:
        uploaded = reused = 0
        nbytes = 0
        for entry, item in zip(entries, listing):
            if store.size(item["key"]) == entry.ciphertext_bytes:
                reused += 1
            else:
                store.put_bytes(item["key"], staging.read_object(entry))
                uploaded += 1
            back = store.get_bytes(item["key"])
            if hashlib.sha256(back).hexdigest() != entry.sha256:
                raise SnapshotError(
                    f"{store.location}: object {entry.object_id} read back with a different SHA-256",
                    [(entry.object_id, "sha256 mismatch after upload")],
                )
            nbytes += len(back)
        store.put_bytes(key, doc_bytes)
        if store.get_bytes(key) != doc_bytes:
            raise SnapshotError(f"{store.location}: snapshot document {key} read back differently")
        summary["stores"].append(
            {"location": store.location, "uploaded": uploaded, "reused": reused, "bytes": nbytes,
             "snapshot_sha256": hashlib.sha256(doc_bytes).hexdigest()}
        )
    return summary


def list_snapshots(store: ObjectStore, source: str | None = None) -> list[str]:
    """Snapshot document keys in ``store`` (optionally of one source), oldest run key first."""
    return [k for k in store.list_keys(f"snapshots/{source}/" if source else "snapshots/") if k.endswith(".json")]


def load_snapshot(store: ObjectStore, key: str, keyring: Keyring) -> dict[str, Any]:
    """Read a snapshot document and verify its seal. Raises ``SnapshotError``."""
    try:
        doc = json.loads(store.get_bytes(key))
        verify_seal(doc, keyring, name=f"{store.location}/{key}")
    except (StoreError, ManifestError, ValueError) as exc:
        raise SnapshotError(str(exc)) from None
    if doc.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"{store.location}/{key}: not a Custody snapshot document")
    return doc


def latest_snapshot(store: ObjectStore, keyring: Keyring, source: str | None = None) -> str:
    """Key of the newest snapshot by ``created_at`` (ties: key order). Raises ``SnapshotError`` if none."""
    keys = list_snapshots(store, source)
    if not keys:
        raise SnapshotError(f"{store.location}: no snapshot" + (f" of source {source}" if source else ""))
    dated = [(load_snapshot(store, k, keyring)["created_at"], k) for k in keys]
    return max(dated)[1]


@dataclass
class VerifyReport:
    """Outcome of ``verify_snapshot``: objects checked, bytes read, and failures by object id."""

    snapshot_key: str
    location: str
    checked: int = 0
    bytes_read: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every checked object verified."""
        return not self.failures


def verify_snapshot(
    store: ObjectStore, key: str, keyring: Keyring, *, deep: bool = True, raise_on_failure: bool = True
) -> VerifyReport:
    """Read back every object of a snapshot and check its SHA-256 (and, with ``deep``, decrypt it).

    ``deep`` authenticates every segment under the object's own key and binding, discarding the
    plaintext. Raises ``SnapshotError`` naming the first failing object unless
    ``raise_on_failure`` is False.
    """
    doc = load_snapshot(store, key, keyring)
    manifest = RunManifest.model_validate(doc["manifest"])
    entries = {e.object_id: e for e in snapshot_objects(manifest, doc.get("documents") or {})}
    report = VerifyReport(snapshot_key=key, location=store.location)
    for item in doc["objects"]:
        oid = item["object_id"]
        report.checked += 1
        try:
            blob = store.get_bytes(item["key"])
            report.bytes_read += len(blob)
            if hashlib.sha256(blob).hexdigest() != item["sha256"]:
                raise IntegrityError(f"object {oid}: SHA-256 differs from the snapshot")
            if deep:
                entry = entries[oid]
                decrypt_bytes(blob, keyring=keyring, object_id=oid, binding=entry.binding())
        except (StoreError, IntegrityError, KeyError) as exc:
            report.failures.append((oid, str(exc)))
        except Exception as exc:  # wrong key, malformed header: still a verification failure
            report.failures.append((oid, f"{type(exc).__name__}: {exc}"))
    if report.failures and raise_on_failure:
        oid, reason = report.failures[0]
        raise SnapshotError(
            f"{store.location}/{key}: {len(report.failures)} of {report.checked} objects fail verification; "
            f"first: {oid} ({reason})",
            report.failures,
        )
    return report
