"""Staging, snapshots on local disk and S3 (moto over HTTP), verify and restore."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custody import hashing
from custody.crypto import LocalKeyring
from custody.crypto.keyring import KeyringError
from custody.documents import DocumentError, ObjectEntry, RunManifest, TableManifest
from custody.restore import RestoreError, restore_snapshot, restore_table
from custody.staging import StagingStore
from custody.store import (
    LocalStore,
    S3Store,
    SnapshotError,
    create_snapshot,
    latest_snapshot,
    verify_snapshot,
)
from custody.store.backends import StoreError
from custody.store.snapshots import list_snapshots, object_key


def _table(start: int, n: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "name": pa.array([f"客户{i}" for i in range(start, start + n)]),
            "amount": pa.array([Decimal(f"{i}.25") for i in range(start, start + n)], pa.decimal128(14, 2)),
        }
    )


@pytest.fixture
def staged(tmp_path):
    keyring = LocalKeyring.create(tmp_path / "keys" / "kek.json")
    staging = StagingStore(tmp_path / "staging", keyring)
    chunks, digest = [], 0
    for i, (start, n) in enumerate([(0, 40), (40, 25)]):
        t = _table(start, n)
        h = hashing.table_hash(t)
        digest = hashing.combine(digest, h)
        entry = ObjectEntry(
            object_id=f"crm/r1/contacts/chunk-{i:05d}",
            key=f"crm/r1/contacts/chunk-{i:05d}.cdy",
            kind="chunk",
            source="crm",
            run_key="r1",
            table="contacts",
            chunk=i,
            rows=n,
            content_hash=hashing.to_hex(h),
            scope="crm/customer_contract",
        )
        chunks.append(staging.put_table(entry, t))
    tm = TableManifest(
        table="contacts",
        source_table="contacts",
        primary_key=["id"],
        columns=[
            {"name": "id", "arrow_type": "int64", "nullable": True},
            {"name": "name", "arrow_type": "string", "nullable": True},
            {"name": "amount", "arrow_type": "decimal128(14, 2)", "nullable": True},
        ],
        source_rows=65,
        extracted_rows=65,
        content_hash=hashing.to_hex(digest),
        chunks=chunks,
    )
    manifest = RunManifest(source="crm", run_key="r1", dialect="sqlite", tables=[tm])
    staging.put(manifest)
    return keyring, staging, manifest


def test_staging_holds_no_plaintext(staged, tmp_path):
    blobs = b"".join(p.read_bytes() for p in (tmp_path / "staging").rglob("*") if p.is_file())
    assert "客户12".encode() not in blobs and b"PAR1" not in blobs


def test_manifest_seal_detects_edits(staged):
    keyring, staging, _ = staged
    path = staging.path("crm/r1/manifest.json")
    path.write_text(path.read_text().replace('"extracted_rows": 65', '"extracted_rows": 64'))
    with pytest.raises(DocumentError, match="seal does not verify"):
        staging.get("crm/r1/manifest.json", RunManifest)


def test_local_snapshot_verify_restore_and_flipped_byte(staged, tmp_path):
    keyring, staging, manifest = staged
    store = LocalStore(tmp_path / "backups")
    summary = create_snapshot([store], staging, manifest, None, keyring)
    assert summary["stores"][0]["uploaded"] == 2
    key = latest_snapshot(store, keyring, "crm")
    assert verify_snapshot(store, key, keyring).checked == 2
    restored = restore_table(store, key, "contacts", keyring)
    assert restored.num_rows == 65
    assert hashing.to_hex(hashing.table_hash(restored)) == manifest.tables[0].content_hash
    assert restored.column("amount").to_pylist()[3] == Decimal("3.25")

    # a rerun reuses the content-addressed objects
    assert create_snapshot([store], staging, manifest, None, keyring)["stores"][0]["reused"] == 2

    victim = manifest.tables[0].chunks[1]
    path = tmp_path / "backups" / object_key(victim.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="crm/r1/contacts/chunk-00001") as err:
        verify_snapshot(store, key, keyring)
    assert [oid for oid, _ in err.value.failures] == ["crm/r1/contacts/chunk-00001"]
    out = tmp_path / "restored"
    with pytest.raises(Exception, match="chunk-00001"):
        restore_snapshot(store, key, keyring, out)
    assert not list(out.rglob("*.parquet")), "a failed restore must leave no file"


def test_restore_to_files_csv_and_parquet(staged, tmp_path):
    keyring, staging, manifest = staged
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    key = latest_snapshot(store, keyring)
    res = restore_snapshot(store, key, keyring, tmp_path / "out", fmt="parquet")
    table = pq.read_table(res["contacts"]["path"])
    assert table.num_rows == 65 and res["contacts"]["content_hash"] == manifest.tables[0].content_hash
    res = restore_snapshot(store, key, keyring, tmp_path / "out", fmt="csv")
    text = open(res["contacts"]["path"], encoding="utf-8-sig").read()
    assert "客户64" in text and text.count("\n") == 66
    with pytest.raises(RestoreError, match="not in snapshot"):
        restore_snapshot(store, key, keyring, tmp_path / "out", tables=["nope"])


def test_wrong_keyring_restores_nothing(staged, tmp_path):
    keyring, staging, manifest = staged
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    other = LocalKeyring.create(tmp_path / "other" / "kek.json")
    with pytest.raises((SnapshotError, KeyringError)):
        restore_snapshot(store, "snapshots/crm/r1.json", other, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_s3_snapshot_over_http(staged, s3_client, tmp_path):
    keyring, staging, manifest = staged
    store = S3Store(s3_client, f"custody-{uuid.uuid4().hex[:8]}", "backups")
    store.ensure_bucket()
    summary = create_snapshot([store], staging, manifest, None, keyring)
    assert summary["stores"][0]["location"].startswith("s3://")
    key = "snapshots/crm/r1.json"
    assert verify_snapshot(store, key, keyring).checked == 2
    # Integrity proven by reading back and hashing, independent of the server's checksum support.
    victim = manifest.tables[0].chunks[0]
    body = s3_client.get_object(Bucket=store.bucket, Key=f"backups/{object_key(victim.sha256)}")[
        "Body"
    ].read()
    assert hashlib.sha256(body).hexdigest() == victim.sha256
    flipped = bytearray(body)
    flipped[-5] ^= 0x80
    s3_client.put_object(Bucket=store.bucket, Key=f"backups/{object_key(victim.sha256)}", Body=bytes(flipped))
    with pytest.raises(SnapshotError, match="chunk-00000"):
        verify_snapshot(store, key, keyring)


class _SlowStore(LocalStore):
    """A local store whose object writes take a while and record how many overlap."""

    def __init__(self, root, fail_key: str | None = None, together: int = 0, gate=None) -> None:
        super().__init__(root)
        import threading

        self.fail_key, self.in_flight, self.most = fail_key, 0, 0
        self._lock = threading.Lock()
        # ``together`` writes must be under way at once before any goes on (else BrokenBarrierError)
        self._barrier = threading.Barrier(together, timeout=10) if together else None
        self._gate = gate  # an Event every write waits for

    def put_file(self, key, path, *, sha256=None):
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            if self._barrier is not None:
                self._barrier.wait()
            if self._gate is not None:
                assert self._gate.wait(10)
            if key == self.fail_key:
                raise StoreError(f"{self.location}: cannot write {key}: injected")
            super().put_file(key, path, sha256=sha256)
        finally:
            with self._lock:
                self.in_flight -= 1


def test_stores_and_objects_are_copied_in_parallel_with_ordered_progress(staged, tmp_path):
    from custody.store.snapshots import OBJECT_THREADS

    keyring, staging, manifest = staged
    first, second = _SlowStore(tmp_path / "one", together=2), _SlowStore(tmp_path / "two", together=2)
    seen: list[tuple[int, int]] = []
    summary = create_snapshot([first, second], staging, manifest, None, keyring,
                              on_object=lambda done, total: seen.append((done, total)))
    assert [s["location"] for s in summary["stores"]] == [first.location, second.location]
    assert [s["uploaded"] for s in summary["stores"]] == [2, 2]
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert 2 == first.most == second.most <= OBJECT_THREADS  # both chunks of a store at once
    for store in (first, second):
        key = latest_snapshot(store, keyring, "crm")
        assert verify_snapshot(store, key, keyring).checked == 2


def test_a_failing_store_fails_the_snapshot_and_no_store_gets_a_snapshot_document(staged, tmp_path):
    """Documents are written only once every object of every store read back right: a rerun that
    fails in one store must not replace the document another store holds (the audit log recorded it)."""
    keyring, staging, manifest = staged
    victim = object_key(manifest.tables[0].chunks[1].sha256)
    good, bad = _SlowStore(tmp_path / "good"), _SlowStore(tmp_path / "bad", fail_key=victim)
    with pytest.raises(StoreError, match="injected"):
        create_snapshot([bad, good], staging, manifest, None, keyring)
    assert list_snapshots(bad) == [] and list_snapshots(good) == []

    # a store that already holds the run's snapshot keeps that very document
    first = create_snapshot([good], staging, manifest, None, keyring)
    doc = good.get_bytes(first["snapshot_key"])
    with pytest.raises(StoreError, match="injected"):
        create_snapshot([good, bad], staging, manifest, None, keyring)
    assert good.get_bytes(first["snapshot_key"]) == doc


def test_a_store_held_by_a_prune_refuses_before_anything_is_copied(staged, tmp_path):
    from custody.store import StoreLockedError, store_lock

    keyring, staging, manifest = staged
    free, held = _SlowStore(tmp_path / "free"), _SlowStore(tmp_path / "held")
    with store_lock(held, "prune"), pytest.raises(StoreLockedError):
        create_snapshot([free, held], staging, manifest, None, keyring)
    assert free.most == 0 and held.most == 0  # no object was written to either
    assert not [k for k in free.list_keys("objects/")]


def test_an_interrupted_backup_stops_copying_and_writes_no_document(staged, tmp_path):
    """A task's timeout or SIGTERM arrives as an exception in the main thread: no object starts
    after it, the copies under way finish before it propagates, no snapshot document is written."""
    import signal
    import threading

    class Timeout(Exception):
        pass

    gate = threading.Event()  # the copies are held until the interruption

    def alarm(signum, frame):
        gate.set()
        raise Timeout

    keyring, staging, manifest = staged
    stores = [_SlowStore(tmp_path / "one", gate=gate), _SlowStore(tmp_path / "two", gate=gate)]
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        with pytest.raises(Timeout):
            create_snapshot(stores, staging, manifest, None, keyring)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert [t.name for t in threading.enumerate() if t.name.startswith("custody-backup")] == []
    assert all(s.in_flight == 0 for s in stores)
    assert list_snapshots(stores[0]) == [] and list_snapshots(stores[1]) == []


def test_the_failure_raised_is_the_worst_one():
    from custody.store import StoreLockedError
    from custody.store.snapshots import _worst

    busy, broken, bad = StoreLockedError("busy"), StoreError("disk full"), SnapshotError("read back wrong")
    assert _worst([busy, broken, bad]) is bad
    assert _worst([busy, broken]) is broken
    assert _worst([busy]) is busy
    other = OSError("socket")
    assert _worst([busy, other]) is other


def test_a_failing_progress_callback_fails_the_backup(staged, tmp_path):
    keyring, staging, manifest = staged
    store = _SlowStore(tmp_path / "one")

    def bar(done, total):
        raise RuntimeError("progress bar gone")

    with pytest.raises(RuntimeError, match="progress bar gone"):
        create_snapshot([store], staging, manifest, None, keyring, on_object=bar)
    assert list_snapshots(store) == []


class _DocFailStore(LocalStore):
    """A local store that refuses to write snapshot documents."""

    def put_bytes(self, key, data):
        if key.startswith("snapshots/"):
            raise StoreError(f"{self.location}: cannot write {key}: injected")
        super().put_bytes(key, data)


def test_documents_are_all_or_none_across_stores(staged, tmp_path, monkeypatch):
    """The second store refusing the document: the first gets back what it held (nothing, or the
    document of an earlier backup of the run, byte for byte)."""
    keyring, staging, manifest = staged
    first, refusing = LocalStore(tmp_path / "first"), _DocFailStore(tmp_path / "refusing")
    with pytest.raises(StoreError, match="injected"):
        create_snapshot([first, refusing], staging, manifest, None, keyring)
    assert list_snapshots(first) == []

    earlier = create_snapshot([first], staging, manifest, None, keyring)
    held = first.get_bytes(earlier["snapshot_key"])

    import datetime as dt

    from custody.store import snapshots

    class Later(dt.datetime):  # a rerun a day later: its document differs (created_at)
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(days=1)

    monkeypatch.setattr(snapshots, "datetime", Later)
    with pytest.raises(StoreError, match="injected"):
        create_snapshot([first, refusing], staging, manifest, None, keyring)
    assert first.get_bytes(earlier["snapshot_key"]) == held
    assert verify_snapshot(first, earlier["snapshot_key"], keyring).checked == 2
