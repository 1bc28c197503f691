"""The ``custody`` command line: list, verify and restore snapshots.

Stores: ``--store local`` (default, ``CUSTODY_HOME/backups``) or ``--store s3`` (bucket
``CUSTODY_S3_BUCKET``, prefix ``CUSTODY_S3_PREFIX``; endpoint from ``--endpoint-url`` or
``AWS_ENDPOINT_URL``, credentials from the usual AWS variables). Exit codes: 0 success,
1 verification or restore failure, 2 usage error.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Custody: verify and restore encrypted snapshots.")
console = Console(stderr=True)
out = Console()


class StoreKind(str, Enum):
    local = "local"
    s3 = "s3"


class Format(str, Enum):
    parquet = "parquet"
    csv = "csv"


StoreOpt = Annotated[StoreKind, typer.Option(help="Snapshot store to read from.")]
EndpointOpt = Annotated[str | None, typer.Option(help="S3 endpoint URL (S3-compatible stores).", envvar="AWS_ENDPOINT_URL")]


def _open(store: StoreKind, endpoint_url: str | None):
    from custody.crypto.keyring import open_keyring
    from custody.settings import Settings
    from custody.store import LocalStore, S3Store

    settings = Settings.from_env()
    keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
    if store is StoreKind.local:
        return settings, keyring, LocalStore(settings.backup_dir)
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint_url)
    return settings, keyring, S3Store(client, settings.s3_bucket, settings.s3_prefix)


def _resolve(store_obj, keyring, snapshot: str | None, source: str | None) -> str:
    from custody.store import latest_snapshot

    if snapshot in (None, "latest"):
        return latest_snapshot(store_obj, keyring, source)
    return snapshot if snapshot.startswith("snapshots/") else f"snapshots/{snapshot}.json"


@app.command()
def snapshots(store: StoreOpt = StoreKind.local, source: str | None = None, endpoint_url: EndpointOpt = None) -> None:
    """List snapshots with their creation time, tables and rows."""
    from custody.store import list_snapshots, load_snapshot

    _, keyring, st = _open(store, endpoint_url)
    table = Table("snapshot", "created", "tables", "rows", "objects")
    for key in list_snapshots(st, source):
        doc = load_snapshot(st, key, keyring)
        tables = doc["manifest"]["tables"]
        table.add_row(doc["snapshot_id"], doc["created_at"], str(len(tables)),
                      str(sum(t["extracted_rows"] for t in tables)), str(len(doc["objects"])))
    out.print(table)


@app.command()
def verify(
    snapshot: Annotated[str | None, typer.Argument(help="Snapshot id (<source>/<run_key>) or 'latest'.")] = None,
    source: str | None = None,
    store: StoreOpt = StoreKind.local,
    all_snapshots: Annotated[bool, typer.Option("--all", help="Verify every snapshot in the store.")] = False,
    shallow: Annotated[bool, typer.Option(help="Hash only; skip decrypting (authenticating) each object.")] = False,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Read back every object of a snapshot: SHA-256 against the manifest, then authenticated decryption."""
    from custody.store import SnapshotError, list_snapshots, verify_snapshot

    _, keyring, st = _open(store, endpoint_url)
    try:
        keys = list_snapshots(st, source) if all_snapshots else [_resolve(st, keyring, snapshot, source)]
        for key in keys:
            rep = verify_snapshot(st, key, keyring, deep=not shallow)
            out.print(f"[green]OK[/green] {st.location}/{key}: {rep.checked} objects, {rep.bytes_read} bytes verified")
    except SnapshotError as exc:
        console.print(f"[red]FAILED[/red] {exc}")
        for oid, reason in exc.failures[1:]:
            console.print(f"  {oid}: {reason}")
        raise typer.Exit(1) from None


@app.command()
def restore(
    snapshot: Annotated[str | None, typer.Argument(help="Snapshot id (<source>/<run_key>) or 'latest'.")] = None,
    source: str | None = None,
    table: Annotated[list[str] | None, typer.Option(help="Restore only this table (repeatable).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output file format.")] = Format.parquet,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder (default CUSTODY_HOME/restored).")] = None,
    store: StoreOpt = StoreKind.local,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Decrypt a snapshot to Parquet or CSV files, checking every chunk and each table's totals.

    Restored files hold personal information in clear: write them only where that is allowed.
    """
    from custody.crypto.envelope import IntegrityError
    from custody.crypto.keyring import KeyringError
    from custody.restore import RestoreError, restore_snapshot
    from custody.store import SnapshotError, StoreError, load_snapshot

    settings, keyring, st = _open(store, endpoint_url)
    try:
        key = _resolve(st, keyring, snapshot, source)
        doc = load_snapshot(st, key, keyring)
        total = sum(t["extracted_rows"] for t in doc["manifest"]["tables"] if not table or t["table"] in table)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            bar = progress.add_task(f"restoring {doc['snapshot_id']}", total=total)
            result = restore_snapshot(st, key, keyring, out_dir or settings.restore_dir, fmt=fmt.value,
                                      tables=table, on_chunk=lambda n: progress.advance(bar, n))
    except (SnapshotError, StoreError, IntegrityError, KeyringError, RestoreError) as exc:
        console.print(f"[red]restore failed[/red]: {exc}")
        raise typer.Exit(1) from None
    for name, info in result.items():
        out.print(f"{name}: {info['rows']} rows -> {info['path']} (content hash {info['content_hash'][:16]}…)")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
