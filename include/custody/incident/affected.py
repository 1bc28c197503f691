"""The affected inventory of an incident: what the revoked scopes hold, in counts (PIPL Art 57(1)).

Per scope ``<source>/<retention_class>``: the newest snapshot of the source, its tables and rows,
the catalog inventory's columns by PI type and level, and the data subjects: distinct resident
ID numbers (GB 11643) counted by the province of their address code (GB/T 2260, through
``stdnum.cn.ric``), when a column of the source holds them. Values are read in memory from the
snapshot (every chunk checked) and only counts leave this module. It runs before the scopes are
revoked: afterwards they cannot be read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow.compute as pc
import sqlalchemy as sa

from custody.catalog.schema import inventory_column

FORMAT = "custody-incident-affected"
SENSITIVE_LEVELS = frozenset({"sensitive", "core"})
RESIDENT_ID = "resident_id"


def _province(number: str, cache: dict[str, str]) -> str:
    code = number[:6]
    if code not in cache:
        from stdnum.cn import ric

        try:
            cache[code] = ric.get_birth_place(number).get("province") or "unknown"
        except Exception:  # noqa: BLE001 - an unknown or malformed code counts as unknown, never raised
            cache[code] = "unknown"
    return cache[code]


def subjects_by_region(store: Any, manifest: Any, keyring: Any,
                       id_columns: set[tuple[str, str]]) -> tuple[int, dict[str, int]]:
    """Distinct resident ID numbers in ``id_columns`` (``(table lower case, column)``) of a snapshot's
    manifest, and their count by province of the address code: ``(subjects, {province: n})``.

    Reads the tables in memory, chunk by chunk (every chunk checked); only counts leave.
    """
    from custody.crypto.pseudonym import normalize
    from custody.restore.reading import iter_table

    ids: set[str] = set()
    for tm in manifest.tables:
        names = [c for t, c in id_columns if t == tm.table.lower()]
        if not names:
            continue
        for chunk in iter_table(store, tm, keyring):
            for name in names:
                for v in pc.drop_null(chunk.column(name)).to_pylist():
                    n = normalize(RESIDENT_ID, v)
                    if n:
                        ids.add(n)
            del chunk
    cache: dict[str, str] = {}
    regions = Counter(_province(n, cache) for n in ids)
    count = len(ids)
    ids.clear()
    return count, dict(sorted(regions.items()))


def affected_inventory(catalog_url: str, scopes: list[str], *, store: Any, keyring: Any,
                       incident_id: str) -> dict[str, Any]:
    """The affected inventory (format ``custody-incident-affected``): counts, names, no value.

    ``store`` / ``keyring``: the snapshot store and Custody's keyring. A scope whose source has no
    snapshot is listed with zero tables. Raises the store's and keyring's errors.
    """
    from custody.store import SnapshotError, latest_snapshot, load_snapshot

    engine = sa.create_engine(catalog_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            inv = conn.execute(sa.select(inventory_column.c.source, inventory_column.c.table_name,
                                         inventory_column.c.column_name, inventory_column.c.pi_type,
                                         inventory_column.c.level)).all()
    finally:
        engine.dispose()
    out = []
    for scope in scopes:
        source, _, retention_class = scope.partition("/")
        cols = [r for r in inv if r.source == source]
        entry: dict[str, Any] = {
            "scope": scope, "source": source, "retention_class": retention_class, "snapshot": None, "tables": [],
            "rows": 0, "pi_types": dict(sorted(Counter(r.pi_type for r in cols if r.pi_type).items())),
            "levels": dict(sorted(Counter(r.level for r in cols).items())),
            "sensitive_columns": sum(1 for r in cols if r.level in SENSITIVE_LEVELS),
            "subjects": None, "subjects_by_region": {},
        }
        try:
            key = latest_snapshot(store, keyring, source)
        except SnapshotError:
            out.append(entry)
            continue
        manifest = load_snapshot(store, key, keyring).manifest
        entry["snapshot"] = key
        entry["tables"] = [{"table": t.table, "rows": t.extracted_rows} for t in manifest.tables]
        entry["rows"] = sum(t.extracted_rows for t in manifest.tables)
        id_columns = {(r.table_name.lower(), r.column_name) for r in cols if r.pi_type == RESIDENT_ID}
        if id_columns:
            entry["subjects"], entry["subjects_by_region"] = subjects_by_region(store, manifest, keyring, id_columns)
        out.append(entry)
    return {"format": FORMAT, "version": 1, "incident_id": incident_id, "scopes": out,
            "totals": {"scopes": len(out), "rows": sum(e["rows"] for e in out),
                       "subjects": sum(e["subjects"] or 0 for e in out),
                       "sensitive_columns": sum(e["sensitive_columns"] for e in out)}}
