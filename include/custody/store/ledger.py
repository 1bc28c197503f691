"""Catalog records of the snapshot store: retention plans, their decisions, and restore drills.

The tables live in the catalog database (``CUSTODY_CATALOG_URL``), defined in
``custody.catalog.schema`` (migration ``0002_snapshots``). They hold ids, dates, counts, hashes and
durations, never values. They answer an auditor's questions: why was snapshot X deleted (which
plan, which rules kept the others), and when was restoring last tested, how long it took (RTO) and
how old the newest restorable copy was (RPO). GDPR Art 5(2) accountability and Art 32(1)(d)
regular testing; PIPL Art 54 compliance audits.

The writers take plain values (a plan document, a drill result mapping), so this module depends
on neither ``custody.drill`` nor ``custody.store.retention``, which call it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from custody.catalog import require_head
from custody.catalog.schema import restore_drill
from custody.catalog.schema import snapshot_retention_decision as retention_decision
from custody.catalog.schema import snapshot_retention_plan as retention_plan

if TYPE_CHECKING:
    from custody.documents import RetentionPlanDocument


def record_retention_plan(engine: sa.Engine, plan: RetentionPlanDocument, plan_key: str) -> None:
    """Insert a plan and one row per decision (status ``recorded``).

    ``plan``: the plan's sealed-document model (``RetentionPlan.to_doc()``); ``plan_key``: where
    it was written in the store. Raises ``custody.catalog.CatalogNotMigrated`` when the catalog is
    not at head, SQLAlchemy errors (ids only in messages) otherwise.
    """
    require_head(engine)
    keep = sum(1 for d in plan.decisions if d.action == "keep")
    with engine.begin() as conn:
        conn.execute(
            sa.insert(retention_plan).values(
                plan_id=plan.plan_id,
                location=plan.location,
                plan_key=plan_key,
                created_at=datetime.fromisoformat(plan.created_at),
                policy=json.dumps(plan.policy),
                kept=keep,
                forgotten=len(plan.decisions) - keep,
                status="recorded",
            )
        )
        if plan.decisions:
            conn.execute(
                sa.insert(retention_decision),
                [
                    {
                        "plan_id": plan.plan_id,
                        "snapshot_id": d.snapshot_id,
                        "snapshot_key": d.snapshot_key,
                        "source": d.source,
                        "snapshot_created_at": d.created_at,
                        "action": d.action,
                        "reasons": json.dumps(list(d.reasons)),
                    }
                    for d in plan.decisions
                ],
            )


def mark_plan_applied(engine: sa.Engine, plan_id: str, forgotten: int, objects_deleted: int) -> None:
    """Set a recorded plan to ``applied`` with the deletion counts."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(retention_plan)
            .where(retention_plan.c.plan_id == plan_id)
            .values(
                status="applied",
                applied_at=datetime.now(UTC),
                forgotten=forgotten,
                objects_deleted=objects_deleted,
            )
        )


def record_drill(engine: sa.Engine, result: Mapping[str, Any]) -> None:
    """Insert one restore drill result (passed or not).

    ``result``: the drill result as a JSON-able mapping (``custody.drill.DrillResult.to_dict()``):
    ``drill_id``, ``started_at`` (ISO-8601), ``location``, ``snapshot_id``, ``tables``
    (``{table: {"rows", ...}}``), ``rto_s`` / ``rpo_s`` / ``rto_limit_s`` / ``rpo_limit_s``
    (seconds), ``passed``, ``problems`` (list of text); stored whole in ``result``. Raises
    ``KeyError`` for a missing field, ``custody.catalog.CatalogNotMigrated`` when the catalog is
    not at head.
    """
    require_head(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(restore_drill).values(
                drill_id=result["drill_id"],
                started_at=datetime.fromisoformat(result["started_at"]),
                location=result["location"],
                snapshot_id=result["snapshot_id"],
                tables=len(result["tables"]),
                rows=sum(t["rows"] for t in result["tables"].values()),
                rto_s=result["rto_s"],
                rpo_s=result["rpo_s"],
                rto_limit_s=result["rto_limit_s"],
                rpo_limit_s=result["rpo_limit_s"],
                passed=bool(result["passed"]),
                failure="; ".join(result["problems"]) or None,
                result=json.dumps(dict(result), sort_keys=True),
            )
        )


def drills(engine: sa.Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent restore drills, newest first, as dicts."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(restore_drill).order_by(restore_drill.c.started_at.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def retention_decisions(engine: sa.Engine, snapshot_id: str) -> list[dict[str, Any]]:
    """Every recorded decision about one snapshot, oldest plan first."""
    stmt = (
        sa.select(retention_decision)
        .where(retention_decision.c.snapshot_id == snapshot_id)
        .order_by(retention_decision.c.plan_id)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
