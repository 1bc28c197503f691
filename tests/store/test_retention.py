"""Retention: restic-style keep rules, plan recorded before deletion, prune keeps referenced objects."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from custody.catalog import Catalog
from custody.documents import RunManifest
from custody.store import (
    LocalStore,
    RetentionError,
    RetentionPolicy,
    S3Store,
    S3StoreOptions,
    StoreLockedError,
    apply_retention,
    create_snapshot,
    store_lock,
    verify_snapshot,
    verify_store,
)
from custody.store import snapshots as snapshots_mod
from custody.store.ledger import retention_decisions, retention_plan
from custody.store.retention import decide
from store._runs import setup, stage_run


def _snap(t: datetime, i: int, source: str = "crm") -> tuple[str, str, str, str]:
    return (f"snapshots/{source}/r{i:03d}.json", f"{source}/r{i:03d}", source, t.isoformat())


def test_rules_follow_restic_forget_semantics():
    t0 = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
    snaps = [_snap(t0 - timedelta(hours=12 * i), i) for i in range(120)]  # two a day for 60 days
    out = {
        d.snapshot_id: d
        for d in decide(
            snaps, RetentionPolicy(keep_last=3, keep_daily=7, keep_weekly=4, keep_monthly=3, keep_yearly=2)
        )
    }
    kept = [d for d in decide(snaps, RetentionPolicy(keep_daily=7)) if d.action == "keep"]
    # keep_daily=7: the newest snapshot of each of the 7 newest days: 22:00 each day.
    assert [d.snapshot_id for d in kept] == [f"crm/r{2 * i:03d}" for i in range(7)]
    assert out["crm/r000"].reasons == (
        "last",
        "daily 2026-03-31",
        "weekly 2026-W14",
        "monthly 2026-03",
        "yearly 2026",
    )
    assert out["crm/r001"].reasons == ("last",) and out["crm/r002"].reasons == ("last", "daily 2026-03-30")
    assert out["crm/r003"].action == "forget"
    # Months: the newest of March (r000), February (28 Feb 22:00) and January (31 Jan 22:00).
    months = sorted(d.created_at[:7] for d in out.values() if any(r.startswith("monthly") for r in d.reasons))
    assert months == ["2026-01", "2026-02", "2026-03"]
    # Sources are judged separately.
    both = decide(snaps[:3] + [_snap(t0, 0, "hr")], RetentionPolicy(keep_last=1))
    assert [(d.source, d.action) for d in both] == [
        ("crm", "keep"),
        ("crm", "forget"),
        ("crm", "forget"),
        ("hr", "keep"),
    ]


def test_an_empty_policy_is_refused():
    with pytest.raises(ValueError, match="at least one keep"):
        RetentionPolicy()


class Recorder(LocalStore):
    """A local store that logs writes and deletes in order."""

    def __init__(self, root):
        super().__init__(root)
        self.ops: list[tuple[str, str]] = []

    def put_bytes(self, key, data):
        self.ops.append(("put", key))
        super().put_bytes(key, data)

    def delete(self, key):
        self.ops.append(("delete", key))
        super().delete(key)


def _at(monkeypatch, when: datetime):
    class Fixed(datetime):
        @classmethod
        def now(cls, tz=None):
            return when

    monkeypatch.setattr(snapshots_mod, "datetime", Fixed)


def _runs(tmp_path, monkeypatch, store, n=5):
    """``n`` daily snapshots; every run references r0's first chunk (content addressing shares the
    object between snapshots) plus one chunk of its own."""
    keyring, staging = setup(tmp_path)
    manifests = []
    for i in range(n):
        m = stage_run(staging, run_key=f"r{i}", tables={"contacts": [10, 5]}, offset=100 * i)
        if manifests:
            tm = m.tables[0]
            shared = manifests[-1].tables[0].chunks[0]
            m = RunManifest.model_validate(
                {
                    **m.model_dump(),
                    "tables": [
                        tm.model_copy(
                            update={
                                "chunks": [shared, tm.chunks[1]],
                                "source_rows": 15,
                                "extracted_rows": 15,
                                "content_hash": _hash(shared, tm.chunks[1]),
                            }
                        )
                    ],
                }
            )
        _at(monkeypatch, datetime(2026, 5, 1 + i, 23, 0, tzinfo=UTC))
        create_snapshot([store], staging, m, None, keyring)
        manifests.append(m)
    monkeypatch.undo()
    return keyring, manifests


def _hash(*entries) -> str:
    from custody import hashing

    return hashing.to_hex(hashing.combine(*(int(e.content_hash, 16) for e in entries)))


def test_plan_is_recorded_before_deletion_and_kept_objects_survive(tmp_path, monkeypatch, catalog_url):
    store = Recorder(tmp_path / "backups")
    keyring, manifests = _runs(tmp_path, monkeypatch, store)
    catalog = Catalog(catalog_url)
    store.ops.clear()
    printed = []
    result = apply_retention(
        store,
        keyring,
        RetentionPolicy(keep_last=2),
        catalog_engine=catalog.engine,
        on_plan=lambda p: printed.append((p.render(), list(store.ops))),
    )
    assert [d.snapshot_id for d in result.plan.keep] == ["crm/r4", "crm/r3"]
    assert [d.snapshot_id for d in result.plan.forget] == ["crm/r2", "crm/r1", "crm/r0"]
    # The plan was sealed into the store and shown before the first deletion.
    plan_put = store.ops.index(("put", result.plan_key))
    first_delete = next(
        i for i, (op, k) in enumerate(store.ops) if op == "delete" and not k.startswith("locks/")
    )
    assert (
        plan_put < first_delete
        and printed
        and all(op != "delete" for op, k in printed[0][1] if not k.startswith("locks/"))
    )
    assert "forget crm/r0" in printed[0][0]
    # Nothing a kept snapshot references is gone: r0's first chunk, shared by r3 and r4, stays.
    for key in store.list_keys("snapshots/"):
        assert verify_snapshot(store, key, keyring).ok
    assert verify_store(store, keyring).ok
    assert manifests[3].tables[0].chunks[0] == manifests[0].tables[0].chunks[0]
    assert store.size(snapshots_mod.object_key(manifests[0].tables[0].chunks[0].sha256)) is not None
    for m in manifests[:3]:  # each forgotten run's own chunk: pruned
        assert store.size(snapshots_mod.object_key(m.tables[0].chunks[1].sha256)) is None
    assert result.pruned["deleted"] == 3 and result.forgotten == 3
    # The catalog holds the plan and why each snapshot was kept or forgotten.
    with catalog.engine.connect() as conn:
        row = conn.execute(sa.select(retention_plan)).one()
    assert (row.status, row.kept, row.forgotten, row.objects_deleted) == ("applied", 2, 3, 3)
    assert retention_decisions(catalog.engine, "crm/r0")[0]["action"] == "forget"


def test_dry_run_deletes_nothing(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "backups")
    keyring, _ = _runs(tmp_path, monkeypatch, store, n=3)
    before = store.list_keys("")
    result = apply_retention(store, keyring, RetentionPolicy(keep_last=1), dry_run=True)
    assert (
        len(result.plan.forget) == 2 and result.pruned["deleted"] == 0 and result.pruned["unreferenced"] == 2
    )
    assert store.list_keys("") == before


def test_prune_waits_for_a_running_backup_and_stops_on_an_unreadable_snapshot(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "backups")
    keyring, _ = _runs(tmp_path, monkeypatch, store, n=2)
    with store_lock(store, "backup"):
        with pytest.raises(StoreLockedError, match="prune refused"):
            apply_retention(store, keyring, RetentionPolicy(keep_last=1))
    with store_lock(store, "prune"), pytest.raises(StoreLockedError, match="backup refused"):
        with store_lock(store, "backup"):
            pass
    # A lock left by a killed process 25 h ago no longer blocks.
    store.put_bytes("locks/backup-20000101T000000Z-0123abcd.json", b"{}")
    path = store.root / "snapshots/crm/r0.json"
    path.write_text(path.read_text().replace('"run_key": "r0"', '"run_key": "rX"'))
    before = store.list_keys("objects/")
    with pytest.raises(RetentionError, match="cannot plan retention"):
        apply_retention(store, keyring, RetentionPolicy(keep_last=1))
    assert store.list_keys("objects/") == before


def test_object_lock_keeps_locked_versions_after_prune(tmp_path, monkeypatch, s3_client):
    opts = S3StoreOptions(
        bucket=f"lock-{uuid.uuid4().hex[:10]}", prefix="b", object_lock_mode="GOVERNANCE", object_lock_days=1
    )
    store = S3Store(s3_client, options=opts)
    store.ensure_bucket()
    keyring, manifests = _runs(tmp_path, monkeypatch, store, n=2)
    head = s3_client.head_object(
        Bucket=opts.bucket, Key=f"b/{snapshots_mod.object_key(manifests[1].tables[0].chunks[1].sha256)}"
    )
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
    result = apply_retention(store, keyring, RetentionPolicy(keep_last=1))
    assert result.forgotten == 1 and verify_store(store, keyring).ok
    gone = f"b/{snapshots_mod.object_key(manifests[0].tables[0].chunks[1].sha256)}"
    versions = s3_client.list_object_versions(Bucket=opts.bucket, Prefix=gone)
    assert versions.get("DeleteMarkers") and versions.get("Versions")  # hidden, but locked until retain-until
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="AccessDenied"):
        s3_client.delete_object(Bucket=opts.bucket, Key=gone, VersionId=versions["Versions"][0]["VersionId"])
