"""Access requests: one subject's rows, exported to an owner-only encrypted file, and opening it.

PIPL Art 45 (access and copy), GDPR Art 15 (access) and 20 (portability). The rows are those of
the subject in the snapshots given (normally each source's latest), found as a restore finds the
rows a deletion drops (``custody.dsr.ledger.ErasureFilter``: identifier columns by pseudonym,
then rows holding the key of a matched row), every chunk authenticated on the way.

Export file (``<folder>/<request id>.cdyx``, mode 0600 in a 0700 folder)::

    b"CDYX1\\n" || nonce (12 bytes) || AES-256-GCM(key, nonce, plaintext, aad = b"CDYX1\\n" || request id)

The plaintext is canonical JSON ``{"format": "custody-dsr-export", "version": 1, "request_id",
"exported_at", "tables": {"<source>/<table>": {"columns": [...], "rows": [[...], ...]}}}`` with
every value as JSON text (numbers, decimals, dates and times as their ISO / decimal text, binary
as base64). The key is 32 random bytes, made for this export only, returned once as URL-safe
base64 to be handed to the subject by another channel; Custody keeps only its SHA-256 (in the
audit entry) so a wrong key is told apart from a damaged file. ``open_export`` decrypts it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custody.canonical import canonical_json
from custody.dsr.ledger import ErasureFilter
from custody.fsio import atomic_write_bytes

MAGIC = b"CDYX1\n"
FORMAT = "custody-dsr-export"


class ExportError(Exception):
    """An export cannot be written or opened (wrong key, damaged file); never quotes a value."""


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (Decimal, date, datetime, time)):
        return v.isoformat() if not isinstance(v, Decimal) else str(v)
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode("ascii")
    return str(v)


def collect(store: Any, snapshot_keys: list[str], keyring: Any, pseudonyms: dict[str, set[str]]) -> dict[str, Any]:
    """The subject's rows in each snapshot: ``{"<source>/<table>": {"columns", "rows"}}`` (tables
    without a row of the subject are left out). Raises what a restore raises."""
    from custody.restore.reading import iter_table
    from custody.store.snapshots import load_snapshot

    out: dict[str, Any] = {}
    for key in snapshot_keys:
        doc = load_snapshot(store, key, keyring)
        manifest = doc.manifest
        finder = ErasureFilter(pseudonyms, keyring)
        finder.prepare([(tm.table, tm.schema(), list(tm.primary_key)) for tm in manifest.tables],
                       doc.documents.classification, lambda name: iter_table(store, manifest.table(name), keyring))
        for tm in manifest.tables:
            rows: list[list[Any]] = []
            for chunk in iter_table(store, tm, keyring):
                hit = finder.matches(tm.table, chunk)
                rows += [[_json_value(v) for v in r.values()] for r in hit.to_pylist()]
            if rows:
                out[f"{manifest.source}/{tm.table}"] = {"columns": [c.name for c in tm.columns], "rows": rows}
    return out


def write_export(folder: Path, request_id: str, tables: dict[str, Any]) -> dict[str, Any]:
    """Encrypt ``tables`` to ``folder/<request_id>.cdyx`` (0600; folder created 0700).

    Returns ``{"path", "key" (URL-safe base64, shown once), "key_sha256", "sha256", "rows", "tables"}``.
    Refuses to replace an existing export (``ExportError``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    path = folder / f"{request_id}.cdyx"
    if path.exists():
        raise ExportError(f"{path} exists; an export is written once")
    body = {"format": FORMAT, "version": 1, "request_id": request_id,
            "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "tables": tables}
    key = AESGCM.generate_key(bit_length=256)
    nonce = secrets.token_bytes(12)
    blob = MAGIC + nonce + AESGCM(key).encrypt(nonce, canonical_json(body), MAGIC + request_id.encode())
    atomic_write_bytes(path, blob, mode=0o600)
    return {"path": str(path), "key": base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii"),
            "key_sha256": hashlib.sha256(key).hexdigest(), "sha256": hashlib.sha256(blob).hexdigest(),
            "rows": sum(len(t["rows"]) for t in tables.values()), "tables": len(tables)}


def open_export(path: Path, key: str) -> dict[str, Any]:
    """Decrypt an export with its key (URL-safe base64): the JSON document. Raises ``ExportError``."""
    blob = Path(path).read_bytes()
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 12 + 16:
        raise ExportError(f"{path}: not a Custody access export")
    request_id = Path(path).name.removesuffix(".cdyx")
    try:
        raw = base64.urlsafe_b64decode(key.strip() + "=" * (-len(key.strip()) % 4))
        nonce = blob[len(MAGIC):len(MAGIC) + 12]
        plain = AESGCM(raw).decrypt(nonce, blob[len(MAGIC) + 12:], MAGIC + request_id.encode())
    except (InvalidTag, ValueError):
        raise ExportError(f"{path}: the key does not open this export (wrong key, renamed or damaged file)") from None
    doc = json.loads(plain)
    if doc.get("format") != FORMAT or doc.get("request_id") != request_id:
        raise ExportError(f"{path}: not a {FORMAT} document for request {request_id}")
    return doc


def write_opened(doc: dict[str, Any], out_dir: Path) -> list[str]:
    """Write an opened export as one JSON file per table into ``out_dir`` (0700; files 0600)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out_dir, 0o700)
    written = []
    for name, table in doc["tables"].items():
        path = out_dir / (name.replace("/", "__") + ".json")
        atomic_write_bytes(path, json.dumps(table, ensure_ascii=False, indent=1).encode("utf-8"), mode=0o600)
        written.append(str(path))
    return written
