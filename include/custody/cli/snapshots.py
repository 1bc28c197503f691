"""Snapshot commands: list, verify, restore, forget (retention) and S3 upload clean-up.

Stores: ``--store local`` (default, ``CUSTODY_HOME/backups``) or ``--store s3`` (bucket
``CUSTODY_S3_BUCKET``, prefix ``CUSTODY_S3_PREFIX``; endpoint from ``--endpoint-url`` or
``AWS_ENDPOINT_URL``, credentials from the usual AWS variables).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from custody.cli.app import app
from custody.cli.common import (
    EndpointOpt,
    StoreKind,
    StoreOpt,
    _audit,
    _open,
    _recorded,
    _resolve,
    _store,
    console,
    out,
)


class Format(str, Enum):
    parquet = "parquet"
    csv = "csv"


@app.command()
def snapshots(store: StoreOpt = StoreKind.local, source: str | None = None, endpoint_url: EndpointOpt = None) -> None:
    """List snapshots with their creation time, tables and rows."""
    from custody.store import SnapshotError, StoreError, list_snapshots, load_snapshot

    _, keyring, st = _open(store, endpoint_url)
    try:
        docs = [load_snapshot(st, key, keyring) for key in list_snapshots(st, source)]
    except (SnapshotError, StoreError) as exc:
        console.print(f"[red]FAILED[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    # Snapshot ids are arguments of verify/restore: never cut or folded, whatever the width.
    widest = max((len(d.snapshot_id) for d in docs), default=8)
    table = Table(Column("snapshot", no_wrap=True, min_width=widest), "created (UTC)", "tables", "rows", "objects")
    for doc in docs:
        tables = doc.manifest.tables
        table.add_row(doc.snapshot_id, doc.created_at[:19].replace("T", " "), str(len(tables)),
                      str(sum(t.extracted_rows for t in tables)), str(len(doc.objects)))
    out.print(table)


@app.command()
def verify(
    snapshot: Annotated[str | None, typer.Argument(help="Snapshot id (<source>/<run_key>) or 'latest'.")] = None,
    source: str | None = None,
    store: StoreOpt = StoreKind.local,
    all_snapshots: Annotated[bool, typer.Option("--all", help="Verify every snapshot in the store.")] = False,
    shallow: Annotated[bool, typer.Option(help="Hash only; skip decrypting (authenticating) each object.")] = False,
    sample: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of objects to read back (1.0: all).")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the sample, to repeat a sampled verify.")] = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Read back objects of a snapshot: SHA-256 against the manifest, then authenticated decryption.

    --all checks every snapshot's seal and each distinct object once; --sample 0.1 reads
    back a seeded random tenth of the objects (a cheap daily check between full verifications).
    Snapshots the audit log records for this store must be present with the bytes backed up: a
    missing or replaced snapshot document is named and fails the check.
    """
    from custody.store import SnapshotError, verify_snapshot
    from custody.store.snapshots import verify_store

    settings, keyring, st = _open(store, endpoint_url)
    recorded = _recorded(settings, st, source)
    subject = {"store": st.location, "source": source}
    try:
        if all_snapshots:
            rep = verify_store(st, keyring, source=source, sample=sample, seed=seed, deep=not shallow,
                               recorded=recorded)
            _audit(settings, "verify", subject={**subject, "snapshot": "*"},
                   counts={"snapshots": rep.snapshots, "objects": rep.checked, "bytes": rep.bytes_read})
            out.print(f"[green]OK[/green] {st.location}: {rep.checked} objects, {rep.bytes_read} bytes verified")
            return
        key = _resolve(st, keyring, snapshot, source, recorded)
        rep = verify_snapshot(st, key, keyring, deep=not shallow, sample=sample, seed=seed, recorded=recorded)
        _audit(settings, "verify", subject={**subject, "snapshot": key},
               counts={"objects": rep.checked, "bytes": rep.bytes_read})
        out.print(f"[green]OK[/green] {st.location}/{key}: {rep.checked} objects, {rep.bytes_read} bytes verified")
    except SnapshotError as exc:
        _audit(settings, "verify", subject={**subject, "snapshot": snapshot or "*"}, outcome="failure",
               reason="SnapshotError", counts={"failures": len(exc.failures)},
               refs=[oid for oid, _ in exc.failures[:100]])
        # One line per failure, never folded: snapshot keys and object ids are arguments to act on.
        console.print(f"[red]FAILED[/red] {exc}", soft_wrap=True)
        for oid, reason in exc.failures[1:]:
            console.print(f"  {oid}: {reason}", soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def restore(
    snapshot: Annotated[str | None, typer.Argument(help="Snapshot id (<source>/<run_key>) or 'latest'.")] = None,
    source: str | None = None,
    table: Annotated[list[str] | None, typer.Option(help="Restore only this table (repeatable).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output file format.")] = Format.parquet,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default CUSTODY_HOME/restored).")] = None,
    key: Annotated[list[str] | None, typer.Option(
        "--key",
        help="Only the rows of this customer key: <table>=<value>[,<value> for composite keys] (repeatable).")] = None,
    to_db: Annotated[str | None, typer.Option(
        "--to-db", help="Restore into this SQL database (SQLAlchemy URL) instead of files.",
        envvar="CUSTODY_RESTORE_DB")] = None,
    db_schema: Annotated[str | None, typer.Option("--schema", help="Target schema for --to-db.")] = None,
    replace: Annotated[bool, typer.Option(help="Replace tables (--to-db) or files that exist.")] = False,
    store: StoreOpt = StoreKind.local,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Decrypt a snapshot to Parquet/CSV files or into a SQL database, checking every chunk and the totals.

    Restored data holds personal information in clear: write it only where that is allowed.
    Rows of data subjects in the deletion ledger (``custody dsr``) are left out and counted.
    """
    from custody.crypto.envelope import IntegrityError
    from custody.crypto.keyring import KeyringError
    from custody.restore import RestoreError, parse_keys, restore_snapshot, restore_to_sql
    from custody.store import SnapshotError, StoreError, check_recorded, load_snapshot

    settings, keyring, st = _open(store, endpoint_url)
    action = "restore.database" if to_db else "restore.files"
    snap = snapshot or "latest"
    try:
        keys = parse_keys(key) if key else None
        recorded = _recorded(settings, st, source)
        snap = _resolve(st, keyring, snapshot, source, recorded)
        replaced = check_recorded(st, [r for r in recorded if r.key == snap])
        if replaced:  # an older sealed document written back would restore old data
            raise SnapshotError(f"{st.location}: snapshot {snap} is {replaced[0][1]}", replaced)
        doc = load_snapshot(st, snap, keyring)
        total = sum(t.extracted_rows for t in doc.manifest.tables if not table or t.table in table)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            bar = progress.add_task(f"restoring {doc.snapshot_id}", total=total)

            def advance(n: int) -> None:
                progress.advance(bar, n)

            if to_db:
                engine = sa.create_engine(to_db, hide_parameters=True)
                try:
                    result = restore_to_sql(st, snap, keyring, engine, schema=db_schema, tables=table, keys=keys,
                                            if_exists="replace" if replace else "fail", on_chunk=advance)
                finally:
                    engine.dispose()
            else:
                result = restore_snapshot(st, snap, keyring, out_dir or settings.restore_dir, fmt=fmt.value,
                                          tables=table, keys=keys, on_chunk=advance, replace=replace)
    except (SnapshotError, StoreError, IntegrityError, KeyringError, RestoreError) as exc:
        _audit(settings, action, subject={"store": st.location, "snapshot": snap}, outcome="failure",
               reason=type(exc).__name__)
        console.print(f"[red]restore failed[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    # Where the data went is named by kind (a database URL can hold a password; never logged).
    target = sa.make_url(to_db).get_backend_name() if to_db else "files"
    _audit(settings, action, subject={"source": doc.source, "run_key": doc.run_key, "store": st.location,
                                      "snapshot": snap, "target": target},
           counts={"tables": len(result), "rows": sum(int(i.get("rows", 0)) for i in result.values()),
                   "keys_requested": sum(int(i.get("keys_requested", 0)) for i in result.values()),
                   "erased_rows": sum(int(i.get("erased_rows", 0)) for i in result.values())},
           details={"format": None if to_db else fmt.value, "replace": replace})
    for name, info in result.items():
        where = info.get("path") or info.get("table") or to_db
        line = f"{name}: {info['rows']} rows -> {where}"
        if "content_hash" in info:
            line += f" (content hash {info['content_hash'][:16]}…)"
        if "keys_requested" in info:
            line += f"; {info['keys_found']} of {info['keys_requested']} requested keys found"
        if info.get("erased_rows"):
            line += f"; {info['erased_rows']} rows of erased data subjects left out (deletion ledger)"
        out.print(line)


@app.command()
def forget(
    source: Annotated[str | None, typer.Option(help="Apply to one source only.")] = None,
    keep_last: Annotated[int, typer.Option(min=0)] = 0,
    keep_daily: Annotated[int, typer.Option(min=0)] = 0,
    keep_weekly: Annotated[int, typer.Option(min=0)] = 0,
    keep_monthly: Annotated[int, typer.Option(min=0)] = 0,
    keep_yearly: Annotated[int, typer.Option(min=0)] = 0,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; record and delete nothing.")] = False,
    store: StoreOpt = StoreKind.local,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Apply a snapshot retention policy: print and record the plan, then forget and prune.

    Nothing referenced by a kept snapshot is deleted. Under Object Lock, S3 keeps locked versions
    until their retain-until date whatever this command does.
    """
    from pydantic import ValidationError

    from custody.catalog import Catalog
    from custody.store import SnapshotError, StoreError
    from custody.store.retention import RetentionError, RetentionPolicy, apply_retention

    settings, keyring, st = _open(store, endpoint_url)
    planned = []

    def on_plan(plan) -> None:
        planned.append(plan)
        out.print(plan.render())

    try:
        policy = RetentionPolicy(keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly,
                                 keep_monthly=keep_monthly, keep_yearly=keep_yearly)
        result = apply_retention(st, keyring, policy, source=source, dry_run=dry_run,
                                 catalog_engine=None if dry_run else Catalog(settings.catalog_url).engine,
                                 on_plan=on_plan)
    except (ValidationError, RetentionError, StoreError, SnapshotError) as exc:
        if planned and not dry_run:  # the plan authorised these deletions, some may have happened
            _audit(settings, "forget", subject={"store": st.location, "source": source,
                                                "plan_id": planned[0].plan_id},
                   outcome="failure", reason=type(exc).__name__, refs=[d.snapshot_key for d in planned[0].forget])
        console.print(f"[red]forget failed[/red]: {exc}")
        raise typer.Exit(1) from None
    if not dry_run:
        summary = result.summary()
        _audit(settings, "forget", subject={"store": st.location, "source": source, "plan_id": result.plan.plan_id},
               refs=[d.snapshot_key for d in result.plan.forget], policy_version=None,
               counts={"kept": summary["kept"], "forgotten": summary["forgotten"],
                       **{k: v for k, v in summary.items() if k.startswith("objects_") and isinstance(v, int)}})
    out.print(result.summary())


@app.command("cleanup-uploads")
def cleanup_uploads(
    older_than: Annotated[
        int, typer.Option(help="Abort incomplete multipart uploads older than this (seconds).")] = 86400,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Abort stale incomplete multipart uploads in the S3 store (orphaned parts cost storage)."""
    from custody.settings import Settings

    st = _store(Settings.from_env(), StoreKind.s3, endpoint_url)  # no key needed to abort uploads
    out.print(f"aborted {st.abort_uploads(older_than_s=older_than)} stale upload(s) in {st.location}")
