"""The retention policy (``include/config/retention.yaml``), validated with pydantic on load.

A rule says how long one kind of data is kept: it matches a **source**, a **data category** (the
source's retention class, or ``"*"``) and a **lawful basis** (PIPL Art 13, or ``"*"``), and counts
``days`` from an anchor:

- ``extraction``: the time the data was extracted (a scope's period end for a scope key);
- ``milestone``: a named deal milestone (e.g. ``closing``) plus ``days``; until the milestone is
  recorded nothing under the rule expires ("closing + 30 days" for the transferor's copies);
- ``date_column``: a date in the row (``contract_end`` + N years), for source rows only, and only
  when ``purge_source_rows`` is on.

Where several rules match, the longest period wins (PIPL Art 19: no longer than necessary, but a
retention duty in another law is honoured). Data no rule matches is kept.

**Legal holds** (per source, optionally one retention class or one period) block every item of
their scope; the plan lists them as blocked with the hold's reason. **Exempt records** (audit
log, PIPIA reports, destruction certificates, retention and purge plans) are never purged and
must be kept at least three years (PIPL Art 56). The policy's ``version`` (and the SHA-256 of its
file) is frozen into every plan.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from custody.config import ConfigError, LawfulBasis

Anchor = Literal["extraction", "milestone", "date_column"]
ExemptRecord = Literal["audit_log", "pipia", "certificate", "retention_plan", "purge_plan"]
#: PIPL Art 56: records of the personal-information protection impact assessment (and, by the
#: same reasoning, of processing) are kept at least three years.
MIN_EXEMPT_YEARS = 3
NAME = r"^[a-z][a-z0-9_]{0,39}$"
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionRule(_Strict):
    """One rule: ``source`` x ``category`` x ``lawful_basis`` kept ``days`` after ``anchor``.

    ``category``: a retention class (as in ``sources.yaml``) or ``"*"``. ``lawful_basis``: a PIPL
    Art 13 basis or ``"*"``. ``milestone``: required with ``anchor: milestone``; ``date_column``:
    required with ``anchor: date_column`` (table-qualified, ``table.column``). Days >= 0.
    """

    name: str = Field(pattern=NAME)
    source: str = Field(pattern=r"^([a-z][a-z0-9_]{0,39}|\*)$")
    category: str = Field(default="*", pattern=r"^([a-z][a-z0-9_]{0,39}|\*)$")
    lawful_basis: LawfulBasis | Literal["*"] = "*"
    anchor: Anchor = "extraction"
    days: int = Field(ge=0, le=100 * 366)
    milestone: str | None = Field(default=None, pattern=NAME)
    date_column: str | None = Field(default=None, pattern=r"^[\w$]+\.[\w$]+$")
    basis: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _anchor_fields(self) -> RetentionRule:
        if self.anchor == "milestone" and not self.milestone:
            raise ValueError("anchor: milestone needs milestone")
        if self.anchor == "date_column" and not self.date_column:
            raise ValueError("anchor: date_column needs date_column (table.column)")
        if self.anchor != "milestone" and self.milestone:
            raise ValueError("milestone is only used with anchor: milestone")
        if self.anchor != "date_column" and self.date_column:
            raise ValueError("date_column is only used with anchor: date_column")
        return self

    def matches(self, source: str, category: str, lawful_basis: str) -> bool:
        """True when this rule applies to data of ``source`` / ``category`` / ``lawful_basis``."""
        return (self.source in ("*", source) and self.category in ("*", category)
                and self.lawful_basis in ("*", lawful_basis))


class LegalHold(_Strict):
    """A legal hold: nothing of its scope is purged while it is in force, whatever its age.

    ``source`` (required), ``category`` (a retention class) and ``period`` (``YYYY-MM``) narrow it;
    ``reason`` (required, no personal information: a case or matter number), ``placed_by``,
    ``placed_at``; ``until`` (optional date): the hold lapses after that day.
    """

    hold_id: str = Field(pattern=r"^[A-Za-z0-9][\w.-]{0,63}$")
    source: str = Field(pattern=NAME)
    category: str | None = Field(default=None, pattern=NAME)
    period: str | None = Field(default=None, pattern=PERIOD)
    reason: str = Field(min_length=1, max_length=200)
    placed_by: str = Field(min_length=1, max_length=128)
    placed_at: date
    until: date | None = None

    def in_force(self, now: datetime) -> bool:
        """True when the hold applies at ``now`` (from ``placed_at`` through ``until``)."""
        day = now.astimezone(UTC).date()
        return self.placed_at <= day and (self.until is None or day <= self.until)

    def covers(self, source: str, category: str, period: str | None) -> bool:
        """True when an item of ``source`` / ``category`` / ``period`` is inside the hold's scope.

        An item without a period (a legacy two-part scope) is covered by a hold on any period of
        its source and class: a hold errs on the side of keeping.
        """
        if self.source != source or (self.category is not None and self.category != category):
            return False
        return self.period is None or period is None or self.period == period


class ExemptRule(_Strict):
    """A record kind never purged by a plan, and how long it is kept at least (years, >= 3)."""

    record: ExemptRecord
    keep_years: int = Field(ge=MIN_EXEMPT_YEARS, le=100)
    basis: str = Field(default="PIPL Art 56", max_length=200)


class Approvals(_Strict):
    """Who may approve a purge: Airflow user ids (``approvers``, at least one) and the answer's
    time limit; a timeout never approves (``custody.purge.guard``)."""

    approvers: list[str] = Field(min_length=1)
    timeout_hours: int = Field(default=72, ge=1, le=24 * 30)

    @field_validator("approvers")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or any(not a.strip() for a in v):
            raise ValueError("approvers must be distinct, non-empty user ids")
        return v


class RetentionPolicyFile(_Strict):
    """``retention.yaml``: ``version`` (a label frozen into each plan), ``rules``, ``legal_holds``,
    ``milestones`` (name -> UTC date, recorded when reached), ``exempt`` (must list the audit log
    and PIPIA records), ``approvals``, and ``purge_source_rows`` (off: source rows are never planned).
    """

    version: str = Field(pattern=r"^[\w.:-]{1,64}$")
    rules: list[RetentionRule] = Field(default_factory=list)
    legal_holds: list[LegalHold] = Field(default_factory=list)
    milestones: dict[str, date] = Field(default_factory=dict)
    exempt: list[ExemptRule]
    approvals: Approvals
    purge_source_rows: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> RetentionPolicyFile:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        holds = [h.hold_id for h in self.legal_holds]
        if len(set(holds)) != len(holds):
            raise ValueError("legal hold ids must be unique")
        kept = {e.record for e in self.exempt}
        missing = {"audit_log", "pipia"} - kept
        if missing:
            raise ValueError(f"exempt must keep {sorted(missing)} (PIPL Art 56, at least {MIN_EXEMPT_YEARS} years)")
        for m in self.milestones:
            if not yaml_safe_name(m):
                raise ValueError("milestone names are lower-case identifiers")
        return self

    def rules_for(self, source: str, category: str, lawful_basis: str) -> list[RetentionRule]:
        """The rules that apply to data of this source, category and basis (maybe none)."""
        return [r for r in self.rules if r.matches(source, category, lawful_basis)]

    def holds_for(self, source: str, category: str, period: str | None, now: datetime) -> list[LegalHold]:
        """Legal holds in force at ``now`` that cover this item."""
        return [h for h in self.legal_holds if h.in_force(now) and h.covers(source, category, period)]


def yaml_safe_name(name: str) -> bool:
    """True for a lower-case identifier (milestone and rule names)."""
    import re

    return re.fullmatch(NAME, name) is not None


class LoadedPolicy(_Strict):
    """A validated policy and the SHA-256 (hex) of the exact file it came from."""

    policy: RetentionPolicyFile
    sha256: str
    path: str


def load_retention_policy(path: Path | str) -> LoadedPolicy:
    """Read and validate ``retention.yaml``. Raises ``ConfigError`` naming the file and the field
    paths that fail (never the offending values)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the retention policy ({type(exc).__name__})") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"{p}: not valid YAML") from None
    try:
        policy = RetentionPolicyFile.model_validate(data)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '<root>'} ({e['type']}: {e['msg']})"
                          for e in exc.errors()[:5])
        raise ConfigError(f"{p}: invalid retention policy: {where}") from None
    return LoadedPolicy(policy=policy, sha256=hashlib.sha256(raw).hexdigest(), path=p.name)
