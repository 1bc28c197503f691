"""What needs an operator's attention now: the shared core of ``custody status`` and the console's
overview. Every item names a source or a store and a reason, never a value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

#: The drill DAG verifies a sample and restores daily; two days without one is overdue.
VERIFY_MAX_AGE = timedelta(days=2)
DRILL_MAX_AGE = timedelta(days=2)


@dataclass(frozen=True)
class Attention:
    """One thing to look at: ``severity`` (``error``: something failed; ``warning``: overdue or
    drifted), ``topic`` (``run``, ``verify``, ``drill``, ``drift``, ``audit``), ``subject`` (a
    source or a store) and ``message``."""

    severity: Literal["error", "warning"]
    topic: str
    subject: str
    message: str


@dataclass(frozen=True)
class Integrity:
    """The audit log's integrity: ``ok``, ``entries``, ``checkpoints`` and the first finding."""

    ok: bool
    entries: int
    checkpoints: int
    finding: str | None


def audit_integrity(settings: Any) -> Integrity:
    """Check the audit log against its checkpoints in the catalog with this deployment's own
    signing key (``verify_log`` without decoding entries: the run report's check). A log that
    cannot be checked (no key, no catalog) is reported as not ok with the error's class."""
    from custody.audit.log import AuditLog
    from custody.audit.signing import open_signer
    from custody.audit.verify import verify_log
    from custody.crypto.open import open_keyring

    try:
        keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
        verifier = open_signer(settings.audit_signer, name=settings.audit_origin, keyring=keyring).verifier()
        with AuditLog(settings.catalog_url) as log:
            report = verify_log(log, [verifier], origin=settings.audit_origin, decode_entries=False)
    except Exception as exc:  # any failure to check is itself something to look at
        return Integrity(False, 0, 0, f"cannot be checked: {type(exc).__name__}")
    first = report.first()
    return Integrity(report.ok, report.size, report.checkpoints,
                     None if first is None else f"{first.where}: {first.message}")


def needs_attention(settings: Any, engine: Any, *, now: datetime | None = None,
                    verify_max_age: timedelta = VERIFY_MAX_AGE, drill_max_age: timedelta = DRILL_MAX_AGE,
                    integrity: Integrity | None = None) -> list[Attention]:
    """Everything that needs attention, errors first: a source whose last run failed; a store
    never verified, last verified longer than ``verify_max_age`` ago, or whose last verification
    failed; no restore drill, the last one older than ``drill_max_age`` or failed; a source whose
    last drift check alerted; an audit log that does not verify (``integrity``, checked when None).
    ``engine``: the catalog's SQLAlchemy engine."""
    from custody.overview.backups import drills, store_backups
    from custody.overview.inventory import drift_history
    from custody.overview.runs import last_runs

    now = now or datetime.now(UTC)
    items: list[Attention] = []
    for source, runs in last_runs(settings.report_dir, per_source=1).items():
        r = runs[0]
        if not r.ok:
            stages = f" in {', '.join(r.failed_stages)}" if r.failed_stages else " (a table did not pass)"
            items.append(Attention("error", "run", source, f"last run {r.run_key} failed{stages}"))
    for s in store_backups(engine):
        if s.last_verify is None:
            items.append(Attention("warning", "verify", s.location, "never verified"))
        elif s.last_verify_ok is False:
            items.append(Attention("error", "verify", s.location,
                                   f"last verification failed ({_ago(now, s.last_verify)})"))
        elif now - s.last_verify > verify_max_age:
            items.append(Attention("warning", "verify", s.location,
                                   f"verification overdue: last {_ago(now, s.last_verify)}"))
    last = drills(engine, limit=1)
    if not last:
        items.append(Attention("warning", "drill", "restore drill", "no restore drill has run"))
    else:
        d = last[0]
        if not d.passed:
            items.append(Attention("error", "drill", d.location, f"last restore drill {d.drill_id} failed "
                                   f"({_ago(now, d.started_at)})"))
        elif now - d.started_at > drill_max_age:
            items.append(Attention("warning", "drill", d.location,
                                   f"restore drill overdue: last {_ago(now, d.started_at)}"))
    latest: dict[str, Any] = {}
    for run in drift_history(engine):
        latest.setdefault(run.source, run)
    for source, run in sorted(latest.items()):
        if run.drifted:
            what = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in run.counts.items() if n)
            items.append(Attention("warning", "drift", source, f"run {run.run_key}: {what}"))
    integrity = integrity or audit_integrity(settings)
    if not integrity.ok:
        items.append(Attention("error", "audit", "audit log", f"does not verify: {integrity.finding}"))
    return sorted(items, key=lambda a: (a.severity != "error", a.topic, a.subject))


def _ago(now: datetime, then: datetime) -> str:
    """``3 days ago``, ``5 hours ago``, ``12 minutes ago``."""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"
