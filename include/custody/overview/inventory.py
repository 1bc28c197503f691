"""The inventory of personal information: columns by level and PI type, and drift history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class DriftRun:
    """One run's drift check: counts per kind (``new_sensitive``, ``level_changes``, ``vanished``)."""

    source: str
    run_key: str
    recorded_at: datetime
    baseline: bool
    columns: int
    counts: dict[str, int]

    @property
    def drifted(self) -> bool:
        """Whether anything alerted."""
        return any(self.counts.values())


def levels_by_type(engine: sa.Engine, source: str | None = None) -> dict[str, dict[tuple[str, str], int]]:
    """``{source: {(level, pi_type or "-"): columns}}`` of the current inventory."""
    from custody.catalog.schema import inventory_column as t

    q = sa.select(t.c.source, t.c.level, t.c.pi_type, sa.func.count()).group_by(t.c.source, t.c.level, t.c.pi_type)
    if source:
        q = q.where(t.c.source == source)
    out: dict[str, dict[tuple[str, str], int]] = {}
    with engine.connect() as conn:
        for src, level, pi_type, n in conn.execute(q):
            out.setdefault(src, {})[(level, pi_type or "-")] = int(n)
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def drift_history(engine: sa.Engine, source: str | None = None, limit: int = 50) -> list[DriftRun]:
    """The last ``limit`` drift checks, newest first."""
    from custody.catalog.schema import inventory_run as t
    from custody.classification.inventory import drift_counts

    q = sa.select(t).order_by(t.c.recorded_at.desc()).limit(limit)
    if source:
        q = q.where(t.c.source == source)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    out = []
    for r in rows:
        drift: dict[str, Any] = json.loads(r["drift"] or "{}")
        at = r["recorded_at"] if r["recorded_at"].tzinfo else r["recorded_at"].replace(tzinfo=UTC)
        out.append(DriftRun(r["source"], r["run_key"], at, bool(r["baseline"]), r["columns"], drift_counts(drift)))
    return out


def drift_events(engine: sa.Engine, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The last ``limit`` column events (``kind``: new, level change, vanished), newest first:
    ``source``, ``run_key``, ``table``, ``column``, ``kind``, ``pi_type``, ``old_level``, ``new_level``, ``at``."""
    from custody.catalog.schema import inventory_event as t

    q = sa.select(t).order_by(t.c.event_id.desc()).limit(limit)
    if source:
        q = q.where(t.c.source == source)
    with engine.connect() as conn:
        return [{"source": r["source"], "run_key": r["run_key"], "table": r["table_name"], "column": r["column_name"],
                 "kind": r["kind"], "pi_type": r["pi_type"], "old_level": r["old_level"],
                 "new_level": r["new_level"], "at": r["at"]} for r in conn.execute(q).mappings()]
