"""Build a ``ComplianceReport`` for one period from the catalog tables and the audit log.

Reads only: ``inventory_column`` and ``inventory_event`` (the inventory now and at the end of the
previous period), ``snapshot_retention_plan`` / ``_decision`` (overdue deletions), ``restore_drill``
(RTO/RPO) and ``audit_entry`` (every other section, by the action names of
``compliance.SECTION_ACTIONS``). Nothing here reads a source or a staged object, so no personal
value can reach the report: entries hold ids, counts and pseudonyms only (``docs/audit.md``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from custody.catalog.schema import (
    audit_entry,
    inventory_column,
    inventory_event,
    restore_drill,
    snapshot_retention_decision,
    snapshot_retention_plan,
)
from custody.reports.compliance import (
    ALERT_SHARE,
    AUDIT_TWO_YEARS_THRESHOLD,
    CAC_THRESHOLDS,
    OFFICER_THRESHOLD,
    REFERENCES,
    SECTION_ACTIONS,
    AuditIntegrity,
    Backups,
    BasisRow,
    ComplianceAudit,
    ComplianceReport,
    CrossBorder,
    Drill,
    Incidents,
    Inventory,
    LawfulBasis,
    Milestones,
    Period,
    Pipia,
    Purges,
    RecordOfProcessing,
    Request,
    Requests,
    Retention,
    Sensitive,
    Summary,
    SensitiveTable,
    SourceInventory,
    Threshold,
    Trend,
)

LEVELS = ("public", "internal", "sensitive")
# PI types that identify organisations, not people: a table holding only these is not about people.
ORG_TYPES = frozenset({"org_name", "uscc", "industry"})
CLOSED_STATES = frozenset({"closed", "completed", "fulfilled", "rejected", "refused", "withdrawn"})
SECURITY_MEASURES = ["envelope_encryption", "scope_keys", "keyed_pseudonyms", "audit_log", "restore_drills",
                     "access_control"]


def period_for(label: str | None = None, *, today: date | None = None) -> Period:
    """The calendar month ``label`` (``YYYY-MM``; default: the current UTC month) and the one before.

    Raises ``ValueError`` for a label that is not ``YYYY-MM``.
    """
    if label is None:
        d = today or datetime.now(UTC).date()
        label = f"{d.year:04d}-{d.month:02d}"
    try:
        start = datetime.strptime(label, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"a period is a month written YYYY-MM, not {label!r}") from None
    end = (start + timedelta(days=32)).replace(day=1)
    prev = (start - timedelta(days=1)).replace(day=1)
    return Period(label=label, start=start.isoformat(), end=end.isoformat(), previous_start=prev.isoformat(),
                  previous_end=start.isoformat())


def run_period(scheduled: bool, at: datetime, param: str | None = None) -> str:
    """The month a report run covers (``YYYY-MM``): ``param`` when given; for a scheduled (monthly)
    run, the month before ``at``; for a run triggered by a milestone or by hand, the month of ``at``."""
    if param:
        return period_for(param).label
    day = at.astimezone(UTC).date()
    if scheduled:
        day = day.replace(day=1) - timedelta(days=1)
    return f"{day.year:04d}-{day.month:02d}"


def _dt(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _utc(v: datetime) -> datetime:
    return v if v.tzinfo else v.replace(tzinfo=UTC)


class _Entries:
    """The audit entries up to the period's end, decoded, grouped by action."""

    def __init__(self, conn: sa.Connection, until: datetime) -> None:
        actions = sorted({a for names in SECTION_ACTIONS.values() for a in names} | {"report", "forget"})
        rows = conn.execute(sa.select(audit_entry.c.recorded_at, audit_entry.c.entry)
                            .where(audit_entry.c.action.in_(actions), audit_entry.c.recorded_at < until)
                            .order_by(audit_entry.c.seq)).all()
        self.by_action: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            e = json.loads(r.entry)
            e["_at"] = _utc(r.recorded_at)
            self.by_action[e["action"]].append(e)

    def of(self, section: str, since: datetime | None = None) -> list[dict[str, Any]]:
        out = [e for a in SECTION_ACTIONS[section] for e in self.by_action.get(a, [])]
        out.sort(key=lambda e: e["seq"])
        return [e for e in out if since is None or e["_at"] >= since]


def _inventory_at(conn: sa.Connection, until: datetime) -> dict[tuple[str, str, str], tuple[str | None, str]]:
    """``{(source, table, column): (pi_type, level)}`` as the inventory stood just before ``until``.

    Replays ``inventory_event`` (new, reappeared, level and PI-type changes, vanished); columns
    recorded without events (catalogs older than the event table) count from their ``first_seen``.
    """
    ev = inventory_event.c
    state: dict[tuple[str, str, str], tuple[str | None, str]] = {}
    seen: set[tuple[str, str, str]] = set()
    for r in conn.execute(sa.select(inventory_event).where(ev.at < until).order_by(ev.at, ev.event_id)):
        key = (r.source, r.table_name, r.column_name)
        seen.add(key)
        if r.kind == "vanished":
            state.pop(key, None)
        else:
            old = state.get(key, (None, "internal"))
            state[key] = (r.pi_type if r.pi_type is not None else old[0], r.new_level or old[1])
    ic = inventory_column.c
    for r in conn.execute(sa.select(inventory_column).where(ic.first_seen < until)):
        key = (r.source, r.table_name, r.column_name)
        if key not in seen:
            state[key] = (r.pi_type, r.level)
    return state


def _trends(now: dict[str, int], before: dict[str, int], order: list[str]) -> list[Trend]:
    keys = [k for k in order if k in now or k in before] + sorted((set(now) | set(before)) - set(order))
    return [Trend(key=k, current=now.get(k, 0), previous=before.get(k, 0), change=now.get(k, 0) - before.get(k, 0))
            for k in keys]


def _count(state: dict, index: int) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in state.values():
        if v[index] is not None:
            out[v[index]] += 1
    return dict(out)


def _inventory(now: dict, before: dict) -> Inventory:
    per_source: dict[str, dict[str, Any]] = defaultdict(lambda: {"tables": set(), "columns": 0, "sensitive": 0})
    for (source, table, _), (_, level) in now.items():
        s = per_source[source]
        s["tables"].add(table)
        s["columns"] += 1
        s["sensitive"] += level == "sensitive"
    types_now, types_before = _count(now, 0), _count(before, 0)
    return Inventory(
        columns=len(now),
        by_level=_trends(_count(now, 1), _count(before, 1), list(LEVELS)),
        by_pi_type=_trends(types_now, types_before, sorted(types_now, key=lambda k: -types_now[k])),
        sources=[SourceInventory(source=k, tables=len(v["tables"]), columns=v["columns"],
                                 sensitive_columns=v["sensitive"]) for k, v in sorted(per_source.items())],
    )


def _latest_parts(entries: _Entries) -> dict[tuple[str, str], dict[str, int]]:
    """Per (source, table), the rows of its latest run's parts and how many sit in encrypted objects."""
    latest_run: dict[str, str] = {}
    for e in entries.of("parts"):
        latest_run[e["subject"]["source"]] = e["subject"].get("run_key", "")
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"rows": 0, "encrypted": 0})
    for e in entries.of("parts"):
        s = e["subject"]
        if s.get("run_key", "") != latest_run[s["source"]]:
            continue
        rows = int(e["counts"].get("extracted_rows", 0))
        t = out[(s["source"], s.get("table", ""))]
        t["rows"] += rows
        if e["key_ids"] and e["counts"].get("objects", 0) > 0:
            t["encrypted"] += rows
    return out


def _sensitive(now: dict, parts: dict, entries: _Entries) -> Sensitive:
    sensitive_cols: dict[tuple[str, str], int] = defaultdict(int)
    for (source, table, _), (_, level) in now.items():
        if level == "sensitive":
            sensitive_cols[(source, table)] += 1
    tables = []
    for (source, table), n in sorted(sensitive_cols.items()):
        p = parts.get((source, table), {"rows": 0, "encrypted": 0})
        tables.append(SensitiveTable(source=source, table=table, sensitive_columns=n, records=p["rows"],
                                     encrypted_records=p["encrypted"]))
    minors: dict[str, int] = {}
    for e in entries.of("classify"):  # the latest classification of each source
        minors[e["subject"].get("source", "")] = int(e["counts"].get("minors", 0))
    records = sum(t.records for t in tables)
    encrypted = sum(t.encrypted_records for t in tables)
    return Sensitive(sensitive_columns=sum(sensitive_cols.values()), sensitive_records=records,
                     minor_records=sum(minors.values()), encrypted_records=encrypted,
                     encryption_coverage=(encrypted / records) if records else 1.0, tables=tables)


def _individuals(now: dict, parts: dict) -> int:
    """Estimate of individuals: per source, the rows of its largest table holding a person's PI type."""
    people: set[tuple[str, str]] = {(s, t) for (s, t, _), (pi, _) in now.items() if pi and pi not in ORG_TYPES}
    best: dict[str, int] = defaultdict(int)
    for (s, t) in people:
        best[s] = max(best[s], parts.get((s, t), {"rows": 0})["rows"])
    return sum(best.values())


def _lawful_basis(now: dict, sources: Any) -> LawfulBasis:
    configured = {s.name: s for s in (sources.sources if sources is not None else [])}
    tables: dict[str, set[str]] = defaultdict(set)
    for (s, t, _) in now:
        tables[s].add(t)
    names = sorted(set(configured) | set(tables))
    rows = [BasisRow(source=n, basis=configured[n].lawful_basis if n in configured else None,
                     tables=len(tables.get(n, ()))) for n in names]
    covered = sum(r.basis is not None for r in rows)
    return LawfulBasis(sources=len(rows), covered=covered, coverage=(covered / len(rows)) if rows else 1.0,
                       rows=rows)


def _retention(conn: sa.Connection, start: datetime, end: datetime, entries: _Entries) -> Retention:
    p, d = snapshot_retention_plan.c, snapshot_retention_decision.c
    plans = conn.execute(sa.select(snapshot_retention_plan).where(p.created_at < end)).all()
    pending = {r.plan_id: _utc(r.created_at) for r in plans if r.status != "applied"}
    overdue: dict[str, datetime] = {}
    if pending:
        for r in conn.execute(sa.select(d.plan_id, d.snapshot_id).where(d.plan_id.in_(list(pending)),
                                                                        d.action == "forget")):
            since = pending[r.plan_id]
            overdue[r.snapshot_id] = min(overdue.get(r.snapshot_id, since), since)
    at = min(end, datetime.now(UTC))
    forgotten = sum(int(e["counts"].get("forgotten", 0)) for e in entries.by_action.get("forget", [])
                    if e["_at"] >= start)
    return Retention(plans=len(plans), plans_applied=sum(r.status == "applied" for r in plans),
                     overdue_snapshots=len(overdue),
                     oldest_overdue_days=max(((at - t).days for t in overdue.values()), default=None),
                     forgotten_in_period=forgotten)


def _backups(conn: sa.Connection, start: datetime, end: datetime, entries: _Entries) -> Backups:
    backups = entries.of("backups", start)
    verifies = entries.of("verifications", start)
    c = restore_drill.c
    drills = [Drill(drill_id=r.drill_id, started_at=_utc(r.started_at).isoformat(timespec="seconds"),
                    rto_s=round(r.rto_s, 3), rpo_s=None if r.rpo_s is None else round(r.rpo_s, 3),
                    rto_limit_s=r.rto_limit_s, rpo_limit_s=r.rpo_limit_s, passed=bool(r.passed))
              for r in conn.execute(sa.select(restore_drill).where(c.started_at >= start, c.started_at < end)
                                    .order_by(c.started_at))]
    return Backups(backups=sum(e["outcome"] == "success" for e in backups),
                   backup_failures=sum(e["outcome"] != "success" for e in backups),
                   stores=sorted({e["subject"]["store"] for e in backups if "store" in e["subject"]}),
                   verifications=len(verifies), verification_failures=sum(e["outcome"] != "success" for e in verifies),
                   restores=len(entries.of("restores", start)), drills=drills,
                   drills_passed=sum(d.passed for d in drills))


def _purges(start: datetime, entries: _Entries) -> Purges:
    certs = entries.of("certificates", start)
    ids = sorted({e["subject"]["certificate_id"] for e in certs + entries.of("keys_destroyed", start)
                  if "certificate_id" in e["subject"]})
    return Purges(plans=len(entries.of("purge_plans", start)), executions=len(entries.of("purge_executions", start)),
                  certificates=len(certs), keys_destroyed=len(entries.of("keys_destroyed", start)),
                  certificate_ids=ids)


def _requests(start: datetime, end: datetime, entries: _Entries) -> Requests:
    latest: dict[str, dict[str, Any]] = {}
    first: dict[str, datetime] = {}
    for e in entries.of("requests"):
        rid = e["subject"].get("request_id")
        if not rid:
            continue
        first.setdefault(rid, e["_at"])
        if e.get("outcome", "success") != "success":
            continue  # a refused move (e.g. lost to a concurrent one) changed nothing
        merged = dict(latest.get(rid, {}))
        merged.update({k: v for k, v in e["details"].items() if v is not None})
        if "to" in e["details"]:  # custody.dsr.requests names the state a transition reached ``to``
            merged["state"] = e["details"]["to"]
        latest[rid] = merged
    today = min(end, datetime.now(UTC)).date().isoformat()
    items = []
    for rid, d in sorted(latest.items()):
        state = str(d["state"]) if "state" in d else None
        due = str(d["due"])[:10] if "due" in d else None
        closed = state in CLOSED_STATES
        items.append(Request(request_id=rid, kind=str(d["kind"]) if "kind" in d else None, state=state, due=due,
                             overdue=bool(due and not closed and due < today)))
    closed_n = sum(i.state in CLOSED_STATES for i in items)
    return Requests(received=sum(t >= start for t in first.values()), open=len(items) - closed_n, closed=closed_n,
                    overdue=sum(i.overdue for i in items), items=items)


def _cross_border(end: datetime, entries: _Entries) -> CrossBorder:
    year = (end - timedelta(seconds=1)).year
    ytd = entries.of("transfers", datetime(year, 1, 1, tzinfo=UTC))
    counts = {"individuals": sum(int(e["counts"].get("individuals", 0)) for e in ytd),
              "sensitive_individuals": sum(int(e["counts"].get("sensitive_individuals", 0)) for e in ytd)}
    thresholds = []
    for key, (measure, limit) in CAC_THRESHOLDS.items():
        n = counts[measure]
        thresholds.append(Threshold(key=key, measure=measure, limit=limit, count=n, share=round(n / limit, 4),
                                    alert=n >= ALERT_SHARE * limit, exceeded=n >= limit))
    return CrossBorder(year=year, transfers=len(ytd), thresholds=thresholds, **counts)


def _incidents(start: datetime, entries: _Entries) -> Incidents:
    opened = [e["subject"].get("incident_id", "") for e in entries.of("incident_open")]
    closed = {e["subject"].get("incident_id", "") for e in entries.of("incident_close")}
    return Incidents(opened=len(entries.of("incident_open", start)), closed=len(entries.of("incident_close", start)),
                     open_now=len(set(opened) - closed), incident_ids=sorted(set(opened) - closed))


def _record_of_processing(now: dict, sources: Any, backups: Backups, cross: CrossBorder,
                          entries: _Entries, controller: str) -> RecordOfProcessing:
    tables = {t for (_, t, _), (pi, _) in now.items() if pi and pi not in ORG_TYPES}
    subjects = ["employees" for t in tables if any(w in t.lower() for w in ("employee", "staff", "员工"))][:1]
    if tables - {t for t in tables if any(w in t.lower() for w in ("employee", "staff", "员工"))}:
        subjects.insert(0, "customers")
    srcs = sources.sources if sources is not None else []
    countries = sorted({str(e["details"]["country"]) for e in entries.of("transfers") if e["details"].get("country")})
    return RecordOfProcessing(
        controller=controller,
        purposes=["transfer_custody", *sorted({f"basis:{s.lawful_basis}" for s in srcs})],
        subject_categories=subjects,
        data_categories=sorted({pi for (pi, _) in now.values() if pi}),
        recipients=[*backups.stores, *(["transferee"] if entries.of("milestones") else [])],
        transfers=countries,
        erasure_time_limits=sorted({f"retention:{s.retention_class}" for s in srcs}),
        security_measures=list(SECURITY_MEASURES),
    )


def build_compliance_report(
    catalog: str | sa.Engine,
    *,
    period: Period | str | None = None,
    sources: Any = None,
    integrity: dict[str, Any] | None = None,
    controller: str = "transferor",
) -> ComplianceReport:
    """The compliance report of ``period`` (a ``Period``, ``YYYY-MM`` or None for this month).

    ``catalog``: SQLAlchemy URL or engine of a migrated catalog; ``sources``: the validated
    ``SourcesFile`` (lawful bases, retention classes; None: sources known from the inventory only);
    ``integrity``: ``custody.audit.verify.AuditReport.summary()`` of a verification made for this
    report (None: reported as not verified). ``controller``: the controller's id for the GDPR
    Art 30 record. Raises ``ValueError`` for a malformed period, SQLAlchemy errors for the database.
    """
    per = period if isinstance(period, Period) else period_for(period)
    engine = sa.create_engine(catalog) if isinstance(catalog, str) else catalog
    try:
        report = _build(engine, per, sources, integrity, controller, summary_only=False)
    finally:
        if isinstance(catalog, str):
            engine.dispose()
    return report


def summarize(r: ComplianceReport) -> Summary:
    """The headline figures of a report (``Summary``)."""
    return Summary(
        columns=r.inventory.columns, sensitive_columns=r.sensitive.sensitive_columns,
        sensitive_records=r.sensitive.sensitive_records, minor_records=r.sensitive.minor_records,
        encryption_coverage=r.sensitive.encryption_coverage, lawful_basis_coverage=r.lawful_basis.coverage,
        overdue_snapshots=r.retention.overdue_snapshots, backups=r.backups.backups,
        drills_passed=r.backups.drills_passed, certificates=r.purges.certificates, requests_open=r.requests.open,
        requests_overdue=r.requests.overdue, transfer_individuals=r.cross_border.individuals,
        incidents_open=r.incidents.open_now, audit_entries=r.audit_log.entries)


def _build(engine: sa.Engine, per: Period, sources: Any, integrity: dict[str, Any] | None, controller: str, *,
           summary_only: bool) -> Any:
    """The report of ``per`` (with the previous period's summary), or only its ``Summary``."""
    start, end = _dt(per.start), _dt(per.end)
    with engine.connect() as conn:
        entries = _Entries(conn, end)
        now, before = _inventory_at(conn, end), _inventory_at(conn, start)
        retention = _retention(conn, start, end, entries)
        backups = _backups(conn, start, end, entries)
        size = conn.execute(sa.select(sa.func.count()).select_from(audit_entry)
                            .where(audit_entry.c.recorded_at < end)).scalar_one()
        in_period = conn.execute(sa.select(sa.func.count()).select_from(audit_entry).where(
            audit_entry.c.recorded_at >= start, audit_entry.c.recorded_at < end)).scalar_one()
    parts = _latest_parts(entries)
    individuals = _individuals(now, parts)
    cross = _cross_border(end, entries)
    reports = [e for e in entries.by_action.get("report", []) if e["subject"].get("report") == "compliance"]
    pipia = entries.of("pipia")
    at = min(end, datetime.now(UTC))
    latest_cp = (integrity or {}).get("latest_checkpoint") or {}
    fields = dict(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        period=per,
        references=REFERENCES,
        inventory=_inventory(now, before),
        sensitive=_sensitive(now, parts, entries),
        lawful_basis=_lawful_basis(now, sources),
        retention=retention,
        backups=backups,
        purges=_purges(start, entries),
        requests=_requests(start, end, entries),
        cross_border=cross,
        compliance_audit=ComplianceAudit(
            individuals=individuals, officer_required=individuals >= OFFICER_THRESHOLD,
            frequency="at_least_every_two_years" if individuals > AUDIT_TWO_YEARS_THRESHOLD else "regularly",
            last_report_at=reports[-1]["_at"].isoformat(timespec="seconds") if reports else None),
        pipia=Pipia(records=len(pipia), latest_at=pipia[-1]["_at"].isoformat(timespec="seconds") if pipia else None,
                    oldest_age_days=(at - pipia[0]["_at"]).days if pipia else None),
        incidents=_incidents(start, entries),
        milestones=Milestones(recorded=len(entries.of("milestones", start)), items=[
            {"milestone_id": e["subject"].get("milestone_id", ""), "deal": e["subject"].get("deal", ""),
             "milestone": str(e["details"].get("milestone", "")), "date": str(e["details"].get("date", ""))}
            for e in entries.of("milestones", start)]),
        audit_log=AuditIntegrity(
            entries=int(size), entries_in_period=int(in_period),
            verified=None if integrity is None else bool(integrity.get("ok")),
            checkpoints=int((integrity or {}).get("checkpoints", 0)),
            checkpoint_size=latest_cp.get("size"), checkpoint_root=latest_cp.get("root"),
            checkpoint_signed_at=latest_cp.get("signed_at"),
            first_bad_entry=(integrity or {}).get("first_bad_entry"),
            findings=len((integrity or {}).get("findings", []))),
        record_of_processing=_record_of_processing(now, sources, backups, cross, entries, controller),
    )
    summary = summarize(ComplianceReport.model_construct(**fields))
    if summary_only:
        return summary
    previous = _build(engine, period_for(per.previous_start[:7]), sources, None, controller, summary_only=True)
    return ComplianceReport(**fields, summary=summary, previous_summary=previous)
