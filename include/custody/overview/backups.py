"""Backups as the catalog records them: snapshots per store (the audit log's ``backup`` entries),
the last verification per store (``verify`` entries) and the restore drills (``restore_drill``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


@dataclass
class StoreBackups:
    """One snapshot store: its snapshots (newest first), last backup, and last verification."""

    location: str
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    last_backup: datetime | None = None
    last_verify: datetime | None = None
    last_verify_ok: bool | None = None
    last_verify_objects: int | None = None


@dataclass(frozen=True)
class Drill:
    """One restore drill: when, which snapshot, rows, RTO and RPO against their limits (seconds)."""

    drill_id: str
    started_at: datetime
    location: str
    snapshot_id: str | None
    tables: int
    rows: int
    rto_s: float
    rpo_s: float | None
    rto_limit_s: float
    rpo_limit_s: float
    passed: bool
    failure: str | None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _entries(engine: sa.Engine, actions: tuple[str, ...]) -> list[tuple[datetime, dict[str, Any]]]:
    from custody.catalog.schema import audit_entry as t

    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.recorded_at, t.c.entry).where(t.c.action.in_(actions))
                            .order_by(t.c.seq)).all()
    return [(_utc(r.recorded_at), json.loads(r.entry)) for r in rows]


def store_backups(engine: sa.Engine, source: str | None = None) -> list[StoreBackups]:
    """Every store the audit log names, sorted by location, with its snapshots (``snapshot``,
    ``source``, ``run_key``, ``at``, ``objects``, ``bytes``) newest first."""
    stores: dict[str, StoreBackups] = {}
    for at, e in _entries(engine, ("backup", "verify")):
        subject, counts = e.get("subject") or {}, e.get("counts") or {}
        location = subject.get("store")
        if not location:
            continue
        s = stores.setdefault(location, StoreBackups(location))
        if e["action"] == "backup" and e.get("outcome") == "success":
            if source and subject.get("source") != source:
                continue
            s.snapshots.insert(0, {"snapshot": subject.get("snapshot", ""), "source": subject.get("source"),
                                   "run_key": subject.get("run_key"), "at": at,
                                   "objects": counts.get("objects"), "bytes": counts.get("bytes")})
            s.last_backup = at
        elif e["action"] == "verify" and (source is None or subject.get("source") in (None, source)):
            s.last_verify, s.last_verify_ok = at, e.get("outcome") == "success"
            s.last_verify_objects = counts.get("objects")
    return [stores[k] for k in sorted(stores)]


def drills(engine: sa.Engine, limit: int = 20) -> list[Drill]:
    """The last ``limit`` restore drills, newest first."""
    from custody.catalog.schema import restore_drill as t

    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).order_by(t.c.started_at.desc()).limit(limit)).mappings().all()
    return [Drill(r["drill_id"], _utc(r["started_at"]), r["location"], r["snapshot_id"], r["tables"], r["rows"],
                  r["rto_s"], r["rpo_s"], r["rto_limit_s"], r["rpo_limit_s"], bool(r["passed"]), r["failure"])
            for r in rows]
