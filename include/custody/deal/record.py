"""Recording a milestone: one row in the catalog, one entry in the audit log, once.

However a milestone arrives (the trigger form of ``custody_milestone``, a DAG run or an Asset
event posted to the REST API, ``custody milestone record``), it goes through
``record_milestone``. Its id is a function of deal, milestone and date, so the second arrival of
the same milestone (a retried task, an Asset event that follows a form submission) finds the
first record and appends nothing. A note is kept only as its SHA-256: it is free text a person
typed and may name people, so its text stays where it was written (the Airflow run's conf).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from custody.catalog.schema import deal_milestone
from custody.deal.config import MILESTONES, DealConfig

VIAS = ("form", "api", "asset", "cli")


class MilestoneError(ValueError):
    """A milestone that cannot be recorded (unknown name, bad date, unknown way); no value in it."""


@dataclass(frozen=True)
class MilestoneRecord:
    """A recorded milestone: ``created`` is False when it had been recorded before."""

    milestone_id: str
    deal: str
    milestone: str
    date: str
    via: str
    recorded_at: str
    recorded_by: str
    note_sha256: str | None
    audit_seq: int | None
    created: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields (ids, dates, hashes): what a task returns through XCom."""
        return asdict(self)


def milestone_id(deal: str, milestone: str, date: dt.date) -> str:
    """32 hex digits of SHA-256 over ``deal\\nmilestone\\nYYYY-MM-DD``."""
    return hashlib.sha256(f"{deal}\n{milestone}\n{date.isoformat()}".encode()).hexdigest()[:32]


def parse_date(value: Any) -> dt.date:
    """A milestone date from a form, conf or the command line (``YYYY-MM-DD`` or an ISO time)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise MilestoneError("a milestone date is YYYY-MM-DD") from None


def _engine(url: str | sa.Engine) -> sa.Engine:
    return url if isinstance(url, sa.Engine) else sa.create_engine(url, poolclass=sa.pool.NullPool)


def record_milestone(catalog_url: str, deal: DealConfig, milestone: str, date: Any, *, note: str | None = None,
                     via: str = "cli") -> MilestoneRecord:
    """Record ``milestone`` of ``deal`` on ``date`` in the catalog and the audit log; idempotent.

    ``via``: ``form``, ``api``, ``asset`` or ``cli``. The audit entry (``milestone.record``) names
    the deal and milestone id, the milestone, date and way, and the note's SHA-256. Raises
    ``MilestoneError``, ``custody.catalog.CatalogNotMigrated``.
    """
    from custody.audit.entries import Actor
    from custody.audit.log import AuditLog
    from custody.catalog import require_head

    if milestone not in MILESTONES:
        raise MilestoneError(f"unknown milestone {milestone!r}; one of {', '.join(MILESTONES)}")
    if via not in VIAS:
        raise MilestoneError(f"unknown way {via!r}; one of {', '.join(VIAS)}")
    day = parse_date(date)
    mid = milestone_id(deal.id, milestone, day)
    engine = _engine(catalog_url)
    try:
        require_head(engine)
        found = _find(engine, mid)
        if found is not None:
            return found
        actor = Actor.from_env()
        note_sha = hashlib.sha256(note.encode("utf-8")).hexdigest() if note else None
        with AuditLog(catalog_url) as log:
            entry = log.append("milestone.record", actor=actor, subject={"deal": deal.id, "milestone_id": mid},
                               hashes={"note_sha256": note_sha} if note_sha else {},
                               details={"milestone": milestone, "date": day.isoformat(), "via": via})
        now = dt.datetime.now(dt.UTC)
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(deal_milestone).values(
                    milestone_id=mid, deal_id=deal.id, milestone=milestone, occurred_on=day, recorded_at=now,
                    recorded_by=actor.label()[:255], via=via, note_sha256=note_sha, audit_seq=entry.seq))
        except sa.exc.IntegrityError:  # recorded concurrently by another way: that record stands
            found = _find(engine, mid)
            if found is not None:
                return found
            raise
        return MilestoneRecord(mid, deal.id, milestone, day.isoformat(), via, now.isoformat(timespec="seconds"),
                               actor.label()[:255], note_sha, entry.seq, True)
    finally:
        if not isinstance(catalog_url, sa.Engine):
            engine.dispose()


def _find(engine: sa.Engine, mid: str) -> MilestoneRecord | None:
    with engine.connect() as conn:
        r = conn.execute(sa.select(deal_milestone).where(deal_milestone.c.milestone_id == mid)).first()
    if r is None:
        return None
    at = r.recorded_at if r.recorded_at.tzinfo else r.recorded_at.replace(tzinfo=dt.UTC)
    return MilestoneRecord(r.milestone_id, r.deal_id, r.milestone, r.occurred_on.isoformat(), r.via,
                           at.isoformat(timespec="seconds"), r.recorded_by, r.note_sha256, r.audit_seq, False)


def latest_milestone(catalog_url: str, milestone: str, deal: str | None = None) -> MilestoneRecord | None:
    """The most recently recorded ``milestone`` (of ``deal``), or None: what an action DAG started
    without an Asset event (a manual or test run) acts on."""
    engine = _engine(catalog_url)
    try:
        stmt = sa.select(deal_milestone.c.milestone_id).where(deal_milestone.c.milestone == milestone)
        if deal:
            stmt = stmt.where(deal_milestone.c.deal_id == deal)
        with engine.connect() as conn:
            mid = conn.execute(stmt.order_by(deal_milestone.c.recorded_at.desc()).limit(1)).scalar()
        return _find(engine, mid) if mid else None
    finally:
        engine.dispose()


def recorded_milestones(catalog_url: str, deal: str | None = None) -> list[MilestoneRecord]:
    """Every recorded milestone (of ``deal``), oldest first."""
    engine = _engine(catalog_url)
    try:
        stmt = sa.select(deal_milestone.c.milestone_id).order_by(deal_milestone.c.recorded_at)
        if deal:
            stmt = stmt.where(deal_milestone.c.deal_id == deal)
        with engine.connect() as conn:
            ids = list(conn.execute(stmt).scalars())
        return [r for r in (_find(engine, m) for m in ids) if r is not None]
    finally:
        engine.dispose()
