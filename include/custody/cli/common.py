"""What every command shares: the consoles, the store options, and opening a store with its keyring."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)
out = Console()


class StoreKind(str, Enum):
    local = "local"
    s3 = "s3"


StoreOpt = Annotated[StoreKind, typer.Option(help="Snapshot store to read from.")]
EndpointOpt = Annotated[
    str | None, typer.Option(help="S3 endpoint URL (S3-compatible stores).", envvar="AWS_ENDPOINT_URL")]


def _open(store: StoreKind, endpoint_url: str | None):
    from custody.crypto.open import open_keyring
    from custody.settings import Settings

    settings = Settings.from_env()
    # A missing key-encryption key is refused here (KeyMissingError), never replaced.
    keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
    return settings, keyring, _store(settings, store, endpoint_url)


def _store(settings, store: StoreKind, endpoint_url: str | None):
    from custody.store import LocalStore, S3Store
    from custody.store.backends import S3StoreOptions, make_s3_client

    if store is StoreKind.local:
        return LocalStore(settings.backup_dir)
    options = S3StoreOptions(bucket=settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=endpoint_url)
    return S3Store(make_s3_client(options), options=options)


def _resolve(store_obj, keyring, snapshot: str | None, source: str | None, recorded=None) -> str:
    """The snapshot key named on the command line; ``latest`` refuses to fall back past a recorded
    snapshot that is missing or replaced (``recorded``: the audit log's record, see ``_recorded``)."""
    from custody.store import latest_snapshot

    if snapshot in (None, "latest"):
        return latest_snapshot(store_obj, keyring, source, recorded=recorded)
    return snapshot if snapshot.startswith("snapshots/") else f"snapshots/{snapshot}.json"


def _recorded(settings, store_obj, source: str | None = None) -> list:
    """The snapshots the audit log says must exist in ``store_obj`` (``custody.audit.snapshots``)."""
    from custody.audit.log import AuditLog
    from custody.audit.snapshots import recorded_snapshots

    with AuditLog(settings.catalog_url) as log:
        return recorded_snapshots(log, store_obj.location, source)


def _audit(settings, action: str, **fields) -> None:
    """Append one entry to the audit log as ``user@host`` (``custody.audit.log.AuditLog.append``)."""
    from custody.audit.log import AuditLog

    with AuditLog(settings.catalog_url) as log:
        log.append(action, **fields)
