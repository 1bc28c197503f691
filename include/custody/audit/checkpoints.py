"""Signed checkpoints of the audit log, kept in the catalog and in every snapshot store.

A checkpoint is a C2SP ``tlog-checkpoint`` signed note (``docs/format.md`` section 8.4)::

    <origin>
    <tree size>
    <base64 of the 32-byte root hash>
    time <YYYY-MM-DDTHH:MM:SSZ>

    — <key name> <base64(key ID || signature)>

It is written to the catalog (``audit_checkpoint``) and to each store (local disk, S3) next to the
leaf hashes of the entries it adds (``audit/leaves/<start>-<end>.bin``, 32 bytes per entry) and
the signer's verifier key (``audit/keys/<key id>.vkey``). On an S3 bucket with Object Lock
enabled these objects get a COMPLIANCE retention (default 1,095 days: PIPL Art 56 keeps such
records three years), so a rewrite of the whole catalog, signing key and all, is caught by
checkpoints it cannot change; the stored leaves then name the first entry that differs.

``write_checkpoint`` refuses to sign a log that does not extend the newest checkpoint it can
find (catalog and stores): a signer never blesses a fork. Writers call it at every milestone
(each backup and each run report) and operators from ``custody audit checkpoint``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from custody.audit.log import AuditLog
from custody.audit.merkle import HASH_SIZE, append_leaf, range_root
from custody.audit.signing import NoteError, Signer, Verifier, open_note, sign_note
from custody.catalog.schema import audit_checkpoint
from custody.documents.layout import AUDIT_PREFIX, audit_key

DEFAULT_LOCK_DAYS = 1095
_CP_KEY = re.compile(r"audit/checkpoints/(\d{12})-(\d{8}T\d{6}Z)-([0-9a-f]{8})\.note$")
_LEAVES_KEY = re.compile(r"audit/leaves/(\d{12})-(\d{12})\.bin$")


class CheckpointError(Exception):
    """A checkpoint cannot be written (the log does not extend an earlier one) or read."""


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: ``size`` entries with tree ``root`` (32 bytes) at ``signed_at``
    (UTC ``YYYY-MM-DDTHH:MM:SSZ``), the whole signed ``note``, the ``signers`` (``name+key id``)
    whose signatures verified, and ``where`` it was read (catalog or a store key)."""

    origin: str
    size: int
    root: bytes
    signed_at: str
    note: str
    signers: tuple[str, ...] = ()
    where: str = ""

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the note's bytes."""
        return hashlib.sha256(self.note.encode("utf-8")).hexdigest()

    def describe(self) -> str:
        """``checkpoint <size> (<time>, <8 hex>) in <where>``, for messages."""
        return f"checkpoint of {self.size} entries ({self.signed_at}, {self.digest[:8]}) in {self.where}"


def checkpoint_text(origin: str, size: int, root: bytes, signed_at: str) -> str:
    """The note text of a checkpoint (four lines, each ending in a newline)."""
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise CheckpointError("origin must be non-empty, without spaces or '+'")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntime {signed_at}\n"


def parse_checkpoint(note: str, verifiers: Sequence[Verifier], *, origin: str | None = None,
                     where: str = "") -> Checkpoint:
    """Verify a checkpoint note against trusted ``verifiers`` and read it.

    Raises ``NoteError`` (signature, untrusted key) or ``CheckpointError`` (body, origin).
    """
    text, good = open_note(note, list(verifiers))
    lines = text.split("\n")[:-1]
    if len(lines) < 4 or not re.fullmatch(r"0|[1-9]\d*", lines[1]):
        raise CheckpointError(f"{where}: not a checkpoint (origin, size, root, time lines)")
    if origin is not None and lines[0] != origin:
        raise CheckpointError(f"{where}: checkpoint of origin {lines[0]!r}, expected {origin!r}")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        root = b""
    times = [ln[5:] for ln in lines[3:] if ln.startswith("time ")]
    if len(root) != HASH_SIZE or len(times) != 1 or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", times[0]):
        raise CheckpointError(f"{where}: malformed checkpoint (root hash or time line)")
    return Checkpoint(lines[0], int(lines[1]), root, times[0], note,
                      tuple(f"{v.name}+{v.key_id.hex()}" for v in good), where)


def roots_at(leaves: Sequence[bytes], sizes: set[int]) -> dict[int, bytes]:
    """Tree roots of the first ``n`` leaves for every ``n`` in ``sizes`` (``n <= len(leaves)``), in
    one pass over ``leaves`` with a compact range (``O(n log n)`` at worst, no re-hashing)."""
    out: dict[int, bytes] = {}
    compact: list[bytes] = []
    if 0 in sizes:
        out[0] = range_root(compact)
    for i, leaf in enumerate(leaves):
        compact = append_leaf(compact, i, leaf)
        if i + 1 in sizes:
            out[i + 1] = range_root(compact)
    return out


# -- catalog ---------------------------------------------------------------------------------------
def catalog_notes(log: AuditLog) -> list[tuple[str, str]]:
    """``(note, stores JSON)`` of every checkpoint in the catalog, by size then time."""
    c = audit_checkpoint.c
    with log.engine.connect() as conn:
        return [(r.note, r.stores) for r in conn.execute(
            sa.select(c.note, c.stores).order_by(c.size, c.signed_at))]


# -- stores ----------------------------------------------------------------------------------------
def store_checkpoint_keys(store: Any) -> list[tuple[int, str]]:
    """``(size, key)`` of every checkpoint note in ``store``, in size order."""
    out = []
    for key in store.list_keys(f"{AUDIT_PREFIX}checkpoints/"):
        m = _CP_KEY.search(key)
        if m:
            out.append((int(m.group(1)), key))
    return sorted(out)


def _versions(store: Any, prefix: str) -> list[tuple[str, list[bytes]]]:
    """``(key, contents)`` of every object under ``prefix``; on S3, every version, oldest first.

    Reading versions (``ListObjectVersions``) means a checkpoint overwritten or hidden behind a
    delete marker is still read: Object Lock keeps old versions, not the current one. Stores
    without versions (local disk) give the current content. Raises ``StoreError``.
    """
    from custody.store.backends import StoreError

    client = getattr(store, "client", None)
    if client is None or not hasattr(store, "bucket"):
        return [(k, [store.get_bytes(k)]) for k in store.list_keys(prefix)]
    base = f"{store.prefix}/" if store.prefix else ""
    found: dict[str, list[str]] = {}
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=store.bucket, Prefix=base + prefix):
            for v in page.get("Versions", []):
                found.setdefault(v["Key"][len(base):], []).append(v["VersionId"])
        # S3 lists the versions of a key newest first (times have one-second resolution): reverse.
        return [(key, [client.get_object(Bucket=store.bucket, Key=base + key, VersionId=vid)["Body"].read()
                       for vid in reversed(found[key])]) for key in sorted(found)]
    except Exception as exc:  # botocore errors: name the store and the code only
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise StoreError(f"{store.location}: cannot read {prefix} versions: {code}") from None


def store_leaves(store: Any) -> tuple[list[bytes], list[str]]:
    """The leaf hashes a store holds, as one list from entry 0, and the problems found.

    Per object the oldest version counts (a later, different version is reported as rewritten);
    objects may overlap, and overlapping hashes must agree. The list stops at the first entry no
    object covers. Problems name the object keys, never leaf values.
    """
    known: dict[int, bytes] = {}
    problems: list[str] = []
    for key, versions in _versions(store, f"{AUDIT_PREFIX}leaves/"):
        m = _LEAVES_KEY.search(key)
        if not m:
            continue
        start, end = int(m.group(1)), int(m.group(2))
        data = versions[0]
        if any(v != data for v in versions[1:]):
            problems.append(f"{store.location}/{key}: rewritten after it was first written (versions differ)")
        if len(data) != (end - start) * HASH_SIZE:
            problems.append(f"{store.location}/{key}: {len(data)} bytes, expected {(end - start) * HASH_SIZE}")
            continue
        for i in range(start, end):
            h = data[(i - start) * HASH_SIZE:(i - start + 1) * HASH_SIZE]
            if known.setdefault(i, h) != h:
                problems.append(f"{store.location}/{key}: leaf of entry {i} differs from another object's")
    out: list[bytes] = []
    while len(out) in known:
        out.append(known[len(out)])
    return out, problems


def read_store_checkpoints(store: Any, verifiers: Sequence[Verifier], *, origin: str | None = None
                           ) -> tuple[list[Checkpoint], list[tuple[str, str]]]:
    """Every checkpoint note in ``store`` (every version on S3): ``(verified checkpoints,
    [(where, reason)] for the others)``."""
    good, bad = [], []
    for key, versions in _versions(store, f"{AUDIT_PREFIX}checkpoints/"):
        if not _CP_KEY.search(key):
            continue
        where = f"{store.location}/{key}"
        for data in dict.fromkeys(versions):  # identical versions once
            try:
                good.append(parse_checkpoint(data.decode("utf-8"), verifiers, origin=origin, where=where))
            except (NoteError, CheckpointError, UnicodeDecodeError) as exc:
                bad.append((where, str(exc)))
    return good, bad


def _lock(store: Any, days: int) -> tuple[str, datetime] | None:
    enabled = getattr(store, "object_lock_enabled", None)
    if days > 0 and callable(enabled) and enabled():
        return ("COMPLIANCE", datetime.now(UTC) + timedelta(days=days))
    return None


def _put(store: Any, key: str, data: bytes, lock: tuple[str, datetime] | None) -> None:
    if lock is None:
        store.put_bytes(key, data)
    else:
        store.put_bytes(key, data, lock=lock)
    if store.get_bytes(key) != data:
        raise CheckpointError(f"{store.location}/{key}: read back differently")


def publish(store: Any, cp: Checkpoint, leaves: Sequence[bytes], verifier: Verifier,
            *, lock_days: int = DEFAULT_LOCK_DAYS) -> str:
    """Write a checkpoint to ``store``: the leaves it adds to what the store holds, its verifier
    key if new, then the note (each read back). Returns the note's key. Raises ``StoreError``,
    ``CheckpointError``."""
    lock = _lock(store, lock_days)
    held = max((size for size, _ in store_checkpoint_keys(store)), default=0)
    if held < cp.size:
        _put(store, audit_key("leaves", start=held, end=cp.size), b"".join(leaves[held:cp.size]), lock)
    vkey = audit_key("vkey", key_id=verifier.key_id.hex())
    if store.size(vkey) is None:
        _put(store, vkey, (verifier.vkey() + "\n").encode(), lock)
    stamp = cp.signed_at.replace("-", "").replace(":", "")
    key = audit_key("checkpoint", size=cp.size, signed_at=stamp, digest=cp.digest[:8])
    _put(store, key, cp.note.encode("utf-8"), lock)
    return key


# -- writing ---------------------------------------------------------------------------------------
def write_checkpoint(log: AuditLog, signer: Signer, stores: Sequence[Any], *, origin: str, reason: str = "run",
                     lock_days: int = DEFAULT_LOCK_DAYS) -> Checkpoint:
    """Sign the log's current tree and keep the checkpoint in the catalog and in every store.

    Before signing: the head's size must be the number of stored entries, and the log must extend the
    newest checkpoint (by size) found in the catalog and in each store, verified under the
    signer's own key; otherwise ``CheckpointError`` (run ``custody audit verify``). ``reason``:
    why it was written (``run``, ``backup``, ``milestone``, ``cli``, ``periodic``). Returns the
    checkpoint. Raises ``CheckpointError``, ``StoreError``, SQLAlchemy errors.
    """
    verifier = signer.verifier()
    leaves = log.stored_leaves()
    size = len(leaves)
    newest: list[Checkpoint] = []
    parsed = []
    for note, _ in catalog_notes(log):
        with contextlib.suppress(NoteError, CheckpointError):
            parsed.append(parse_checkpoint(note, [verifier], origin=origin, where="catalog"))
    if parsed:
        newest.append(max(parsed, key=lambda c: c.size))
    for store in stores:
        keys = store_checkpoint_keys(store)
        for held, key in keys:  # only the largest size matters: it covers the others
            if held == keys[-1][0]:
                with contextlib.suppress(NoteError, CheckpointError, UnicodeDecodeError):
                    newest.append(parse_checkpoint(store.get_bytes(key).decode("utf-8"), [verifier], origin=origin,
                                                   where=f"{store.location}/{key}"))
    roots = roots_at(leaves, {size, *(c.size for c in newest if c.size <= size)})
    if log.size() != size:
        raise CheckpointError(f"the audit log's head ({log.size()} entries) does not match its {size} stored "
                              "entries; refusing to sign: run `custody audit verify`")
    for prev in newest:
        if prev.size > size or roots[prev.size] != prev.root:
            raise CheckpointError(f"the audit log does not extend {prev.describe()}; refusing to sign a fork: "
                                  "run `custody audit verify`")
    signed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = sign_note(checkpoint_text(origin, size, roots[size], signed_at), [signer])
    cp = Checkpoint(origin, size, roots[size], signed_at, note, (f"{signer.name}+{signer.key_id.hex()}",), "catalog")
    with log.engine.begin() as conn:
        # Ed25519 is deterministic: the same tree signed in the same second is the same note.
        if conn.execute(sa.select(audit_checkpoint.c.size).where(audit_checkpoint.c.note_sha256 == cp.digest)).first():
            conn.execute(sa.delete(audit_checkpoint).where(audit_checkpoint.c.note_sha256 == cp.digest))
        conn.execute(sa.insert(audit_checkpoint).values(
            note_sha256=cp.digest, size=cp.size, root=cp.root.hex(),
            signed_at=datetime.strptime(signed_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), origin=origin,
            key_id=signer.key_id.hex(), reason=reason[:64], note=note, stores="[]"))
    where = [publish(store, cp, leaves, verifier, lock_days=lock_days) and store.location for store in stores]
    with log.engine.begin() as conn:
        conn.execute(sa.update(audit_checkpoint).where(audit_checkpoint.c.note_sha256 == cp.digest)
                     .values(stores=json.dumps(where)))
    return cp


def latest_catalog_checkpoint(log: AuditLog, verifiers: Sequence[Verifier], *, origin: str | None = None,
                              covering: int | None = None) -> Checkpoint | None:
    """The newest (largest) verified checkpoint in the catalog, or None; with ``covering``, only
    checkpoints that include that entry number (size greater than it) count."""
    found = []
    for note, _ in catalog_notes(log):
        with contextlib.suppress(NoteError, CheckpointError):
            found.append(parse_checkpoint(note, verifiers, origin=origin, where="catalog"))
    if covering is not None:
        found = [c for c in found if c.size > covering]
    return max(found, key=lambda c: (c.size, c.signed_at)) if found else None
