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
    check_source,
    console,
    out,
    progress_bar,
    validation_message,
)
from custody.cli.render import number, print_rows


class Format(str, Enum):
    parquet = "parquet"
    csv = "csv"


@app.command()
def snapshots(store: StoreOpt = StoreKind.local, source: str | None = None, endpoint_url: EndpointOpt = None) -> None:
    """List snapshots with their creation time, tables, rows, objects and size."""
    from custody.store import SnapshotError, StoreError, list_snapshots, load_snapshot

    settings, keyring, st = _open(store, endpoint_url)
    check_source(settings, st, source)
    try:
        docs = [load_snapshot(st, key, keyring) for key in list_snapshots(st, source)]
    except (SnapshotError, StoreError) as exc:
        console.print(f"[red]FAILED[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    # Snapshot ids are arguments of verify/restore and counts are figures: neither is ever cut;
    # on a narrow terminal each snapshot becomes a block (custody.cli.render).
    rows = [[doc.snapshot_id, doc.created_at[:16].replace("T", " "), number(len(doc.manifest.tables)),
             number(sum(t.extracted_rows for t in doc.manifest.tables)), number(len(doc.objects)),
             _size(sum(o.bytes for o in doc.objects))] for doc in docs]
    if not rows:
        out.print(f"no snapshots in {st.location}" + (f" for {source}" if source else ""), soft_wrap=True)
        return
    print_rows(out, ["snapshot", "created (UTC)", "tables", "rows", "objects", "size"], rows,
               numeric=("tables", "rows", "objects", "size"), title=f"{len(rows)} snapshot(s) in {st.location}")


def _size(n: int) -> str:
    """Bytes in binary units, one decimal (``1.5 MiB``)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


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
    check_source(settings, st, source)
    recorded = _recorded(settings, st, source)
    subject = {"store": st.location, "source": source}
    try:
        if all_snapshots:
            with progress_bar(f"verifying {st.location}") as bar:
                rep = verify_store(st, keyring, source=source, sample=sample, seed=seed, deep=not shallow,
                                   recorded=recorded, on_object=bar)
            _audit(settings, "verify", subject={**subject, "snapshot": "*"},
                   counts={"snapshots": rep.snapshots, "objects": rep.checked, "bytes": rep.bytes_read})
            out.print(f"[green]OK[/green] {st.location}: {rep.checked} objects, {rep.bytes_read} bytes verified",
                      soft_wrap=True)
            return
        key = _resolve(st, keyring, snapshot, source, recorded)
        with progress_bar(f"verifying {key.removeprefix('snapshots/').removesuffix('.json')}") as bar:
            rep = verify_snapshot(st, key, keyring, deep=not shallow, sample=sample, seed=seed, recorded=recorded,
                                  on_object=bar)
        _audit(settings, "verify", subject={**subject, "snapshot": key},
               counts={"objects": rep.checked, "bytes": rep.bytes_read})
        out.print(f"[green]OK[/green] {st.location}/{key}: {rep.checked} objects, {rep.bytes_read} bytes verified",
                  soft_wrap=True)
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
    replace: Annotated[bool, typer.Option(
        help="Write into a folder that is not empty, replacing files (or, with --to-db, tables) that exist.")] = False,
    store: StoreOpt = StoreKind.local,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Decrypt a snapshot to Parquet/CSV files or into a SQL database, checking every chunk and the totals.

    Restored data holds personal information in clear: write it only where that is allowed.
    Rows of data subjects in the deletion ledger (``custody dsr``) are left out and counted.
    A file restore refuses an --out folder that already holds files unless --replace is given.
    """
    from custody.crypto.envelope import IntegrityError
    from custody.crypto.keyring import KeyringError
    from custody.restore import RestoreError, parse_keys, restore_snapshot, restore_to_sql
    from custody.store import SnapshotError, StoreError, check_recorded, load_snapshot

    settings, keyring, st = _open(store, endpoint_url)
    check_source(settings, st, source)
    action = "restore.database" if to_db else "restore.files"
    snap = snapshot or "latest"
    folder = out_dir or settings.restore_dir
    try:
        if not to_db and not replace and _holds_files(folder):
            raise RestoreError(f"{folder} is not empty; pass --replace to restore into it (files of the same "
                               "tables are replaced) or choose an empty folder")
        keys = parse_keys(key) if key else None
        recorded = _recorded(settings, st, source)
        snap = _resolve(st, keyring, snapshot, source, recorded)
        replaced = check_recorded(st, [r for r in recorded if r.key == snap])
        if replaced:  # an older sealed document written back would restore old data
            raise SnapshotError(f"{st.location}: snapshot {snap} is {replaced[0][1]}", replaced)
        doc = load_snapshot(st, snap, keyring)
        total = sum(t.extracted_rows for t in doc.manifest.tables if not table or t.table in table)
        with progress_bar(f"restoring {doc.snapshot_id}", total, unit="rows") as bar:
            advance = bar.advance
            if to_db:
                engine = sa.create_engine(to_db, hide_parameters=True)
                try:
                    result = restore_to_sql(st, snap, keyring, engine, schema=db_schema, tables=table, keys=keys,
                                            if_exists="replace" if replace else "fail", on_chunk=advance)
                finally:
                    engine.dispose()
            else:
                result = restore_snapshot(st, snap, keyring, folder, fmt=fmt.value,
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
        line = f"{name}: {number(info['rows'])} rows -> {where}"
        if "content_hash" in info:
            line += f" (content hash {info['content_hash'][:16]}…)"
        if "keys_requested" in info:
            line += f"; {info['keys_found']} of {info['keys_requested']} requested keys found"
        if info.get("erased_rows"):
            line += f"; {info['erased_rows']} rows of erased data subjects left out (deletion ledger)"
        out.print(line, soft_wrap=True)


def _holds_files(folder: Path) -> bool:
    """Whether ``folder`` (absent is empty) holds a file or link at any depth; empty sub-folders
    (left by a failed restore) do not count."""
    return folder.exists() and any(not p.is_dir() or p.is_symlink() for p in Path(folder).rglob("*"))


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
    check_source(settings, st, source)
    planned = []

    def on_plan(plan) -> None:
        planned.append(plan)
        _print_plan(plan, dry_run)

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
        if isinstance(exc, ValidationError):
            console.print(f"[red]error[/red]: {validation_message(exc)}", soft_wrap=True)
            raise typer.Exit(2) from None
        console.print(f"[red]forget failed[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    if not dry_run:
        summary = result.summary()
        _audit(settings, "forget", subject={"store": st.location, "source": source, "plan_id": result.plan.plan_id},
               refs=[d.snapshot_key for d in result.plan.forget], policy_version=None,
               counts={"kept": summary["kept"], "forgotten": summary["forgotten"],
                       **{k: v for k, v in summary.items() if k.startswith("objects_") and isinstance(v, int)}})
    summary = result.summary()
    if dry_run:
        out.print(f"dry run: would forget {len(result.plan.forget)} of {len(result.plan.decisions)} snapshot(s) "
                  f"and delete {number(summary['objects_unreferenced'])} unreferenced object(s); nothing was "
                  "recorded or deleted", soft_wrap=True)
    else:
        out.print(f"forgot {number(summary['forgotten'])} snapshot(s), kept {number(summary['kept'])}, deleted "
                  f"{number(summary['objects_deleted'])} unreferenced object(s); plan recorded as "
                  f"{summary['plan_key']}", soft_wrap=True)


def _print_plan(plan, dry_run: bool) -> None:
    """The retention plan as a table: what is kept (and by which rule) and what is forgotten."""
    head = "retention plan" + (" (dry run)" if dry_run else f" {plan.plan_id}")
    out.print(f"{head} for {plan.location}: keep {len(plan.keep)}, forget {len(plan.forget)}", soft_wrap=True)
    rows = [[d.snapshot_id, d.action, d.created_at[:16].replace("T", " "), ", ".join(d.reasons) or "-"]
            for d in plan.decisions]
    if rows:
        print_rows(out, ["snapshot", "action", "created (UTC)", "kept by"], rows, wrap=("kept by",))


@app.command()
def backup(
    source: Annotated[str, typer.Argument(help="Source of the staged run.")],
    run_key: Annotated[str, typer.Argument(help="Run key of the staged run (see CUSTODY_HOME/staging/<source>).")],
    s3: Annotated[bool, typer.Option("--s3", help="Also back up to the S3 store (CUSTODY_S3_BUCKET).")] = False,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Back up a staged run (the pipeline's back_up stage): copy its encrypted objects and documents
    to the local store (and S3), read each copy back, then seal the snapshot.

    For a run whose back_up task failed, or a store added later; idempotent (objects already
    stored are reused once they read back to their hash).
    """
    from custody.documents import DocumentError
    from custody.stages import Runtime, stage_backup
    from custody.store import StoreError
    from custody.store.backends import S3StoreOptions, make_s3_client

    rt = Runtime.from_env()
    check_source(rt.settings, _store(rt.settings, StoreKind.local, None), source)
    client = None
    if s3:
        client = make_s3_client(S3StoreOptions(bucket=rt.settings.s3_bucket, prefix=rt.settings.s3_prefix,
                                               endpoint_url=endpoint_url))
    try:
        with progress_bar(f"backing up {source}/{run_key}") as bar:
            result = stage_backup(rt, source, run_key, client, on_object=bar)
    except (StoreError, DocumentError, FileNotFoundError) as exc:
        console.print(f"[red]backup failed[/red]: {type(exc).__name__}: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"[green]OK[/green] {result['snapshot_key']} in {', '.join(result['stores'])}", soft_wrap=True)


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
