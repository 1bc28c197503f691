"""The periodic compliance report: a typed document built from the catalog and the audit log.

One ``ComplianceReport`` per period (a calendar month by default) holds counts, ratios, ids, dates
and hashes, never a personal value. Each section names the rules it evidences (``REFERENCES``,
article numbers as in the project's regulatory list; translated by ``compliance_labels``), so a
reader sees the article beside each number. The canonical JSON (``to_json``) is what the HTML and
PDF renderings are drawn from, and what ``docs/compliance-report.schema.json`` describes; a test
keeps that schema equal to ``ComplianceReport.model_json_schema()``.

Sections that other features write (purges, data-subject requests, milestones, incidents,
transfers, impact assessments) are read from audit entries by action name (``SECTION_ACTIONS``),
so the report works before those features exist (the section then counts zero) and after.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT = "custody-compliance-report"
VERSION = 1

# Audit actions each section reads, in one place. ``transfer.record`` and ``pipia.record`` are the
# names this report expects the cross-border transfer and impact-assessment writers to use.
SECTION_ACTIONS: dict[str, tuple[str, ...]] = {
    "backups": ("backup",),
    "verifications": ("verify",),
    "restores": ("restore.files", "restore.database"),
    "purge_plans": ("purge.plan",),
    "purge_executions": ("purge.execute",),
    "certificates": ("purge.certificate",),
    "keys_destroyed": ("key.destroy",),
    "requests": ("dsr.transition",),
    "milestones": ("milestone.record",),
    "incident_open": ("incident.open",),
    "incident_close": ("incident.close",),
    "transfers": ("transfer.record",),
    "pipia": ("pipia.record",),
    "classify": ("classify",),
    "parts": ("extract.part",),
}

# What each section evidences; keys of ``compliance_labels.CITATIONS``.
REFERENCES: dict[str, list[str]] = {
    "inventory": ["PIPL Art 51", "GB/T 35273-2020", "GDPR Art 30"],
    "sensitive": ["PIPL Art 28-31", "PIPL Art 51"],
    "lawful_basis": ["PIPL Art 13"],
    "retention": ["PIPL Art 19", "GDPR Art 5(1)(e)"],
    "backups": ["GDPR Art 32", "PIPL Art 21"],
    "purges": ["PIPL Art 19", "PIPL Art 47"],
    "requests": ["PIPL Art 44-50", "GDPR Art 17"],
    "cross_border": ["PIPL Art 38-40", "CAC Order 16"],
    "compliance_audit": ["PIPL Art 52", "PIPL Art 54", "Audit Measures 2025"],
    "pipia": ["PIPL Art 55-56"],
    "incidents": ["PIPL Art 57", "GDPR Art 33"],
    "audit_log": ["PIPL Art 54", "GDPR Art 5(2)", "RFC 9162"],
    "milestones": ["PIPL Art 22"],
    "record_of_processing": ["GDPR Art 30"],
}

# CAC Order 16 (2024): individuals per calendar year, deduplicated; alert at 80 % of a threshold.
CAC_THRESHOLDS: dict[str, tuple[str, int]] = {
    "standard_contract_pi": ("individuals", 100_000),
    "security_assessment_pi": ("individuals", 1_000_000),
    "security_assessment_sensitive": ("sensitive_individuals", 10_000),
}
ALERT_SHARE = 0.8
OFFICER_THRESHOLD = 1_000_000  # PIPL Art 52 with the Audit Measures' figure
AUDIT_TWO_YEARS_THRESHOLD = 10_000_000  # Audit Measures 2025: at least every two years above this
ENCRYPTION_TARGET = 1.0


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Period(_M):
    """The period reported (``start`` inclusive, ``end`` exclusive, UTC dates) and the one before."""

    label: str = Field(description="e.g. 2026-11")
    start: str
    end: str
    previous_start: str
    previous_end: str


class Trend(_M):
    """A count now (end of period) and at the end of the previous period."""

    key: str
    current: int = Field(ge=0)
    previous: int = Field(ge=0)
    change: int


class SourceInventory(_M):
    source: str
    tables: int = Field(ge=0)
    columns: int = Field(ge=0)
    sensitive_columns: int = Field(ge=0)


class Inventory(_M):
    """Columns of the inventory by level and by PI type, with the previous period's figures."""

    columns: int = Field(ge=0)
    by_level: list[Trend]
    by_pi_type: list[Trend]
    sources: list[SourceInventory]


class SensitiveTable(_M):
    source: str
    table: str
    sensitive_columns: int = Field(ge=0)
    records: int = Field(ge=0)
    encrypted_records: int = Field(ge=0)


class Sensitive(_M):
    """Records holding sensitive PI and records of minors under 14, with encryption coverage."""

    sensitive_columns: int = Field(ge=0)
    sensitive_records: int = Field(ge=0)
    minor_records: int = Field(ge=0)
    encrypted_records: int = Field(ge=0)
    encryption_coverage: float = Field(ge=0, le=1)
    target: float = ENCRYPTION_TARGET
    tables: list[SensitiveTable]


class BasisRow(_M):
    source: str
    basis: str | None
    tables: int = Field(ge=0)


class LawfulBasis(_M):
    sources: int = Field(ge=0)
    covered: int = Field(ge=0)
    coverage: float = Field(ge=0, le=1)
    rows: list[BasisRow]


class Retention(_M):
    """Snapshots a retention plan decided to forget and still held (overdue), plans applied."""

    plans: int = Field(ge=0)
    plans_applied: int = Field(ge=0)
    overdue_snapshots: int = Field(ge=0)
    oldest_overdue_days: int | None = None
    forgotten_in_period: int = Field(ge=0)


class Drill(_M):
    drill_id: str
    started_at: str
    rto_s: float
    rpo_s: float | None
    rto_limit_s: float
    rpo_limit_s: float
    passed: bool


class Backups(_M):
    backups: int = Field(ge=0)
    backup_failures: int = Field(ge=0)
    stores: list[str]
    verifications: int = Field(ge=0)
    verification_failures: int = Field(ge=0)
    restores: int = Field(ge=0)
    drills: list[Drill]
    drills_passed: int = Field(ge=0)


class Purges(_M):
    plans: int = Field(ge=0)
    executions: int = Field(ge=0)
    certificates: int = Field(ge=0)
    keys_destroyed: int = Field(ge=0)
    certificate_ids: list[str]


class Request(_M):
    request_id: str
    kind: str | None
    state: str | None
    due: str | None
    overdue: bool


class Requests(_M):
    """Data-subject requests (latest state of each), with due dates; never the person."""

    received: int = Field(ge=0)
    open: int = Field(ge=0)
    closed: int = Field(ge=0)
    overdue: int = Field(ge=0)
    items: list[Request]


class Threshold(_M):
    key: str
    measure: Literal["individuals", "sensitive_individuals"]
    limit: int
    count: int = Field(ge=0)
    share: float = Field(ge=0)
    alert: bool
    exceeded: bool


class CrossBorder(_M):
    year: int
    transfers: int = Field(ge=0)
    individuals: int = Field(ge=0)
    sensitive_individuals: int = Field(ge=0)
    alert_share: float = ALERT_SHARE
    thresholds: list[Threshold]


class ComplianceAudit(_M):
    individuals: int = Field(ge=0, description="estimate: rows of the largest table about people, per source")
    officer_threshold: int = OFFICER_THRESHOLD
    officer_required: bool
    two_year_threshold: int = AUDIT_TWO_YEARS_THRESHOLD
    frequency: Literal["at_least_every_two_years", "regularly"]
    last_report_at: str | None


class Pipia(_M):
    records: int = Field(ge=0)
    latest_at: str | None
    oldest_age_days: int | None


class Incidents(_M):
    opened: int = Field(ge=0)
    closed: int = Field(ge=0)
    open_now: int = Field(ge=0)
    incident_ids: list[str]


class Milestones(_M):
    recorded: int = Field(ge=0)
    items: list[dict[str, str]]


class AuditIntegrity(_M):
    entries: int = Field(ge=0)
    entries_in_period: int = Field(ge=0)
    verified: bool | None = Field(description="None when the log was not verified for this report")
    checkpoints: int = Field(ge=0)
    checkpoint_size: int | None
    checkpoint_root: str | None
    checkpoint_signed_at: str | None
    first_bad_entry: int | None
    findings: int = Field(ge=0)


class RecordOfProcessing(_M):
    """GDPR Art 30(1) record, from the same metadata: ids and vocabulary keys, translated on render."""

    controller: str
    purposes: list[str]
    subject_categories: list[str]
    data_categories: list[str]
    recipients: list[str]
    transfers: list[str]
    erasure_time_limits: list[str]
    security_measures: list[str]


class Summary(_M):
    """The headline figures of one period, kept for the next report to compare against."""

    columns: int = Field(ge=0)
    sensitive_columns: int = Field(ge=0)
    sensitive_records: int = Field(ge=0)
    minor_records: int = Field(ge=0)
    encryption_coverage: float = Field(ge=0, le=1)
    lawful_basis_coverage: float = Field(ge=0, le=1)
    overdue_snapshots: int = Field(ge=0)
    backups: int = Field(ge=0)
    drills_passed: int = Field(ge=0)
    certificates: int = Field(ge=0)
    requests_open: int = Field(ge=0)
    requests_overdue: int = Field(ge=0)
    transfer_individuals: int = Field(ge=0)
    incidents_open: int = Field(ge=0)
    audit_entries: int = Field(ge=0)


class ComplianceReport(_M):
    """The whole report (``docs/compliance-report.schema.json``)."""

    format: Literal["custody-compliance-report"] = FORMAT
    version: Literal[1] = VERSION
    generated_at: str
    period: Period
    references: dict[str, list[str]]
    summary: Summary
    previous_summary: Summary = Field(description="the same figures at the end of the previous period")
    inventory: Inventory
    sensitive: Sensitive
    lawful_basis: LawfulBasis
    retention: Retention
    backups: Backups
    purges: Purges
    requests: Requests
    cross_border: CrossBorder
    compliance_audit: ComplianceAudit
    pipia: Pipia
    incidents: Incidents
    milestones: Milestones
    audit_log: AuditIntegrity
    record_of_processing: RecordOfProcessing

    def body(self) -> dict:
        """The report as JSON-able dict."""
        return self.model_dump(mode="json")

    def to_json(self) -> bytes:
        """Canonical JSON bytes: sorted keys, UTF-8, indented for people (stable across runs)."""
        return json.dumps(self.body(), ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


def json_schema() -> dict:
    """The JSON Schema of ``ComplianceReport`` (draft 2020-12), as kept in ``docs/``."""
    schema = ComplianceReport.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "custody-compliance-report.v1"
    return schema
