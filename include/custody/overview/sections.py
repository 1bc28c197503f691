"""Console pages of the features that keep their state apart from the runs: the purge queue,
data-subject requests and the deal's milestones. Each is a ``Section``: where it reads and the
columns it shows.

Adding a page is one ``Section`` in ``SECTIONS`` (the console builds its route and navigation
from this list). A section reads either a catalog ``table`` or, through its ``reader``, something
else (the purge queue is the audit log's ``purge.*`` entries grouped by plan; milestones are the
deal's planned dates from ``deal.yaml`` beside those recorded in ``deal_milestone``). Until a
feature's table exists the page renders empty with a label saying so. Everything shown is ids,
states, dates and counts (the rule of the catalog and of the audit log).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class Section:
    """One optional page: ``key`` (URL segment), ``title``, catalog ``table``, ``columns`` to show
    (in order), ``order_by`` (newest first), ``due`` (a deadline column: adds ``days left``),
    ``approval`` (a column holding the Airflow run id of an approval task, linked from the page)."""

    key: str
    title: str
    table: str
    columns: tuple[str, ...]
    order_by: str | None = None
    due: str | None = None
    approval: str | None = None
    source_column: str = "source"
    missing: str = "not available yet: this feature's catalog table does not exist in this deployment"
    #: ``reader(engine)`` -> rows (dicts holding ``columns``), instead of reading ``table`` whole.
    reader: Callable[[sa.Engine], list[dict[str, Any]]] | None = None


def _purge_plans(engine: sa.Engine) -> list[dict[str, Any]]:
    """One row per purge plan from the audit log: planned, answered, executed, verified, certified."""
    from custody.catalog.schema import audit_entry

    actions = ("purge.plan", "approval.answer", "purge.execute", "verify", "purge.certificate")
    q = (sa.select(audit_entry.c.action, audit_entry.c.outcome, audit_entry.c.recorded_at, audit_entry.c.entry)
         .where(audit_entry.c.action.in_(actions)).order_by(audit_entry.c.seq))
    plans: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for action, outcome, at, raw in conn.execute(q):
            entry = json.loads(raw)
            plan_id = (entry.get("subject") or {}).get("plan_id")
            if not plan_id or (action != "purge.plan" and plan_id not in plans):
                continue
            counts = entry.get("counts") or {}
            if action == "purge.plan":
                plans[plan_id] = {"plan_id": plan_id, "state": "planned", "created_at": at,
                                  "items": counts.get("items"), "blocked": counts.get("blocked"),
                                  "approved_at": None, "executed_at": None, "certificate_id": None}
                continue
            row = plans[plan_id]
            if action == "approval.answer":
                row["state"] = "approved" if outcome == "success" else f"refused ({entry.get('reason')})"
                row["approved_at"] = at if outcome == "success" else None
            elif action == "purge.execute":
                row["state"], row["executed_at"] = "executed", at
            elif action == "verify":
                row["state"] = "verified" if outcome == "success" else "verification failed"
            else:
                row["state"] = "certified"
                row["certificate_id"] = (entry.get("subject") or {}).get("certificate_id")
    return sorted(plans.values(), key=lambda r: r["created_at"], reverse=True)


def _milestones(engine: sa.Engine) -> list[dict[str, Any]]:
    """The deal's milestones: planned date (``deal.yaml``), recorded date and way (catalog)."""
    from custody.catalog.schema import deal_milestone
    from custody.config import ConfigError
    from custody.deal.config import load_deals

    recorded: dict[tuple[str, str], Any] = {}
    with engine.connect() as conn:
        for r in conn.execute(sa.select(deal_milestone).order_by(deal_milestone.c.recorded_at)).mappings():
            recorded.setdefault((r["deal_id"], r["milestone"]), r)
    rows: list[dict[str, Any]] = []
    try:
        deals = load_deals().deals
    except (ConfigError, OSError):
        deals = []  # no deal configured here: what was recorded is still shown
    planned = set()
    for d in deals:
        for name, m in d.milestones.items():
            planned.add((d.id, name))
            rec = recorded.get((d.id, name))
            rows.append({"deal": d.id, "milestone": name, "due_at": m.date,
                         "reached_at": rec["occurred_on"] if rec else None, "via": rec["via"] if rec else None,
                         "source": "*"})
    for (deal_id, name), rec in recorded.items():
        if (deal_id, name) not in planned:
            rows.append({"deal": deal_id, "milestone": name, "due_at": None, "reached_at": rec["occurred_on"],
                         "via": rec["via"], "source": "*"})
    return sorted(rows, key=lambda r: (r["due_at"] or r["reached_at"] or date.max), reverse=True)


SECTIONS: tuple[Section, ...] = (
    Section("purge", "Purge queue", "audit_entry",
            ("plan_id", "state", "created_at", "items", "blocked", "approved_at", "executed_at", "certificate_id"),
            reader=_purge_plans),
    Section("requests", "Data-subject requests", "dsr_request",
            ("request_id", "source", "kind", "regime", "state", "received_at", "due_at", "closed_at"),
            order_by="received_at", due="due_at"),
    Section("milestones", "Milestones", "deal_milestone",
            ("deal", "milestone", "due_at", "reached_at", "via"), due="due_at", reader=_milestones),
)


@dataclass
class SectionData:
    """What a section page shows: ``available`` False when the table does not exist."""

    section: Section
    available: bool
    columns: list[str]
    rows: list[dict[str, Any]]


def section(key: str) -> Section:
    """The section called ``key``. Raises ``KeyError``."""
    for s in SECTIONS:
        if s.key == key:
            return s
    raise KeyError(key)


def read_section(engine: sa.Engine, sec: Section, *, sources: set[str] | None = None, limit: int = 200,
                 now: datetime | None = None) -> SectionData:
    """Rows of ``sec``'s table (newest first, at most ``limit``), only of ``sources`` when given and
    the table has a source column; ``days left`` computed against ``now`` from ``sec.due``."""
    if not sa.inspect(engine).has_table(sec.table):
        return SectionData(sec, False, [], [])
    if sec.reader is not None:
        shown = list(sec.columns)
        rows = sec.reader(engine)
        if sources is not None:  # rows about every source ("*" or none) are everybody's
            rows = [r for r in rows if r.get(sec.source_column) in (None, "*") or r[sec.source_column] in sources]
        rows = rows[:limit]
        has_due = sec.due is not None
    else:
        table = sa.Table(sec.table, sa.MetaData(), autoload_with=engine)
        shown = [c for c in sec.columns if c in table.c]
        q = sa.select(*[table.c[c] for c in shown])
        if sec.order_by in table.c:
            q = q.order_by(table.c[sec.order_by].desc())
        if sources is not None and sec.source_column in table.c:
            # a request about every source (no source) is everybody's
            col = table.c[sec.source_column]
            q = q.where(sa.or_(col.in_(sorted(sources)), col.is_(None)))
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q.limit(limit)).mappings()]
        has_due = sec.due in table.c
    if has_due:
        now = now or datetime.now(UTC)
        shown.append("days left")
        for r in rows:
            due = r.get(sec.due)
            if isinstance(due, str):
                due = datetime.fromisoformat(due)
            if isinstance(due, date) and not isinstance(due, datetime):
                due = datetime(due.year, due.month, due.day, tzinfo=UTC)
            r["days left"] = None if due is None else (
                (due if due.tzinfo else due.replace(tzinfo=UTC)) - now).days
    return SectionData(sec, True, shown, rows)
