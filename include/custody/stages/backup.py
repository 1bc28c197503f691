"""The backup stage: the run's encrypted objects and documents to every store, read back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from custody.documents import (
    BackupDocument,
    ClassificationDocument,
    KeyStoreBackup,
    SnapshotStageDocs,
    StoreCopy,
    ValidationDocument,
    document_key,
)
from custody.stages.runtime import Runtime


def stage_backup(rt: Runtime, source: str, run_key: str, s3_client: Any | None = None,
                 on_object: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Copy the run's encrypted objects and documents to the local store and to S3, verified.

    ``s3_client`` is a boto3 S3 client (None: local store only); ``on_object(done, total)`` is
    called after each object stored (``custody backup``'s progress bar). Writes ``backup.json``, appends
    one ``backup`` audit entry per store (snapshot key and document SHA-256: the record of snapshots
    that must exist) and a ``key.backup`` entry, then signs an audit checkpoint into the stores.
    Returns ``{"backup_key", "snapshot_key", "stores": [location]}``.
    """
    from custody.crypto.keystore import backup_key_store, prune_key_store_backups
    from custody.store import LocalStore, S3Store, create_snapshot

    manifest = rt.manifest(source, run_key)
    docs = SnapshotStageDocs(
        validation=rt.staging.find(document_key("validation", source=source, run_key=run_key), ValidationDocument),
        classification=rt.staging.find(document_key("classification", source=source, run_key=run_key),
                                       ClassificationDocument),
    )
    stores: list[Any] = []
    if rt.sources.backup.local:
        stores.append(LocalStore(rt.settings.backup_dir))
    if s3_client is not None:
        s3 = S3Store(s3_client, rt.settings.s3_bucket, rt.settings.s3_prefix)
        s3.ensure_bucket()
        stores.append(s3)
    summary = create_snapshot(stores, rt.staging, manifest, docs, rt.keyring, on_object=on_object)
    # The key store travels with the data but expires sooner, so a destroyed scope key is gone
    # from every copy within the key-store retention (docs/format.md, key-store backups).
    key_store = backup_key_store(stores, rt.keyring)
    key_store["pruned"] = [prune_key_store_backups(s, rt.keyring) for s in stores]
    doc = BackupDocument(source=source, run_key=run_key, snapshot_key=summary["snapshot_key"],
                         objects=summary["objects"], stores=[StoreCopy(**s) for s in summary["stores"]],
                         key_store=KeyStoreBackup(**key_store))
    key = rt.staging.put(doc)
    # The record of snapshots that must exist (custody.audit.snapshots): one entry per store.
    scopes = sorted({o.kek_id for o in manifest.objects() if o.kek_id})
    for copy in doc.stores:
        rt.record("backup", subject={"source": source, "run_key": run_key, "store": copy.location,
                                     "snapshot": doc.snapshot_key},
                  counts={"objects": doc.objects, "uploaded": copy.uploaded, "reused": copy.reused,
                          "repaired": copy.repaired, "bytes": copy.bytes},
                  hashes={"snapshot_sha256": copy.snapshot_sha256}, key_ids=scopes)
    ks = doc.key_store
    rt.record("key.backup", subject={"source": source, "run_key": run_key},
              refs=[f"{loc}/{ks.key}" for loc in ks.stores],
              counts={"keys": ks.keys, "bytes": ks.bytes,
                      "pruned": sum(len(p.get("deleted") or []) for p in ks.pruned)},
              hashes={"key_store_sha256": ks.sha256})
    # A milestone: the new snapshots are anchored outside the catalog at once.
    rt.checkpoint(stores, reason="backup")
    return {"backup_key": key, "snapshot_key": doc.snapshot_key, "stores": [s.location for s in doc.stores]}
