"""Build a handover package: a snapshot's selected tables, re-encrypted to the transferee.

Layout of a package (a folder, ``docs/format.md`` section 10)::

    handover-<package_id>/
      manifest.json                       sealed manifest (canonical JSON), no values
      objects/t000/chunk-00000.cdy        one Custody object per snapshot chunk, Parquet inside
      objects/t001/...

Every chunk is read from the snapshot with all of its checks (SHA-256 of the stored object,
authenticated decryption under its scope key, row-content hash) and written again as a Custody
object whose data key is wrapped to the transferee's X25519 key (``custody.handover.recipient``).
The manifest gives per table the rows and the row-content hash (``docs/format.md`` section 3), equal
to the snapshot's, so the transferee checks that it received exactly the source rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custody import hashing
from custody.canonical import canonical_json
from custody.crypto.envelope import encrypt_stream
from custody.crypto.keyring import Keyring
from custody.fsio import TEMP_PREFIX, atomic_write_bytes
from custody.handover.recipient import RecipientKeyring, fingerprint, sender_agreement
from custody.restore.reading import iter_table
from custody.staging import table_to_parquet
from custody.store.backends import ObjectStore
from custody.store.snapshots import load_snapshot

FORMAT = "custody-handover-manifest"
VERSION = 1
ALGORITHM = "X25519-HKDF-SHA256-AES-256-GCM"
KMS_ALGORITHM = "AWS-KMS-SYMMETRIC_DEFAULT-HKDF-SHA256"
SEAL_INFO = b"custody/handover/manifest/v1"
RECEIPT_INFO = b"custody/handover/receipt/v1"
MANIFEST = "manifest.json"


class HandoverError(Exception):
    """A package cannot be built or does not verify; the message names tables, objects, counts and
    hash prefixes, never a value."""


def package_id(deal: str, snapshot: str, tables: list[str], recipient: str) -> str:
    """32 hex digits, a function of what is handed over and to whom: a rebuild finds its package."""
    text = "\n".join([deal, snapshot, recipient, *sorted(tables)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def seal_manifest(body: dict[str, Any], key: bytes) -> str:
    """Hex HMAC-SHA256 of the canonical manifest without its ``seal``."""
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a package folder, parsed but not yet verified (``verify_package`` seals it).

    Raises ``HandoverError`` for a missing file, bad JSON or another format / version.
    """
    try:
        doc = json.loads((Path(folder) / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise HandoverError(f"{folder} holds no {MANIFEST}: not a handover package") from None
    except ValueError:
        raise HandoverError(f"{MANIFEST} is not JSON (altered or truncated)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise HandoverError(f"{MANIFEST} is not a {FORMAT} document")
    if doc.get("version") != VERSION:
        raise HandoverError(f"{FORMAT} version {doc.get('version')!r} is not one this Custody reads ({VERSION})")
    return doc


def secret_keys(secret: bytes) -> tuple[bytes, bytes]:
    """``(Km, P)`` from a KMS-wrapped package secret: ``HKDF-SHA256(secret, info=...)`` (section 10.5)."""
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return tuple(HKDF(SHA256(), 32, salt=None, info=i).derive(secret) for i in (SEAL_INFO, RECEIPT_INFO))  # type: ignore[return-value]


def secret_context(pid: str, deal: str) -> bytes:
    """Wrap context of a KMS-wrapped package secret (its KMS encryption context)."""
    return canonical_json({"object_id": f"handover/{pid}/manifest", "scope": f"handover/{deal}"})


def _recipient(recipient_public: bytes | None, recipient_kms: Any, pid_of: Any, deal: str):
    """``(wrapping keyring, package id, manifest recipient fields, seal key, proof)``."""
    import secrets

    if recipient_kms is not None:
        key_id = recipient_kms.active_kek_id()
        pid = pid_of(key_id)
        secret = secrets.token_bytes(32)
        _, sealed = recipient_kms.wrap(secret, secret_context(pid, deal))
        seal_key, proof = secret_keys(secret)
        fields = {"alg": KMS_ALGORITHM, "key_id": key_id, "sealed_secret": base64.b64encode(sealed).decode("ascii")}
        return recipient_kms, pid, fields, seal_key, proof
    if recipient_public is None:
        raise HandoverError("a handover package needs the transferee's X25519 public key or KMS key")
    recipient = RecipientKeyring(recipient_public)
    pid = pid_of(recipient.kek)
    e_pub, (seal_key, proof) = sender_agreement(recipient_public, [SEAL_INFO, RECEIPT_INFO])
    fields = {"alg": ALGORITHM, "key_id": recipient.kek,
              "ephemeral_public_key": base64.b64encode(e_pub).decode("ascii")}
    return recipient, pid, fields, seal_key, proof


def build_package(
    store: ObjectStore,
    snapshot_key: str,
    keyring: Keyring,
    *,
    tables: list[str],
    recipient_public: bytes | None = None,
    recipient_kms: Any = None,
    out_dir: Path,
    deal: str,
    transferor: str,
    transferee: str,
) -> tuple[Path, dict[str, Any]]:
    """Write the handover package of ``tables`` of a snapshot under ``out_dir``; return its folder and manifest.

    ``keyring``: Custody's keyring (opens the snapshot). ``recipient_public``: the transferee's raw
    X25519 public key (``parse_public_key``); or ``recipient_kms``: a ``KmsKeyring`` whose active key
    is the transferee's symmetric KMS key (the transferor needs ``kms:Encrypt`` on it, the
    transferee alone ``kms:Decrypt``; section 10.5). Idempotent: the package id is a function of the deal,
    snapshot, tables and recipient, and a complete package already in place is returned as it is;
    the folder appears only complete (built under a temporary name, renamed at the end). Memory:
    one chunk at a time. Raises ``HandoverError`` (unknown table, no table selected),
    ``custody.store.SnapshotError``, ``custody.crypto.IntegrityError``, keyring errors
    (``ScopeDestroyedError`` for a crypto-shredded scope).
    """
    if not tables:
        raise HandoverError("a handover package needs at least one table")
    key_id = recipient_kms.active_kek_id() if recipient_kms is not None else (
        fingerprint(recipient_public) if recipient_public is not None else "")
    final = Path(out_dir) / f"handover-{package_id(deal, snapshot_key, tables, key_id)}"
    if (final / MANIFEST).exists():
        return final, read_manifest(final)
    snapshot = load_snapshot(store, snapshot_key, keyring)
    manifest = snapshot.manifest
    known = {t.table: t for t in manifest.tables}
    missing = [t for t in tables if t not in known]
    if missing:
        raise HandoverError(f"table(s) {', '.join(missing)} not in snapshot {snapshot_key} ({', '.join(known)})")
    recipient, pid, recipient_fields, seal_key, proof = _recipient(
        recipient_public, recipient_kms, lambda kid: package_id(deal, snapshot_key, tables, kid), deal)
    work = Path(out_dir) / f"{TEMP_PREFIX}handover-{pid}"
    shutil.rmtree(work, ignore_errors=True)  # what a killed build left
    work.mkdir(parents=True, mode=0o700)
    try:
        entries = [_write_table(store, known[name], keyring, recipient, work, f"t{i:03d}", pid, deal)
                   for i, name in enumerate(tables)]
        body = {
            "format": FORMAT,
            "version": VERSION,
            "package_id": pid,
            "deal": deal,
            "transferor": transferor,
            "transferee": transferee,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": manifest.source,
            "run_key": manifest.run_key,
            "snapshot": snapshot_key,
            "recipient": recipient_fields,
            "receipt_commitment": hashlib.sha256(proof).hexdigest(),
            "tables": entries,
            "totals": {"tables": len(entries), "rows": sum(t["rows"] for t in entries),
                       "objects": sum(len(t["objects"]) for t in entries)},
        }
        doc = {**body, "seal": {"alg": "HMAC-SHA256", "hmac_sha256": seal_manifest(body, seal_key)}}
        atomic_write_bytes(work / MANIFEST, canonical_json(doc))
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final, doc


def _write_table(store: ObjectStore, tm: Any, keyring: Keyring, recipient: Keyring, work: Path,
                 folder: str, pid: str, deal: str) -> dict[str, Any]:
    objects, digest, rows = [], 0, 0
    for n, chunk in enumerate(iter_table(store, tm, keyring)):
        h = hashing.table_hash(chunk)
        digest = hashing.combine(digest, h)
        rows += chunk.num_rows
        path = f"objects/{folder}/chunk-{n:05d}.cdy"
        binding = {"kind": "handover", "package_id": pid, "deal": deal, "table": tm.table, "chunk": n,
                   "rows": chunk.num_rows, "content_hash": hashing.to_hex(h)}
        object_id = f"handover/{pid}/{folder}/chunk-{n:05d}"
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        plain = table_to_parquet(chunk)
        del chunk
        with open(target, "xb") as fh:
            info = encrypt_stream(io.BytesIO(plain), fh, object_id=object_id, binding=binding,
                                  keyring=recipient, scope=f"handover/{deal}")
        del plain
        objects.append({"path": path, "object_id": object_id, "chunk": n, "rows": binding["rows"],
                        "content_hash": binding["content_hash"], "sha256": info.sha256,
                        "ciphertext_bytes": info.ciphertext_bytes})
    if rows != tm.extracted_rows or hashing.to_hex(digest) != tm.content_hash:
        raise HandoverError(f"table {tm.table}: read {rows} rows / {hashing.to_hex(digest)[:12]}…, "
                            f"snapshot says {tm.extracted_rows} / {tm.content_hash[:12]}…")
    return {"table": tm.table, "primary_key": list(tm.primary_key),
            "columns": [{"name": c.name, "arrow_type": c.arrow_type, "nullable": c.nullable} for c in tm.columns],
            "rows": rows, "content_hash": hashing.to_hex(digest), "objects": objects}


def recipient_fingerprint(public: bytes) -> str:
    """The recipient key id a package names (``x25519-<32 hex>``)."""
    return fingerprint(public)
