"""Restore to Parquet / CSV / XLSX files: all or nothing, into a private folder moved into place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from custody.crypto.keyring import Keyring
from custody.exports import write_tables
from custody.store.backends import ObjectStore
from custody.store.snapshots import load_snapshot
from custody.restore.reading import LEDGER, KeyValues, RestoreError, _empty, _filters, _Scan, _wanted, erasure_for


def restore_snapshot(
    store: ObjectStore,
    snapshot_key: str,
    keyring: Keyring,
    out_dir: Path,
    *,
    fmt: str = "parquet",
    tables: list[str] | None = None,
    keys: dict[str, KeyValues] | None = None,
    on_chunk: Callable[[int], None] | None = None,
    replace: bool = False,
    ledger: Any = LEDGER,
) -> dict[str, Any]:
    """Write the tables of a snapshot to ``out_dir/<source>/<table>.<fmt>`` (``parquet`` or ``csv``).

    ``keys`` (``{table: [primary-key values]}``) restores only those rows of those tables.
    Memory is bounded by one chunk. All or nothing: the files are written into a private
    (0700) temporary folder beside their destination, each only after its table's rows and
    row-content hash match the manifest, and moved into place once every table checked out; a
    failure removes them all. An existing destination file is refused unless ``replace``; a
    second restore into the same folder while one runs is refused (``flock``), and temporary
    folders a killed restore left are removed first.
    ``on_chunk(rows)`` reports progress per chunk read. Rows of subjects in the deletion ledger
    are dropped before anything is written (``ledger``: ``custody.restore.reading.erasure_for``)
    and counted in ``erased_rows``. Returns ``{table: {"rows", "scanned_rows", "erased_rows",
    "path", "content_hash", "verified"[, "keys_requested", "keys_found"]}}``. Raises
    ``RestoreError`` (also for an existing file), ``IntegrityError``, ``WrongKeyError``.
    """
    import os
    import shutil
    import tempfile

    from custody.fsio import FolderBusyError, exclusive_dir

    doc = load_snapshot(store, snapshot_key, keyring)
    manifest = doc.manifest
    filters = _filters(manifest, keys)
    erasure = erasure_for(store, doc, keyring, ledger)
    wanted = list(_wanted(manifest, tables, keys))
    folder = Path(out_dir) / manifest.source
    if folder.exists() and not folder.is_dir():
        raise RestoreError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    targets = {tm.table: folder / f"{tm.table}.{fmt}" for tm in wanted}
    out: dict[str, Any] = {}
    # One restore per folder at a time (the existence check below would race otherwise). Under
    # the lock any .tmp-restore-* folder is a dead restore's (killed): its plaintext goes first.
    try:
        with exclusive_dir(folder):
            for stale in folder.glob(".tmp-restore-*"):
                shutil.rmtree(stale, ignore_errors=True)
            existing = sorted(str(p) for p in targets.values() if os.path.lexists(p))
            if existing and not replace:
                raise RestoreError(f"{', '.join(existing)} already exist(s); pass replace (--replace) to overwrite")
            in_the_way = sorted(str(p) for p in targets.values() if p.is_dir() and not p.is_symlink())
            if in_the_way:
                raise RestoreError(f"{', '.join(in_the_way)} is a folder; a restored table cannot replace it")
            with tempfile.TemporaryDirectory(prefix=".tmp-restore-", dir=folder) as work:  # 0700, removed after
                for tm in wanted:
                    scan = _Scan(store, tm, keyring, on_chunk, filters.get(tm.table), erasure)
                    write_tables(iter(scan), Path(work) / targets[tm.table].name, fmt, _empty(tm).schema)
                    out[tm.table] = scan.result(path=str(targets[tm.table]))
                for path in targets.values():
                    os.replace(Path(work) / path.name, path)
    except FolderBusyError:
        raise RestoreError(f"another restore is writing into {folder}") from None
    return out


# -- SQL target ------------------------------------------------------------------------------------