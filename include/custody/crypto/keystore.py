"""Backups of the key store: encrypted objects in the snapshot stores, kept for less time than data.

A snapshot is useless without the scope keys that open it, so the key store is backed up with
every run: ``backup_key_store`` exports it (keys stay wrapped by their KEKs), encrypts the export
as a Custody object whose data key is wrapped directly by the KEK, and writes it to every store at
``keystore/<YYYYMMDDTHHMMSSZ>-<8 hex>.cdy``.

Retention (``docs/format.md`` section 1.7): key-store backups expire after
``retention_days`` (default 30), much sooner than the data they protect. A destroyed scope key
therefore disappears from every copy within that time, after which every data backup of its scope
is unreadable for good; and because a fresh key-store backup is written every run, the newest one
always opens all live data. ``prune_key_store_backups`` deletes expired backups but always keeps
the newest one when it was made after the last destruction (it holds no destroyed key).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from custody.canonical import canonical_json
from custody.crypto.envelope import (
    CustodyFormatError,
    IntegrityError,
    decrypt_bytes,
    encrypt_bytes,
    read_header,
)
from custody.crypto.keyring import KeyringError
from custody.crypto.scopes import KEY_STORE_SCOPE, ScopedKeyring

PREFIX = "keystore/"

log = logging.getLogger(__name__)


def backup_key_store(
    stores: list[Any], keyring: ScopedKeyring, *, retention_days: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Export the key store, encrypt it under the KEK and write it to every store; read each copy back.

    ``stores``: ``custody.store`` backends (``put_bytes``/``get_bytes``). ``retention_days``
    defaults to ``keyring.key_store_retention_days``. A store whose ``options.object_lock_days``
    exceeds it is refused (``KeyringError``) before anything is written. Returns ``{"key", "object_id", "sha256",
    "bytes", "keys", "exported_at", "expires_at", "stores": [location]}``. Raises
    ``IntegrityError`` if a copy reads back differently, ``KeyringError`` from the KEK layer.
    """
    days = retention_days or keyring.key_store_retention_days
    for store in stores:
        # An Object Lock longer than the retention would keep destroyed scope keys past it.
        lock_days = getattr(getattr(store, "options", None), "object_lock_days", None)
        if lock_days and lock_days > days:
            raise KeyringError(
                f"{store.location}: Object Lock keeps objects {lock_days} days, longer than the key-store "
                f"retention ({days} days); write key-store backups to a store locked for at most {days} days"
            )
    exported = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    expires = exported + timedelta(days=days)
    stamp = f"{exported:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    doc = keyring.export_document()
    doc.update({"exported_at": exported.isoformat(), "expires_at": expires.isoformat(), "retention_days": days})
    object_id = f"keystore/{stamp}"
    binding = {"kind": "key-store", "exported_at": exported.isoformat(), "expires_at": expires.isoformat(),
               "retention_days": days, "keys": len(doc["keys"])}
    blob, info = encrypt_bytes(
        canonical_json(doc), object_id=object_id, binding=binding, keyring=keyring.base, scope=KEY_STORE_SCOPE
    )
    key = f"{PREFIX}{stamp}.cdy"
    for store in stores:
        store.put_bytes(key, blob)
        if hashlib.sha256(store.get_bytes(key)).hexdigest() != info.sha256:
            raise IntegrityError(f"{store.location}: key-store backup {key} read back with a different SHA-256")
    return {"key": key, "object_id": object_id, "sha256": info.sha256, "bytes": len(blob), "keys": len(doc["keys"]),
            "exported_at": binding["exported_at"], "expires_at": binding["expires_at"],
            "stores": [s.location for s in stores]}


def list_key_store_backups(store: Any) -> list[dict[str, Any]]:
    """Key-store backups in ``store``, oldest first: ``key``, ``object_id``, ``exported_at``,
    ``expires_at`` (datetimes, UTC), ``retention_days``, ``keys``; read from the object headers
    (no key needed). Objects that are not key-store backups are skipped.
    """
    out = []
    for key in store.list_keys(PREFIX):
        if not key.endswith(".cdy"):
            continue
        try:
            header = read_header(io.BytesIO(store.get_bytes(key)))
            b = header.binding
            if b.get("kind") != "key-store":
                continue
            out.append({"key": key, "object_id": header.object_id,
                        "exported_at": datetime.fromisoformat(b["exported_at"]),
                        "expires_at": datetime.fromisoformat(b["expires_at"]),
                        "retention_days": int(b["retention_days"]), "keys": int(b["keys"])})
        except (CustodyFormatError, KeyError, TypeError, ValueError) as exc:
            # A foreign or damaged file is not a backup: report it, but do not stop pruning on it.
            log.warning("%s: %s is not a readable key-store backup (%s)", store.location, key, type(exc).__name__)
    return sorted(out, key=lambda b: (b["exported_at"], b["key"]))


def prune_key_store_backups(store: Any, keyring: ScopedKeyring, *, now: datetime | None = None) -> dict[str, Any]:
    """Delete key-store backups past their ``expires_at``; keep the newest if it postdates every destruction.

    The exception keeps the store recoverable when runs pause, and is safe: a backup made after
    the last destruction contains no destroyed key. ``store`` must offer ``delete(key)`` when
    something has expired, otherwise ``KeyringError`` (on S3 a lifecycle rule on ``keystore/``
    can expire them instead, see ``docs/format.md`` 1.7). Returns ``{"expired", "deleted",
    "kept"}`` (lists of keys).
    """
    now = now or datetime.now(UTC)
    backups = list_key_store_backups(store)
    last_destroyed = keyring.last_destruction()
    newest = backups[-1]["key"] if backups else None
    expired, kept = [], []
    for b in backups:
        safe_newest = b["key"] == newest and (last_destroyed is None or b["exported_at"] > last_destroyed)
        (expired if b["expires_at"] <= now and not safe_newest else kept).append(b["key"])
    delete = getattr(store, "delete", None)
    if expired and delete is None:
        raise KeyringError(
            f"{store.location}: {len(expired)} key-store backups have expired but this store cannot delete; "
            "add delete() or an expiry rule on keystore/"
        )
    for key in expired:
        delete(key)
    return {"expired": expired, "deleted": list(expired), "kept": kept}


def restore_key_store(
    store: Any, key: str, keyring: ScopedKeyring, *, certificates: list[dict[str, Any]] | tuple = ()
) -> dict[str, int]:
    """Decrypt a key-store backup with the KEK and add its missing keys to ``keyring``'s key store.

    ``certificates``: destruction certificates issued since (kept apart from the key store, e.g.
    in the audit log); the keys they name come back only as tombstones. Returns the counts of
    ``ScopedKeyring.import_document``. Raises ``IntegrityError`` / ``WrongKeyError`` /
    ``UnknownKeyError`` (backup altered, or its KEK destroyed), ``KeyringError``.
    """
    blob = store.get_bytes(key)
    header = read_header(io.BytesIO(blob))
    if header.binding.get("kind") != "key-store":
        raise KeyringError(f"{store.location}/{key} is not a key-store backup")
    doc = json.loads(decrypt_bytes(blob, keyring=keyring.base, object_id=header.object_id, binding=header.binding))
    return keyring.import_document(doc, certificates=certificates)
