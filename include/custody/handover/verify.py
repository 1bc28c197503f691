"""The transferee's side: open a handover package with the private key, check it, write a receipt.

``verify_package`` refuses, with a message naming what failed (never a value):

- a package built for another recipient key (both key ids named);
- a manifest whose seal does not verify (any byte of it changed);
- an object whose SHA-256 differs from the manifest, that fails authenticated decryption (a
  flipped byte anywhere in it), or whose header is bound to another table, chunk or package;
- a chunk or table whose rows or row-content hash differ from the manifest.

The receipt it returns carries a proof only the private key's holder can compute
(``HKDF(X25519(R, e), info="custody/handover/receipt/v1")``), whose SHA-256 the manifest commits
to; ``check_receipt`` on the transferor's side accepts a receipt only when it matches the package
it built (``docs/format.md`` section 10.4).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from custody import hashing
from custody.crypto.envelope import CustodyFormatError, IntegrityError, decrypt_bytes
from custody.fsio import atomic_writer
from custody.crypto.keyring import KeyringError
from custody.handover.package import (
    KMS_ALGORITHM,
    MANIFEST,
    RECEIPT_INFO,
    SEAL_INFO,
    HandoverError,
    read_manifest,
    seal_manifest,
)
from custody.handover.recipient import RecipientKey, RecipientKeyring
from custody.staging import parquet_to_table

RECEIPT_FORMAT = "custody-handover-receipt"


def _open_kms(doc: dict[str, Any], kms: Any) -> tuple[Any, bytes, bytes]:
    """The KMS recipient's keyring, seal key and proof (section 10.5)."""
    from custody.handover.package import secret_context, secret_keys

    recipient = doc["recipient"]
    if kms is None:
        raise HandoverError(f"package {doc.get('package_id')} is encrypted to KMS key {recipient.get('key_id')}: "
                            "open it with that KMS key")
    if kms.active_kek_id() != recipient.get("key_id"):
        raise HandoverError(f"package {doc.get('package_id')} is encrypted to KMS key {recipient.get('key_id')}; "
                            f"the KMS key given is {kms.active_kek_id()}")
    try:
        secret = kms.unwrap(recipient["key_id"], base64.b64decode(recipient["sealed_secret"], validate=True),
                            secret_context(doc["package_id"], doc["deal"]))
    except (KeyringError, KeyError, TypeError, ValueError) as exc:
        raise HandoverError(f"{MANIFEST} fails its seal: the package secret does not open ({type(exc).__name__})"
                            ) from None
    seal_key, proof = secret_keys(secret)
    return kms, seal_key, proof


def verify_package(folder: Path, key: RecipientKey | None = None, *, kms: Any = None, by: str = "transferee",
                   extract_to: Path | None = None) -> dict[str, Any]:
    """Open every object of the package at ``folder`` with ``key`` and check it against the manifest.

    ``key``: the transferee's X25519 private key; or ``kms``: a ``KmsKeyring`` whose active key is
    the transferee's KMS key, for a package built to it (section 10.5).

    ``extract_to``: when given, each table is also written there as ``<table>.parquet`` (atomically,
    only once the whole table verified). Returns the receipt (``custody-handover-receipt``: package
    id, SHA-256 of the manifest bytes, rows and content hash per table, the proof). Raises
    ``HandoverError`` naming the first failure.
    """
    folder = Path(folder)
    raw = (folder / MANIFEST).read_bytes() if (folder / MANIFEST).exists() else None
    doc = read_manifest(folder)
    recipient = doc.get("recipient") or {}
    body = {k: v for k, v in doc.items() if k != "seal"}
    if recipient.get("alg") == KMS_ALGORITHM:
        opener, seal_key, proof = _open_kms(doc, kms)
        key_id = opener.active_kek_id()
    else:
        if key is None:
            raise HandoverError(f"package {doc.get('package_id')} is encrypted to X25519 key "
                                f"{recipient.get('key_id')}: open it with the transferee's private key")
        opener = RecipientKeyring.opener(key)
        key_id = opener.kek
        if recipient.get("key_id") != opener.kek:
            raise HandoverError(f"package {doc.get('package_id')} is encrypted to recipient key "
                                f"{recipient.get('key_id')}; the private key given is {opener.kek}")
        seal_key = proof = b""
        try:
            e_pub = base64.b64decode(recipient["ephemeral_public_key"], validate=True)
            seal_key, proof = opener.agree(e_pub, SEAL_INFO), opener.agree(e_pub, RECEIPT_INFO)
        except (KeyError, TypeError, ValueError, KeyringError):
            pass
    try:
        ok = bool(seal_key) and hmac.compare_digest(seal_manifest(body, seal_key), str(doc["seal"]["hmac_sha256"]))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise HandoverError(f"{MANIFEST} fails its seal: the manifest was altered, or not built for this key")
    results = []
    for tm in doc["tables"]:
        results.append(_verify_table(folder, doc, tm, opener, extract_to))
    return {
        "format": RECEIPT_FORMAT,
        "version": 1,
        "package_id": doc["package_id"],
        "deal": doc["deal"],
        "manifest_sha256": hashlib.sha256(raw or b"").hexdigest(),
        "recipient_key_id": key_id,
        "verified_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "verified_by": by,
        "tables": results,
        "totals": {"tables": len(results), "rows": sum(r["rows"] for r in results),
                   "objects": sum(len(t["objects"]) for t in doc["tables"])},
        "proof": proof.hex(),
    }


def _verify_table(folder: Path, doc: dict[str, Any], tm: dict[str, Any], opener: Any,
                  extract_to: Path | None) -> dict[str, Any]:
    name = tm["table"]
    digest, rows = 0, 0
    chunks = []
    for obj in tm["objects"]:
        where = f"table {name}, object {obj['path']}"
        try:
            blob = (folder / obj["path"]).read_bytes()
        except FileNotFoundError:
            raise HandoverError(f"{where}: missing from the package") from None
        if hashlib.sha256(blob).hexdigest() != obj["sha256"]:
            raise HandoverError(f"{where}: SHA-256 differs from the manifest (altered or replaced)")
        binding = {"kind": "handover", "package_id": doc["package_id"], "deal": doc["deal"], "table": name,
                   "chunk": obj["chunk"], "rows": obj["rows"], "content_hash": obj["content_hash"]}
        try:
            plain = decrypt_bytes(blob, keyring=opener, object_id=obj["object_id"], binding=binding)
        except (IntegrityError, CustodyFormatError, KeyringError) as exc:
            raise HandoverError(f"{where}: refused ({exc})") from None
        chunk = parquet_to_table(plain)
        h = hashing.table_hash(chunk)
        if chunk.num_rows != obj["rows"] or hashing.to_hex(h) != obj["content_hash"]:
            raise HandoverError(f"{where}: {chunk.num_rows} rows / {hashing.to_hex(h)[:12]}…, "
                                f"manifest says {obj['rows']} / {obj['content_hash'][:12]}…")
        digest, rows = hashing.combine(digest, h), rows + chunk.num_rows
        if extract_to is not None:
            chunks.append(chunk)
    if rows != tm["rows"] or hashing.to_hex(digest) != tm["content_hash"]:
        raise HandoverError(f"table {name}: {rows} rows / {hashing.to_hex(digest)[:12]}…, "
                            f"manifest says {tm['rows']} / {tm['content_hash'][:12]}…")
    if extract_to is not None and chunks:
        with atomic_writer(Path(extract_to) / f"{name}.parquet") as fh:
            with pq.ParquetWriter(fh, chunks[0].schema) as writer:
                for c in chunks:
                    writer.write_table(c)
    return {"table": name, "rows": rows, "content_hash": hashing.to_hex(digest), "verified": True}


def check_receipt(expected: dict[str, Any], receipt: dict[str, Any]) -> None:
    """Accept the transferee's receipt for the package ``expected`` describes, or raise ``HandoverError``.

    ``expected``: the package's manifest (as built) with ``manifest_sha256`` added, or the catalog's
    record of it: ``package_id``, ``manifest_sha256``, ``receipt_commitment``, ``tables`` (table,
    rows, content_hash). The receipt must name the same package and manifest bytes, the same rows
    and content hash per table, and a ``proof`` whose SHA-256 is the commitment (only the private
    key opens that).
    """
    if receipt.get("format") != RECEIPT_FORMAT:
        raise HandoverError(f"not a {RECEIPT_FORMAT} document")
    if receipt.get("package_id") != expected["package_id"]:
        raise HandoverError(f"receipt is for package {receipt.get('package_id')}, not {expected['package_id']}")
    if receipt.get("manifest_sha256") != expected["manifest_sha256"]:
        raise HandoverError("receipt names another manifest (its SHA-256 differs from the one built)")
    try:
        proof = bytes.fromhex(str(receipt.get("proof", "")))
    except ValueError:
        proof = b""
    if not hmac.compare_digest(hashlib.sha256(proof).hexdigest(), expected["receipt_commitment"]):
        raise HandoverError("receipt proof does not match the package: it was not produced with the transferee key")
    want = {(t["table"], t["rows"], t["content_hash"]) for t in expected["tables"]}
    got = {(t["table"], t["rows"], t["content_hash"]) for t in receipt.get("tables", []) if t.get("verified")}
    if want != got:
        raise HandoverError("receipt tables, rows or content hashes differ from the package")
