"""Snapshots: the encrypted objects of one run plus a sealed snapshot document, in a store.

Store layout (same on local disk and S3; ``docs/format.md`` is the specification)::

    objects/<sha256[0:2]>/<sha256>.cdy        ciphertext, content-addressed by its SHA-256
    snapshots/<source>/<run_key>.json         sealed snapshot document
    retention/<plan_id>.json                  sealed retention plan, written before any deletion
    locks/<kind>-<UTC time>-<random>.json     backup / prune locks (``custody.store.locks``)

The snapshot document is written last, so a snapshot exists only once all its objects are stored
and read back; a crash before that leaves unreferenced objects that the next run reuses (same
content address) rather than a half snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import random
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, NamedTuple

from custody.crypto.envelope import IntegrityError, decrypt_stream
from custody.crypto.keyring import Keyring
from custody.documents import (
    DocumentError,
    ObjectEntry,
    RunManifest,
    SnapshotDocument,
    SnapshotObject,
    SnapshotStageDocs,
    document_key,
    snapshot_prefix,
)
from custody.errors import error_class, is_custody_error
from custody.staging import StagingStore
from custody.store.backends import READ_BLOCK, ObjectStore, StoreError, read_back
# Locks live in custody.store.locks; these names stay importable from here.
from custody.store.locks import LOCK_PREFIX, LOCK_STALE_S, StoreLockedError, stale_locks, store_lock  # noqa: F401

log = logging.getLogger(__name__)

#: Objects copied and read back at a time, per store (``create_snapshot``).
OBJECT_THREADS = 4


class _Progress:
    """``on_object(done, total)`` called once per object stored, from any store's thread, in order."""

    def __init__(self, callback: Callable[[int, int], None] | None, total: int) -> None:
        self._callback, self._total, self._done = callback, total, 0
        self._lock = threading.Lock()

    def step(self) -> None:
        with self._lock:
            self._done += 1
            if self._callback is not None:
                self._callback(self._done, self._total)


class SnapshotError(Exception):
    """A snapshot is missing, unsealed, or one of its objects fails verification.

    ``failures`` lists ``(object_id, reason)`` pairs; the message names the first failing object.
    """

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


class RecordedSnapshot(NamedTuple):
    """A snapshot that must exist in a store, as the audit log records it (``custody.audit.snapshots``):
    its document ``key``, the ``sha256`` of the document bytes backed up, the audit entry ``seq``
    that recorded it, and its ``source``."""

    key: str
    sha256: str
    seq: int
    source: str


def check_recorded(store: ObjectStore, recorded: Iterable[RecordedSnapshot]) -> list[tuple[str, str]]:
    """Compare the store with the record of snapshots that must exist: ``[(snapshot key, reason)]``.

    A snapshot is *missing* when its document is gone, *replaced* when its bytes differ from the
    ones backed up (an older sealed document of the same run written back passes its seal and
    place checks, but not this one). Reasons carry keys, entry numbers and hash prefixes only.
    """
    failures = []
    for rec in recorded:
        try:
            data = store.get_bytes(rec.key)
        except StoreError:
            failures.append((rec.key, f"missing: backed up at audit entry {rec.seq} but no longer in the store"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != rec.sha256:
            failures.append((rec.key, f"replaced: its document (SHA-256 {digest[:16]}) is not the one backed up "
                                      f"at audit entry {rec.seq} ({rec.sha256[:16]})"))
    return failures


def object_key(sha256: str) -> str:
    """Content address of a ciphertext in a store."""
    return f"objects/{sha256[:2]}/{sha256}.cdy"


def snapshot_key(source: str, run_key: str) -> str:
    """Key of the snapshot document of one run."""
    return document_key("snapshot", source=source, run_key=run_key)


# -- create ----------------------------------------------------------------------------------------
def _store_object(store: ObjectStore, staging: StagingStore, entry: ObjectEntry, key: str) -> tuple[str, int]:
    """Make ``key`` in ``store`` hold exactly the staged object.

    Returns ``(action, bytes)`` with action ``"uploaded"``, ``"reused"`` or ``"repaired"``.

    A present copy of the right size is reused once it reads back to the right SHA-256; a copy that
    does not (a flipped bit, a truncated upload) is replaced from staging and read back again.
    """
    action = "uploaded"
    if store.size(key) == entry.ciphertext_bytes:
        digest, n = read_back(store, key)
        if digest == entry.sha256:
            return "reused", n
        log.warning(
            "%s: object %s differs from its content address; replacing it", store.location, entry.object_id
        )
        action = "repaired"
    staging.copy_to(store, key, entry)
    digest, n = read_back(store, key)
    if digest != entry.sha256:
        raise SnapshotError(
            f"{store.location}: object {entry.object_id} read back with a different SHA-256",
            [(entry.object_id, "sha256 mismatch after upload")],
        )
    return action, n


def _copy_objects(stores: list[ObjectStore], staging: StagingStore, entries: list[ObjectEntry], keys: list[str],
                  counts: list[dict[str, int]], nbytes: list[int], progress: _Progress) -> None:
    """Store every object in every store through one pool of ``OBJECT_THREADS`` threads per store,
    objects queued interleaved across the stores (an upload and its read-back wait on the store, a
    disk's fsync or an HTTP round trip, more than on this process).

    On the first failure, or when this thread is interrupted (a task's timeout or SIGTERM, Ctrl-C),
    no further object starts; the copies under way finish, then the error is raised. Every
    failure is logged; a ``SnapshotError`` (an object that read back wrong) is raised before a
    store error, and a busy store's ``StoreLockedError`` (transient) only when nothing else failed.
    """
    stop = threading.Event()
    failures: list[BaseException] = []
    lock = threading.Lock()

    def one(i: int, entry: ObjectEntry, key: str) -> None:
        if stop.is_set():
            return
        try:
            action, n = _store_object(stores[i], staging, entry, key)
            with lock:
                counts[i][action] += 1
                nbytes[i] += n
            progress.step()  # a failing progress callback fails the backup too
        except BaseException as exc:
            stop.set()
            with lock:
                failures.append(exc)

    pool = ThreadPoolExecutor(max_workers=max(1, OBJECT_THREADS * len(stores)),
                              thread_name_prefix="custody-backup-object")
    try:
        # Objects interleaved across stores, so every store is busy from the start.
        for entry, key in zip(entries, keys, strict=True):
            for i in range(len(stores)):
                pool.submit(one, i, entry, key)
        pool.shutdown(wait=True)
    except BaseException:
        stop.set()
        while True:  # a second interruption must not end the wait: the locks outlive the copies
            try:
                pool.shutdown(wait=True, cancel_futures=True)
                break
            except BaseException:  # the first interruption is the one raised
                continue
        raise
    if failures:
        for exc in failures:
            # Custody's own messages name stores and content addresses; another library's message
            # is not ours to log (errors.py), only its class.
            log.error("backup copy failed: %s", f"{type(exc).__name__}: {exc}" if is_custody_error(exc)
                      else error_class(exc))
        raise _worst(failures)


def _write_documents(stores: list[ObjectStore], key: str, doc_bytes: bytes) -> None:
    """Write the snapshot document to every store and read it back; all or none.

    When a store fails, the stores written before it get back what they held at ``key`` (or lose
    the new document when they held none), so a failed rerun leaves every store's recorded
    document as it was. Raises the store's ``StoreError`` or ``SnapshotError``.
    """
    written: list[tuple[ObjectStore, bytes | None]] = []
    try:
        for store in stores:
            try:
                before: bytes | None = store.get_bytes(key) if store.size(key) is not None else None
            except StoreError:
                before = None
            store.put_bytes(key, doc_bytes)
            written.append((store, before))
            if store.get_bytes(key) != doc_bytes:
                raise SnapshotError(f"{store.location}: snapshot document {key} read back differently")
    except BaseException:
        for store, before in written:
            if before == doc_bytes:
                continue
            try:
                if before is None:
                    store.delete(key)
                else:
                    store.put_bytes(key, before)
            except Exception as exc:  # the original failure is the one raised
                log.error("%s: could not restore the snapshot document %s (%s)", store.location, key,
                          error_class(exc))
        raise


def _worst(failures: list[BaseException]) -> BaseException:
    """The failure to raise: an integrity failure first, a busy store last."""
    for kind in (SnapshotError, StoreError):
        for exc in failures:
            if isinstance(exc, kind) and not isinstance(exc, StoreLockedError):
                return exc
    for exc in failures:
        if not isinstance(exc, StoreLockedError):
            return exc
    return failures[0]


def create_snapshot(
    stores: list[ObjectStore],
    staging: StagingStore,
    manifest: RunManifest,
    documents: SnapshotStageDocs | None,
    keyring: Keyring,
    on_object: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Copy a run's objects and documents to every store, read each copy back, then seal the snapshot.

    ``documents`` are the run's stage results (validation, classification), stored inside the
    snapshot document. Objects are streamed file to store (memory O(part size)); objects already
    present are reused only after reading back to their SHA-256, and corrupt copies are replaced.
    Each store is held under a ``backup`` lock (``store_lock``) so a concurrent prune cannot delete
    objects before the snapshot document references them; every lock is taken before anything is
    copied, objects go to all stores in parallel (``_copy_objects``), and the snapshot documents
    are written only once every object of every store read back right, so a failure or an
    interruption leaves no new document in any store.
    Returns ``{"snapshot_key", "objects", "stores": [{"location", "uploaded", "reused", "repaired",
    "bytes", "snapshot_sha256"}]}``. Raises ``StoreError`` (including ``StoreLockedError``) or
    ``SnapshotError`` (read-back hash mismatch, naming the object). ``on_object(done, total)`` is
    called after each object stored, counting over all stores (a progress bar). GDPR Art 32(1)(c): ability to
    restore; PIPL Art 51(3): backup of personal information.
    """
    snapshot = SnapshotDocument(
        snapshot_id=f"{manifest.source}/{manifest.run_key}", source=manifest.source, run_key=manifest.run_key,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"), manifest=manifest,
        documents=documents or SnapshotStageDocs(), objects=[],
    )
    entries = snapshot.entries()
    listing = [
        SnapshotObject(object_id=e.object_id, kind=e.kind, table=e.table, rows=e.rows, sha256=e.sha256,
                       bytes=e.ciphertext_bytes, key=object_key(e.sha256))
        for e in entries
    ]
    snapshot.objects = listing
    doc_bytes = json.dumps(snapshot.sealed(keyring), indent=1, ensure_ascii=False).encode()
    key = snapshot.key()
    summary: dict[str, Any] = {"snapshot_key": key, "objects": len(entries), "stores": []}
    progress = _Progress(on_object, len(entries) * len(stores))
    counts = [{"uploaded": 0, "reused": 0, "repaired": 0} for _ in stores]
    nbytes = [0] * len(stores)
    with contextlib.ExitStack() as held:
        # Every store's lock first: a store held by a prune refuses the backup before anything is
        # copied anywhere.
        for store in stores:
            held.enter_context(store_lock(store, "backup"))
        _copy_objects(stores, staging, entries, [item.key for item in listing], counts, nbytes, progress)
        # Documents last, once every object of every store has read back right: a failure in one
        # store leaves no new snapshot document in any (a rerun's document would otherwise replace
        # the one the audit log recorded, while the run is reported failed).
        _write_documents(stores, key, doc_bytes)
    doc_sha256 = hashlib.sha256(doc_bytes).hexdigest()
    for store, c, n in zip(stores, counts, nbytes, strict=True):
        log.info("%s: snapshot %s stored (%s)", store.location, key, c)
        summary["stores"].append({"location": store.location, **c, "bytes": n, "snapshot_sha256": doc_sha256})
    return summary


# -- read ------------------------------------------------------------------------------------------
def list_snapshots(store: ObjectStore, source: str | None = None) -> list[str]:
    """Snapshot document keys in ``store`` (optionally of one source), oldest run key first.

    Raises ``SnapshotError`` for a source name that is not a safe key segment (``../..``).
    """
    try:
        prefix = snapshot_prefix(source or None)
    except ValueError:
        raise SnapshotError(f"source {source!r} is not a source name (letters, digits, '_', '.', '-')") from None
    return [k for k in store.list_keys(prefix) if k.endswith(".json")]


def load_snapshot(store: ObjectStore, key: str, keyring: Keyring) -> SnapshotDocument:
    """Read a snapshot document: seal, schema version, and that it is the snapshot that belongs at
    ``key`` (a document copied over another's key is refused). Raises ``SnapshotError``."""
    name = f"{store.location}/{key}"
    try:
        raw = json.loads(store.get_bytes(key))
        return SnapshotDocument.open_sealed(raw, keyring, name=name, key=key)
    except (StoreError, DocumentError) as exc:
        raise SnapshotError(str(exc)) from None
    except ValueError:
        raise SnapshotError(f"{name}: not a JSON document") from None
    except Exception as exc:  # unknown KEK and the like: the document cannot be trusted
        raise SnapshotError(f"{name}: {type(exc).__name__}: {exc}") from None


def latest_snapshot(store: ObjectStore, keyring: Keyring, source: str | None = None,
                    recorded: Iterable[RecordedSnapshot] | None = None) -> str:
    """Key of the newest snapshot by ``created_at`` (ties: key order). Raises ``SnapshotError`` if none.

    ``recorded``: the snapshots the audit log says must exist in this store; the newest of them
    (of ``source``) must be present and unchanged, else ``SnapshotError`` names it rather than
    falling back silently to an older snapshot.
    """
    mine = [r for r in recorded or () if source is None or r.source == source]
    if mine:
        newest = max(mine, key=lambda r: r.seq)
        failures = check_recorded(store, [newest])
        if failures:
            raise SnapshotError(f"{store.location}: the newest recorded snapshot {newest.key} is {failures[0][1]}; "
                                "refusing to fall back to an older one", failures)
    keys = list_snapshots(store, source)
    if not keys:
        raise SnapshotError(f"{store.location}: no snapshot" + (f" of source {source}" if source else ""))
    dated = [(load_snapshot(store, k, keyring).created_at, k) for k in keys]
    return max(dated)[1]


# -- verify ----------------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    """Outcome of ``verify_snapshot`` / ``verify_store``.

    ``checked``: objects read back; ``total``: objects eligible (``checked < total`` when sampled);
    ``bytes_read``: bytes; ``failures``: ``(object_id, reason)``; ``snapshots``: documents whose
    seal verified. No values, only ids, counts and hashes.
    """

    snapshot_key: str
    location: str
    checked: int = 0
    total: int = 0
    bytes_read: int = 0
    snapshots: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every checked object verified."""
        return not self.failures


class _HashingReader(io.RawIOBase):
    """Pass-through reader that hashes what is read, so one pass both decrypts and hashes.

    The SHA-256 of each block runs on a helper thread (hashlib releases the GIL) while the caller
    decrypts and writes the block: on CPUs without SHA extensions hashing is the slowest step.
    Call ``hexdigest()`` once reading is done.
    """

    def __init__(self, src: BinaryIO) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.src, self.sha, self.n = src, hashlib.sha256(), 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="custody-sha256")
        self._pending: Any = None

    def read(self, size: int = -1) -> bytes:
        data = self.src.read(size)
        if self._pending is not None:
            self._pending.result()  # keep blocks in order
        self._pending = self._pool.submit(self.sha.update, data) if data else None
        self.n += len(data)
        return data

    def hexdigest(self) -> str:
        """SHA-256 (hex) of everything read so far; stops the helper thread."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        self._pool.shutdown()
        return self.sha.hexdigest()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        super().close()


class _Discard(io.RawIOBase):
    def write(self, b: Any) -> int:
        return len(b)


def verify_object(
    store: ObjectStore,
    item: SnapshotObject,
    entry: ObjectEntry | None,
    keyring: Keyring,
    *,
    deep: bool = True,
) -> int:
    """Read one object back in a single pass: SHA-256 against ``item["sha256"]`` and, with ``deep``
    and an ``entry``, authenticated decryption under its own key and binding (plaintext discarded).

    ``item``: a snapshot document's object listing. Returns bytes read. Raises ``IntegrityError``
    (hash or authentication), ``StoreError`` (missing), keyring errors.
    """
    oid = item.object_id
    with store.open_read(item.key) as fh, _HashingReader(fh) as reader:
        problem: Exception | None = None
        if deep and entry is not None:
            try:
                decrypt_stream(reader, _Discard(), keyring=keyring, object_id=oid, binding=entry.binding())
            except Exception as exc:  # reported below unless the hash already explains it
                problem = exc
        while reader.read(READ_BLOCK):  # the rest, if decryption stopped early
            pass
    if reader.hexdigest() != item.sha256:
        raise IntegrityError(f"object {oid}: SHA-256 differs from the snapshot ({reader.n} bytes read)")
    if problem is not None:
        raise problem
    return reader.n


def _sample(items: list[Any], sample: float, seed: int | None) -> list[Any]:
    if not 0 < sample <= 1:
        raise ValueError("sample must be in (0, 1]")
    if sample >= 1:
        return list(items)
    k = max(1, round(len(items) * sample)) if items else 0
    picked = set(random.Random(seed).sample(range(len(items)), k))
    return [x for i, x in enumerate(items) if i in picked]


def _entries_of(doc: SnapshotDocument) -> dict[str, ObjectEntry]:
    return {e.object_id: e for e in doc.entries()}


def _check(store, items, entries, keyring, report: VerifyReport, deep: bool, on_object=None) -> None:
    for done, item in enumerate(items, 1):
        oid = item.object_id
        report.checked += 1
        try:
            report.bytes_read += verify_object(store, item, entries.get(oid), keyring, deep=deep)
        except (StoreError, IntegrityError) as exc:
            report.failures.append((oid, str(exc)))
        except Exception as exc:  # wrong key, malformed header: still a verification failure
            report.failures.append((oid, f"{type(exc).__name__}: {exc}"))
        if on_object is not None:
            on_object(done, len(items))


def _raise(report: VerifyReport, what: str) -> None:
    oid, reason = report.failures[0]
    raise SnapshotError(
        f"{what}: {len(report.failures)} failure(s) ({report.checked} objects checked); first: {oid} ({reason})",
        report.failures,
    )


def verify_snapshot(
    store: ObjectStore,
    key: str,
    keyring: Keyring,
    *,
    deep: bool = True,
    raise_on_failure: bool = True,
    sample: float = 1.0,
    seed: int | None = None,
    recorded: Iterable[RecordedSnapshot] | None = None,
    on_object: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Read back the objects of one snapshot and check each SHA-256 (and, with ``deep``, decrypt it).

    ``recorded``: the audit log's record of snapshots (``check_recorded``); a snapshot whose
    document was replaced since its backup fails under its key.

    ``sample`` in (0, 1] checks that share of the objects (at least one), chosen by ``seed``
    (``random.Random``; record it to repeat a run). ``deep`` authenticates every segment under
    the object's own key and binding, discarding the plaintext. Raises ``SnapshotError`` naming
    the first failing object unless ``raise_on_failure`` is False. ``on_object(done, total)`` is
    called after each object read back (a progress bar). GDPR Art 32(1)(d): regular testing of
    the measures.
    """
    doc = load_snapshot(store, key, keyring)
    entries = _entries_of(doc)
    report = VerifyReport(snapshot_key=key, location=store.location, total=len(doc.objects), snapshots=1)
    report.failures.extend(check_recorded(store, [r for r in recorded or () if r.key == key]))
    _check(store, _sample(doc.objects, sample, seed), entries, keyring, report, deep, on_object)
    if report.failures and raise_on_failure:
        _raise(report, f"{store.location}/{key}")
    return report


def verify_store(
    store: ObjectStore,
    keyring: Keyring,
    *,
    source: str | None = None,
    sample: float = 1.0,
    seed: int | None = None,
    deep: bool = True,
    raise_on_failure: bool = True,
    recorded: Iterable[RecordedSnapshot] | None = None,
    on_object: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Verify every snapshot document's seal and a ``sample`` share of the distinct objects they reference.

    Objects shared by several snapshots are read once. A document whose seal fails counts as a
    failure under its key; so does a snapshot of ``recorded`` (of ``source``) that is missing or
    whose document was replaced (``check_recorded``). Returns a ``VerifyReport`` with
    ``snapshot_key="*"``. Raises ``SnapshotError`` on any failure unless ``raise_on_failure`` is False.
    ``on_object(done, total)``: called after each object read back.
    """
    report = VerifyReport(snapshot_key="*", location=store.location)
    report.failures.extend(check_recorded(store, [r for r in recorded or () if source is None or r.source == source]))
    items: dict[str, SnapshotObject] = {}
    entries: dict[str, ObjectEntry] = {}
    for key in list_snapshots(store, source):
        try:
            doc = load_snapshot(store, key, keyring)
        except SnapshotError as exc:
            report.failures.append((key, str(exc)))
            continue
        report.snapshots += 1
        entries.update(_entries_of(doc))
        for item in doc.objects:
            items.setdefault(item.key, item)
    ordered = [items[k] for k in sorted(items)]
    report.total = len(ordered)
    _check(store, _sample(ordered, sample, seed), entries, keyring, report, deep, on_object)
    if report.failures and raise_on_failure:
        _raise(report, store.location)
    return report
