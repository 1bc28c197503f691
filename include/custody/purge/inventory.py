"""What could be purged: value-free inventory items from staging, snapshot stores and the key store.

Every item carries its scope (``<source>/<retention_class>/<period>``, ``custody.crypto.scope_names``),
the source's lawful basis from ``sources.yaml``, and its retention anchor:

- staging objects: read from each ``.cdy`` header (scope, object id; no key needed), anchored at
  their run manifest's ``created_at`` (the file's time when the run never committed); a run's
  documents (plan, parts, manifest, ...) are one ``staging_document`` item per run folder;
- snapshot stores: each snapshot document and each object it lists, anchored at the snapshot's
  extraction (``manifest.created_at``); on S3 also **every version and delete marker** of those
  keys (``ListObjectVersions``), and of keys no current snapshot lists any more (older versions
  left by ``forget``/``prune`` in a versioned bucket: their header, read by a ranged GET of that
  version, names their scope);
- scope keys (active keys of data scopes in the key store), anchored at their period's end, or
  for a legacy scope without a period at the newest anchor of any object that names it.

Records that are never purged (the audit log and its checkpoints, retention and purge plans,
certificates, key-store backups under their own retention) are not listed.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custody.crypto.envelope import CustodyFormatError, read_header
from custody.crypto.scope_names import parse_scope, period_bounds
from custody.documents import RunManifest, ScopeProbe, SnapshotDocument, document_key
from custody.retention.planning import InventoryItem

log = logging.getLogger(__name__)

HEADER_BYTES = 64 * 1024
"""A ranged GET of this many bytes holds any object header (headers are at most 64 KiB)."""
UNKNOWN_BASIS = "unknown"


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass
class Inventory:
    """Items for the planner and one probe (object header) per scope."""

    items: list[InventoryItem] = field(default_factory=list)
    probes: dict[str, ScopeProbe] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def probe(self, header: Any) -> None:
        if header.keyring == "scoped" and header.scope not in self.probes:
            self.probes[header.scope] = ScopeProbe(
                scope=header.scope, object_id=header.object_id, kek_id=header.kek_id,
                wrapped_dek_b64=base64.b64encode(header.wrapped_dek).decode("ascii"))


class _Scopes:
    """Source facts (lawful basis) for items, from ``sources.yaml``."""

    def __init__(self, bases: dict[str, str]) -> None:
        self.bases = bases

    def item(self, kind: str, ref: str, scope: str, anchor: datetime, **extra: Any) -> InventoryItem | None:
        parts = parse_scope(scope)
        if parts is None:
            return None
        return InventoryItem(kind=kind, ref=ref, source=parts.source, category=parts.retention_class,
                             lawful_basis=self.bases.get(parts.source, UNKNOWN_BASIS), period=parts.period,
                             scope=scope, anchor_at=anchor, **extra)


def _header_of(blob: bytes) -> Any | None:
    try:
        return read_header(io.BytesIO(blob))
    except CustodyFormatError:
        return None


# -- staging ----------------------------------------------------------------------------------------
def staging_items(staging_dir: Path, keyring: Any, scopes: _Scopes, inv: Inventory) -> None:
    """Every object and run folder in staging (``CUSTODY_HOME/staging``)."""
    from custody.staging import StagingStore

    if not staging_dir.is_dir():
        return
    store = StagingStore(staging_dir, keyring)
    for source_dir in sorted(p for p in staging_dir.iterdir() if p.is_dir() and p.name != "purge"):
        for run_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
            manifest = None
            key = document_key("manifest", source=source_dir.name, run_key=run_dir.name)
            if store.exists(key):
                try:
                    manifest = store.get(key, RunManifest)
                except Exception as exc:  # noqa: BLE001 - an unreadable manifest: fall back to file times
                    log.warning("purge inventory: %s unreadable (%s)", key, type(exc).__name__)
            entries = {e.key: e for e in manifest.objects()} if manifest else {}
            run_scopes: set[str] = set()
            newest: datetime | None = None
            for path in sorted(run_dir.rglob("*.cdy")):
                if path.name.startswith(".tmp-"):
                    continue
                rel = str(path.relative_to(staging_dir))
                with open(path, "rb") as fh:
                    header = _header_of(fh.read(HEADER_BYTES))
                if header is None:
                    inv.skip("staging file that is not a Custody object")
                    continue
                anchor = (_parse_time(manifest.created_at) if manifest
                          else datetime.fromtimestamp(path.stat().st_mtime, UTC))
                entry = entries.get(rel)
                item = scopes.item("staging_object", rel, header.scope, anchor, bytes=path.stat().st_size,
                                   rows=entry.rows if entry else 0, table=entry.table if entry else None,
                                   content_hash=entry.content_hash if entry else None)
                if item is None:
                    inv.skip("staging object outside a data scope")
                    continue
                inv.items.append(item)
                inv.probe(header)
                run_scopes.add(header.scope)
                newest = max(newest or anchor, anchor)
            if run_scopes and newest is not None:
                # The run's documents go with its data; anchored like the newest object, in its scope.
                scope = max(run_scopes, key=lambda s: (parse_scope(s).period or "", s))
                item = scopes.item("staging_document", f"{source_dir.name}/{run_dir.name}/", scope, newest,
                                   bytes=sum(p.stat().st_size for p in run_dir.rglob("*.json")))
                if item is not None:
                    inv.items.append(item)


# -- snapshot stores --------------------------------------------------------------------------------
def _snapshots(store: Any, keyring: Any, inv: Inventory) -> list[SnapshotDocument]:
    from custody.store.snapshots import SnapshotError, list_snapshots, load_snapshot

    docs = []
    for key in list_snapshots(store):
        try:
            docs.append(load_snapshot(store, key, keyring))
        except SnapshotError:
            inv.skip("snapshot document that does not load")
    return docs


def store_items(store: Any, keyring: Any, scopes: _Scopes, inv: Inventory) -> dict[str, tuple[str, datetime]]:
    """Snapshot documents and objects of one store (local or S3 current objects).

    Returns ``{store key: (scope, anchor)}`` of everything listed, for the S3 version listing.
    """
    known: dict[str, tuple[str, datetime]] = {}
    docs = _snapshots(store, keyring, inv)
    for doc in docs:
        anchor = _parse_time(doc.manifest.created_at)
        by_id = {e.object_id: e for e in doc.entries()}
        doc_scopes: set[str] = set()
        for obj in doc.objects:
            entry = by_id.get(obj.object_id)
            if entry is None or parse_scope(entry.scope) is None:
                inv.skip("snapshot object without a data scope")
                continue
            doc_scopes.add(entry.scope)
            prev = known.get(obj.key)
            if prev is None or prev[1] < anchor:  # shared by content address: the newest use counts
                known[obj.key] = (entry.scope, anchor)
            if prev is None:
                inv.items.append(scopes.item("store_object", obj.key, entry.scope, anchor, store=store.location,
                                             table=obj.table, rows=obj.rows, bytes=obj.bytes,
                                             content_hash=obj.sha256))
        if doc_scopes:
            scope = max(doc_scopes, key=lambda s: (parse_scope(s).period or "", s))
            known[doc.key()] = (scope, anchor)
            inv.items.append(scopes.item("store_snapshot", doc.key(), scope, anchor, store=store.location))
    # An object shared by two snapshots was listed once with the first anchor: use the newest.
    inv.items = [i.model_copy(update={"anchor_at": known[i.ref][1], "scope": known[i.ref][0]})
                 if i.kind == "store_object" and i.store == store.location and i.ref in known else i
                 for i in inv.items]
    return known


def s3_version_items(store: Any, scopes: _Scopes, known: dict[str, tuple[str, datetime]], inv: Inventory) -> None:
    """Every version and delete marker under ``objects/`` and ``snapshots/`` of an S3 store."""
    strip = len(store.prefix) + 1 if store.prefix else 0
    versions: dict[str, list[dict[str, Any]]] = {}
    for prefix in ("objects/", "snapshots/"):
        pages = store.client.get_paginator("list_object_versions").paginate(
            Bucket=store.bucket, Prefix=store._key(prefix))
        for page in pages:
            for v in page.get("Versions", []):
                versions.setdefault(v["Key"][strip:], []).append({**v, "_marker": False})
            for m in page.get("DeleteMarkers", []):
                versions.setdefault(m["Key"][strip:], []).append({**m, "_marker": True})
    for key, vs in sorted(versions.items()):
        scope_anchor = known.get(key)
        if scope_anchor is None:
            scope_anchor = _scope_of_old_versions(store, key, vs)
        if scope_anchor is None:
            inv.skip("S3 key whose versions name no data scope")
            continue
        scope, anchor = scope_anchor
        for v in vs:
            kind = "s3_delete_marker" if v["_marker"] else "s3_version"
            item = scopes.item(kind, key, scope, anchor, store=store.location, version_id=v["VersionId"],
                               bytes=int(v.get("Size", 0) or 0))
            if item is not None:
                inv.items.append(item)


def _scope_of_old_versions(store: Any, key: str, vs: list[dict[str, Any]]) -> tuple[str, datetime] | None:
    """Scope and anchor of a key no current snapshot lists, from its newest readable version."""
    for v in sorted((v for v in vs if not v["_marker"]), key=lambda v: v["LastModified"], reverse=True):
        try:
            body = store.client.get_object(Bucket=store.bucket, Key=store._key(key), VersionId=v["VersionId"],
                                           Range=f"bytes=0-{HEADER_BYTES - 1}")["Body"].read()
        except Exception as exc:  # noqa: BLE001 - one unreadable version: try the next
            log.warning("purge inventory: %s version unreadable (%s)", key, type(exc).__name__)
            continue
        anchor = v["LastModified"].astimezone(UTC)
        if key.startswith("snapshots/"):
            try:
                doc = json.loads(body)
                entries = [o for t in doc["manifest"]["tables"] for o in (*t["chunks"], *t["row_keys"],
                                                                            *t["quarantine"])]
                found = sorted({o["scope"] for o in entries if parse_scope(o["scope"])})
                if found:
                    return found[-1], _parse_time(doc["manifest"]["created_at"])
            except (ValueError, KeyError, TypeError):
                continue
        else:
            header = _header_of(body)
            if header is not None and parse_scope(header.scope) is not None:
                return header.scope, anchor
    return None


# -- key store --------------------------------------------------------------------------------------
def key_items(keyring: Any, scopes: _Scopes, inv: Inventory) -> None:
    """Active scope keys of data scopes, anchored at their period's end (legacy: newest data)."""
    inventory = getattr(keyring, "inventory", None)
    if inventory is None:
        return
    newest: dict[str, datetime] = {}
    for i in inv.items:
        if i.scope:
            newest[i.scope] = max(newest.get(i.scope, i.anchor_at), i.anchor_at)
    for k in inventory("scope"):
        if k["state"] != "active":
            continue
        parts = parse_scope(k["scope"])
        if parts is None:
            continue
        if parts.period is not None:
            anchor = period_bounds(parts.period)[1]
        else:
            anchor = max(newest.get(k["scope"], _parse_time(k["created_at"])), _parse_time(k["created_at"]))
        item = scopes.item("scope_key", k["key_id"], k["scope"], anchor, rows=0, bytes=0)
        if item is not None:
            inv.items.append(item)


def build_inventory(*, staging_dir: Path | None, stores: Iterable[Any], keyring: Any,
                    lawful_bases: dict[str, str], sources: set[str] | None = None) -> Inventory:
    """The whole inventory: staging, each store (S3 with versions), then scope keys.

    ``lawful_bases``: source -> PIPL Art 13 basis (``sources.yaml``); ``sources`` limits the
    inventory to those sources. Raises the stores' ``StoreError``.
    """
    from custody.store.backends import S3Store

    scopes = _Scopes(lawful_bases)
    inv = Inventory()
    if staging_dir is not None:
        staging_items(staging_dir, keyring, scopes, inv)
    for store in stores:
        known = store_items(store, keyring, scopes, inv)
        if isinstance(store, S3Store):
            # The current objects are S3 versions too: the version listing covers them.
            inv.items = [i for i in inv.items if not (i.store == store.location and i.kind in
                                                      ("store_object", "store_snapshot"))]
            s3_version_items(store, scopes, known, inv)
        _probe_store(store, known, inv)
    key_items(keyring, scopes, inv)
    if sources is not None:
        inv.items = [i for i in inv.items if i.source in sources]
    return inv


def _probe_store(store: Any, known: dict[str, tuple[str, datetime]], inv: Inventory) -> None:
    """A probe for scopes only a store still holds (staging already cleaned)."""
    for key, (scope, _) in sorted(known.items()):
        if scope in inv.probes or not key.startswith("objects/"):
            continue
        try:
            with store.open_read(key) as fh:
                body = fh.read(HEADER_BYTES)
        except Exception:  # noqa: BLE001 - no probe for this scope from this key
            continue
        header = _header_of(body)
        if header is not None:
            inv.probe(header)
