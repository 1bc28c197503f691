"""Snapshot stores: local disk and S3 (any S3-compatible endpoint)."""

from custody.store.backends import LocalStore, ObjectStore, S3Store, StoreError
from custody.store.snapshots import (
    SnapshotError,
    VerifyReport,
    create_snapshot,
    latest_snapshot,
    list_snapshots,
    load_snapshot,
    verify_snapshot,
)

__all__ = [
    "LocalStore",
    "ObjectStore",
    "S3Store",
    "SnapshotError",
    "StoreError",
    "VerifyReport",
    "create_snapshot",
    "latest_snapshot",
    "list_snapshots",
    "load_snapshot",
    "verify_snapshot",
]
