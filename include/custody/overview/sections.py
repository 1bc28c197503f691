"""Console pages of features whose catalog tables may not exist yet: the purge queue, data-subject
requests and milestones. Each is a ``Section``: the table it reads and the columns it shows.

Adding a page is one ``Section`` in ``SECTIONS`` (the console builds its route and navigation
from this list). Until a feature's migration has created its table the page renders empty with a
label saying so; a column the section names but the table lacks is left out. The tables hold
ids, states, dates and counts only (the rule of the catalog), so any listed column may be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
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


SECTIONS: tuple[Section, ...] = (
    Section("purge", "Purge queue", "purge_plan",
            ("plan_id", "source", "state", "created_at", "approved_at", "executed_at", "rows", "keys",
             "certificate_id", "dag_id", "dag_run_id"), order_by="created_at", approval="dag_run_id"),
    Section("requests", "Data-subject requests", "subject_request",
            ("request_id", "source", "kind", "state", "received_at", "due_at", "closed_at"),
            order_by="received_at", due="due_at"),
    Section("milestones", "Milestones", "milestone",
            ("milestone_id", "source", "kind", "title", "due_at", "state", "reached_at"), order_by="due_at",
            due="due_at"),
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
    table = sa.Table(sec.table, sa.MetaData(), autoload_with=engine)
    shown = [c for c in sec.columns if c in table.c]
    q = sa.select(*[table.c[c] for c in shown])
    if sec.order_by in table.c:
        q = q.order_by(table.c[sec.order_by].desc())
    if sources is not None and sec.source_column in table.c:
        q = q.where(table.c[sec.source_column].in_(sorted(sources)))
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q.limit(limit)).mappings()]
    if sec.due in table.c:
        now = now or datetime.now(UTC)
        shown.append("days left")
        for r in rows:
            due = r.get(sec.due)
            if isinstance(due, str):
                due = datetime.fromisoformat(due)
            r["days left"] = None if due is None else (
                (due if due.tzinfo else due.replace(tzinfo=UTC)) - now).days
    return SectionData(sec, True, shown, rows)
