"""Inventory drift: compare a run's classification with the inventory the previous runs left.

The catalog keeps one row per source column (``inventory_column``, :mod:`custody.catalog`): PI type,
level, confidence, evidence, policy version, first and last seen (PIPL Art 51 classification
management; GDPR Art 30 records of processing). This module adds the history and the alert:

- ``inventory_run``: one row per classified run of a source: the previous run it was compared
  with, whether it was the baseline (first run of the source), and the drift found (JSON, names and
  levels only). A retried task finds its run here and gets the same drift back, so an Airflow retry
  can neither lose nor double an alert.
- ``inventory_event``: what changed, column by column: ``new_column``, ``level_change``,
  ``pi_type_change``, ``vanished``, ``reappeared`` with the old and new level and the time.
- ``inventory_vanished``: columns that were in the inventory but not in the latest run of their
  table. The inventory row itself is kept (its ``last_seen`` says when it was last there); the mark
  is removed, and a ``reappeared`` event written, if the column comes back.

Drift (the alert, :func:`raise_for_drift`): a NEW column classified sensitive, a LEVEL CHANGE of a
known column (either direction: a drop may be a missed detection), or a VANISHED column. Only tables
extracted in the run are compared, so dropping a table from ``sources.yaml`` is not a vanishing.
The first run of a source is the baseline: everything is recorded as ``new_column``, nothing alerts.

Shape of the drift document (``classification.json`` key ``drift``; report and XCom)::

    {"new_sensitive": [{"table", "column", "level", "pi_type"}],
     "level_changes": [{"table", "column", "old", "new", "pi_type"}],
     "vanished":      [{"table", "column", "old_level", "pi_type"}],
     "previous_run_key": str | None, "baseline": bool,
     "counts": {"new_sensitive": n, "level_changes": n, "vanished": n}}

Tables: ``custody.catalog.schema`` (migration ``0002_inventory_drift``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from custody.catalog.schema import (
    inventory_column,
    inventory_event,
    inventory_run,
    inventory_vanished,
)

EVENT_KINDS = ("new_column", "level_change", "pi_type_change", "vanished", "reappeared")
DRIFT_KINDS = ("new_sensitive", "level_changes", "vanished")


class DriftDetected(Exception):
    """The inventory of a source changed in a way that needs a person (see the module docstring).

    Attributes: ``source``, ``run_key``, ``previous_run_key``, ``drift`` (the drift document) and
    ``counts`` (``{"new_sensitive": n, "level_changes": n, "vanished": n}``). The message names
    tables, columns and levels, never a value; up to 10 columns per kind, then ``+n more``.
    """

    def __init__(self, drift: dict[str, Any], source: str | None = None, run_key: str | None = None):
        self.drift = drift
        self.source, self.run_key = source, run_key
        self.previous_run_key = drift.get("previous_run_key")
        self.counts = drift_counts(drift)
        parts = []
        for kind in DRIFT_KINDS:
            items = drift.get(kind) or []
            if not items:
                continue
            names = [_describe(kind, i) for i in items[:10]]
            more = f" +{len(items) - 10} more" if len(items) > 10 else ""
            parts.append(f"{kind.replace('_', ' ')} {len(items)}: {', '.join(names)}{more}")
        where = f"source {source!r} " if source else ""
        since = f" since run {self.previous_run_key}" if self.previous_run_key else ""
        super().__init__(f"{where}inventory drift{since}: " + "; ".join(parts))

    def __reduce__(self):
        return (type(self), (self.drift, self.source, self.run_key))


def _describe(kind: str, item: dict[str, Any]) -> str:
    name = f"{item['table']}.{item['column']}"
    if kind == "new_sensitive":
        return f"{name} ({item.get('pi_type') or 'no PI type'}, {item['level']})"
    if kind == "level_changes":
        return f"{name} ({item['old']} -> {item['new']})"
    return f"{name} (was {item['old_level']})"


def drift_counts(drift: dict[str, Any] | None) -> dict[str, int]:
    """``{"new_sensitive": n, "level_changes": n, "vanished": n}`` of a drift document (zeros for None)."""
    drift = drift or {}
    return {k: len(drift.get(k) or []) for k in DRIFT_KINDS}


def has_drift(drift: dict[str, Any] | None) -> bool:
    """True when the drift document lists anything that alerts."""
    return any(drift_counts(drift).values())


def raise_for_drift(
    drift: dict[str, Any] | None, *, source: str | None = None, run_key: str | None = None
) -> None:
    """Raise :class:`DriftDetected` if ``drift`` (the classification document's ``drift``) lists a new
    sensitive column, a level change or a vanished column; return None otherwise (also for None or a
    baseline run). The DAG's ``drift_alert`` task calls this so the run fails loudly while the
    backup and the report still happen."""
    if has_drift(drift):
        raise DriftDetected(drift, source=source, run_key=run_key)  # type: ignore[arg-type]


def compute_drift(
    previous: list[dict[str, Any]], tables: list[dict[str, Any]], *, previous_run_key: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Compare this run's classification with the previous inventory of the same source (pure).

    ``previous``: inventory rows of the source still present (not marked vanished), as dicts with
    ``table_name``, ``column_name``, ``pi_type``, ``level``, ``last_run_key``.
    ``tables``: this run's ``[{"table", "columns": [{"column", "pi_type", "level", ...}]}]``.
    Returns ``(drift document, events)``; events are dicts with ``table_name``, ``column_name``,
    ``kind``, ``pi_type``, ``old_level``, ``new_level`` (names and levels only). An empty
    ``previous`` makes this the baseline: events only, no drift.
    """
    baseline = not previous
    before = {(r["table_name"], r["column_name"]): r for r in previous}
    drift: dict[str, Any] = {k: [] for k in DRIFT_KINDS}
    events: list[dict[str, Any]] = []
    in_run = {t["table"] for t in tables}
    now_keys: set[tuple[str, str]] = set()
    for t in tables:
        for c in t["columns"]:
            key = (t["table"], c["column"])
            now_keys.add(key)
            old = before.get(key)
            ev = {"table_name": key[0], "column_name": key[1], "pi_type": c.get("pi_type")}
            if old is None:
                events.append({**ev, "kind": "new_column", "old_level": None, "new_level": c["level"]})
                if not baseline and c["level"] == "sensitive":
                    drift["new_sensitive"].append(
                        {"table": key[0], "column": key[1], "level": c["level"], "pi_type": c.get("pi_type")}
                    )
                continue
            if old["level"] != c["level"]:
                events.append(
                    {**ev, "kind": "level_change", "old_level": old["level"], "new_level": c["level"]}
                )
                drift["level_changes"].append(
                    {
                        "table": key[0],
                        "column": key[1],
                        "old": old["level"],
                        "new": c["level"],
                        "pi_type": c.get("pi_type"),
                    }
                )
            elif old.get("pi_type") != c.get("pi_type"):
                events.append(
                    {**ev, "kind": "pi_type_change", "old_level": old["level"], "new_level": c["level"]}
                )
    for key, old in sorted(before.items()):
        if key[0] in in_run and key not in now_keys:
            events.append(
                {
                    "table_name": key[0],
                    "column_name": key[1],
                    "pi_type": old.get("pi_type"),
                    "kind": "vanished",
                    "old_level": old["level"],
                    "new_level": None,
                }
            )
            drift["vanished"].append(
                {"table": key[0], "column": key[1], "old_level": old["level"], "pi_type": old.get("pi_type")}
            )
    drift["previous_run_key"] = previous_run_key
    drift["baseline"] = baseline
    drift["counts"] = drift_counts(drift)
    return drift, events


def record_drift(
    engine: sa.Engine,
    source: str,
    run_key: str,
    tables: list[dict[str, Any]],
    *,
    policy_version: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Compute this run's drift against the catalog's inventory and record the history, atomically.

    Call BEFORE ``Catalog.record_inventory`` for the same run (which then moves the inventory to
    this run's state). ``engine``: the migrated catalog (``Catalog(url).engine``). ``tables``: as in
    :func:`compute_drift`. Returns the drift document (module docstring). Idempotent per
    ``(source, run_key)``: a second call returns the drift stored by the first and writes nothing
    (a retried task re-raises the same alert). Two runs of one source classified at the same time
    both compare with the inventory as it was; their writes are serialised by the database, and
    the next run compares with whichever inventory state was written last. Raises SQLAlchemy
    errors from the catalog; messages name tables and columns only.
    """
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        stored = conn.execute(
            sa.select(inventory_run.c.drift).where(
                inventory_run.c.source == source, inventory_run.c.run_key == run_key
            )
        ).scalar_one_or_none()
        if stored is not None:
            return json.loads(stored)
        vanished_keys = {
            (r.table_name, r.column_name)
            for r in conn.execute(
                sa.select(inventory_vanished.c.table_name, inventory_vanished.c.column_name).where(
                    inventory_vanished.c.source == source
                )
            )
        }
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(inventory_column)
                .where(inventory_column.c.source == source)
                .order_by(inventory_column.c.last_seen)
            )
        ]
        previous = [r for r in rows if (r["table_name"], r["column_name"]) not in vanished_keys]
        previous_run_key = conn.execute(
            sa.select(inventory_run.c.run_key)
            .where(inventory_run.c.source == source)
            .order_by(inventory_run.c.recorded_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        if previous_run_key is None and rows:
            previous_run_key = rows[-1]["last_run_key"]  # inventory written before this table existed
        drift, events = compute_drift(previous, tables, previous_run_key=previous_run_key)
        # Columns marked vanished that are back: compare with the level they had and unmark them.
        present = {(t["table"], c["column"]): c for t in tables for c in t["columns"]}
        back = [k for k in vanished_keys if k in present]
        if back:
            old_levels = {(r["table_name"], r["column_name"]): r for r in rows}
            for key in sorted(back):
                c, old = present[key], old_levels.get(key)
                events = [
                    e
                    for e in events
                    if not (e["kind"] == "new_column" and (e["table_name"], e["column_name"]) == key)
                ]
                drift["new_sensitive"] = [
                    d for d in drift["new_sensitive"] if (d["table"], d["column"]) != key
                ]
                events.append(
                    {
                        "table_name": key[0],
                        "column_name": key[1],
                        "pi_type": c.get("pi_type"),
                        "kind": "reappeared",
                        "old_level": old["level"] if old else None,
                        "new_level": c["level"],
                    }
                )
                if old is not None and old["level"] != c["level"]:
                    drift["level_changes"].append(
                        {
                            "table": key[0],
                            "column": key[1],
                            "old": old["level"],
                            "new": c["level"],
                            "pi_type": c.get("pi_type"),
                        }
                    )
                conn.execute(
                    sa.delete(inventory_vanished).where(
                        inventory_vanished.c.source == source,
                        inventory_vanished.c.table_name == key[0],
                        inventory_vanished.c.column_name == key[1],
                    )
                )
            drift["counts"] = drift_counts(drift)
        last_seen_run = {(r["table_name"], r["column_name"]): r["last_run_key"] for r in rows}
        for v in drift["vanished"]:
            conn.execute(
                sa.insert(inventory_vanished).values(
                    source=source,
                    table_name=v["table"],
                    column_name=v["column"],
                    pi_type=v["pi_type"],
                    old_level=v["old_level"],
                    last_run_key=last_seen_run[(v["table"], v["column"])],
                    vanished_run_key=run_key,
                    vanished_at=now,
                )
            )
        if events:
            conn.execute(
                sa.insert(inventory_event),
                [{**e, "source": source, "run_key": run_key, "at": now} for e in events],
            )
        conn.execute(
            sa.insert(inventory_run).values(
                source=source,
                run_key=run_key,
                previous_run_key=previous_run_key,
                recorded_at=now,
                policy_version=policy_version,
                columns=len(present),
                baseline=drift["baseline"],
                drift=json.dumps(drift, sort_keys=True, ensure_ascii=False),
            )
        )
    return drift


def inventory_history(engine: sa.Engine, source: str | None = None) -> list[dict[str, Any]]:
    """Inventory events (oldest first) as dicts: ``source, run_key, table_name, column_name, kind,
    pi_type, old_level, new_level, at``."""
    stmt = sa.select(inventory_event).order_by(inventory_event.c.event_id)
    if source:
        stmt = stmt.where(inventory_event.c.source == source)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def vanished_columns(engine: sa.Engine, source: str | None = None) -> list[dict[str, Any]]:
    """Columns currently marked vanished, as dicts (``source, table_name, column_name, pi_type,
    old_level, last_run_key, vanished_run_key, vanished_at``)."""
    stmt = sa.select(inventory_vanished).order_by(
        inventory_vanished.c.source, inventory_vanished.c.table_name, inventory_vanished.c.column_name
    )
    if source:
        stmt = stmt.where(inventory_vanished.c.source == source)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
