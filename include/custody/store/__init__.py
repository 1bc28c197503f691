"""Snapshot stores: local disk and S3 (any S3-compatible endpoint), retention and verification.

- ``backends``: ``LocalStore`` and ``S3Store`` (atomic writes, retries, Object Lock);
- ``snapshots``: create, list, load and verify snapshots;
- ``locks``: backup / prune locks with owner liveness and a heartbeat;
- ``retention``: keep rules, recorded plans, forget and prune;
- ``ledger``: retention plans and restore drills in the catalog.
"""

from custody.store.backends import (
    LocalStore,
    ObjectStore,
    S3Store,
    S3StoreOptions,
    StoreError,
    make_s3_client,
    read_back,
)
from custody.store.retention import (
    RetentionError,
    RetentionPlan,
    RetentionPolicy,
    RetentionResult,
    apply_retention,
    plan_retention,
    prune,
)
from custody.store.locks import StoreLockedError, store_lock
from custody.store.snapshots import (
    RecordedSnapshot,
    SnapshotError,
    VerifyReport,
    create_snapshot,
    latest_snapshot,
    list_snapshots,
    load_snapshot,
    object_key,
    snapshot_key,
    verify_snapshot,
    verify_store,
    check_recorded,
)

__all__ = [
    "LocalStore",
    "ObjectStore",
    "RetentionError",
    "RetentionPlan",
    "RetentionPolicy",
    "RetentionResult",
    "RecordedSnapshot",
    "S3Store",
    "S3StoreOptions",
    "SnapshotError",
    "StoreError",
    "StoreLockedError",
    "VerifyReport",
    "apply_retention",
    "check_recorded",
    "create_snapshot",
    "latest_snapshot",
    "list_snapshots",
    "load_snapshot",
    "make_s3_client",
    "object_key",
    "plan_retention",
    "prune",
    "read_back",
    "snapshot_key",
    "store_lock",
    "verify_snapshot",
    "verify_store",
]
