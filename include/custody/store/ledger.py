"""Catalog records of the snapshot store: retention plans, their decisions, and restore drills.

The tables live in the catalog database (``CUSTODY_CATALOG_URL``), created by the Alembic
migration ``0002_snapshots``; the ``sa.Table`` objects here mirror it for queries. They hold ids,
dates, counts, hashes and durations, never values. They answer an auditor's questions: why was
snapshot X deleted (which plan, which rules kept the others), and when was restoring last tested,
how long it took (RTO) and how old the newest restorable copy was (RPO). GDPR Art 5(2)
accountability and Art 32(1)(d) regular testing; PIPL Art 54 compliance audits.

The writers take plain values (a plan document, a drill result mapping), so this module depends
on neither ``custody.drill`` nor ``custody.store.retention``, which call it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from custody.documents import RetentionPlanDocument

metadata = sa.MetaData()

retention_plan = sa.Table(
    "snapshot_retention_plan",
    metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("location", sa.String(512), nullable=False),
    sa.Column("plan_key", sa.String(256), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("kept", sa.Integer, nullable=False),
    sa.Column("forgotten", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("objects_deleted", sa.Integer, nullable=True),
)

retention_decision = sa.Table(
    "snapshot_retention_decision",
    metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("snapshot_id", sa.String(256), primary_key=True),
    sa.Column("snapshot_key", sa.String(300), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("snapshot_created_at", sa.String(40), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
)

restore_drill = sa.Table(
    "restore_drill",
    metadata,
    sa.Column("drill_id", sa.String(64), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("location", sa.String(512), nullable=False),
    sa.Column("snapshot_id", sa.String(256), nullable=True),
    sa.Column("tables", sa.Integer, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("rto_s", sa.Float, nullable=False),
    sa.Column("rpo_s", sa.Float, nullable=True),
    sa.Column("rto_limit_s", sa.Float, nullable=False),
    sa.Column("rpo_limit_s", sa.Float, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Column("result", sa.Text, nullable=False),
)


def _ready(engine: sa.Engine) -> None:
    from custody.catalog import migrate

    migrate(engine)


def record_retention_plan(engine: sa.Engine, plan: RetentionPlanDocument, plan_key: str) -> None:
    """Insert a plan and one row per decision (status ``recorded``).

    ``plan``: the plan's sealed-document model (``RetentionPlan.to_doc()``); ``plan_key``: where
    it was written in the store. Migrates the catalog first.
    """
    _ready(engine)
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
    (seconds), ``passed``, ``problems`` (list of text); stored whole in ``result``. Migrates the
    catalog first. Raises ``KeyError`` for a missing field.
    """
    _ready(engine)
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
