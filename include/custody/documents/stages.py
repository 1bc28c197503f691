"""Documents of the stages after extraction: classification, validation and backup.

Each is written once per run next to the manifest (``docs/format.md``, "Staging layout") and
holds names, counts, shares, rule names and hashes, never a value.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from custody.documents.base import Document
from custody.documents.extract import ObjectEntry
from custody.documents.layout import document_key

Level = Literal["public", "internal", "sensitive"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- classification ---------------------------------------------------------------------------------
class OverrideRecord(_Frozen):
    """Who decided a column by hand, and why (copied from the policy override)."""

    who: str
    why: str


class PublicBasis(_Frozen):
    """Why a column is public: public must be earned (every other column is at least internal).

    ``by``: ``detector`` (a detector found data that is publicly disclosable, e.g. an organisation's
    registered name, USCC or industry; ``detector`` names it and ``ref`` is the policy's rule, the
    publication duty it rests on) or ``override`` (a person decided: ``who``, and ``ref`` is their
    why).
    """

    by: Literal["detector", "override"]
    detector: str | None = None
    who: str | None = None
    ref: str


class Evidence(_Frozen):
    """Why a column got its classification. Counts, rates and rule names only, never values.

    ``header_rule``: ``"<detector>/<rule>"`` of the header rule that matched, or None.
    ``detector``: name of the deciding detector (``free_text`` for free text), None for non-PI.
    ``match_rate``: share of the sample matching the detector's value shape (0..1).
    ``validated_rate``: share of those matches its validator passed (None: no validator / no match).
    ``sample_size``: non-null values in the sample. ``embedded_counts``: values (rows) of a free-text
    column embedding each PI type, from a full scan of ``scanned_rows`` values.
    ``reason``: the decision rule, e.g. ``header+values``, ``values``, ``context:postal_address:Address``,
    ``not_pi:header_without_value_support:email``, ``business_data:hr_dates``.
    ``override``: set when a policy override decided the column.
    ``table_context``: ``people:<column>`` when the table is about people (that column holds a resident
    ID, mobile, name ...) and this column's decision or level used it (a borderline value lifted, or
    organisation data kept internal); ``address:<column>`` when the column is a part of the address
    in that street-address column, found by its values beside it (a city, a postal code).
    ``public_basis``: why the column is public (None unless public).
    """

    header_rule: str | None = None
    detector: str | None = None
    match_rate: float = 0.0
    validated_rate: float | None = None
    sample_size: int = 0
    embedded_counts: dict[str, int] = Field(default_factory=dict)
    scanned_rows: int = 0
    reason: str
    override: OverrideRecord | None = None
    table_context: str | None = None
    public_basis: PublicBasis | None = None


class ColumnClassification(_Frozen):
    """Classification of one column.

    ``pi_type`` is None for columns that are not PI. ``level`` is ``public < internal < sensitive``.
    ``confidence`` (0..1) is the confidence in ``pi_type`` (for non-PI columns, that no detector
    applies). ``policy_version``/``policy_standard`` name the rule set; ``policy_ref`` is the article
    or clause behind the level (e.g. ``PIPL Art 28; GB/T 35273-2020 Annex B``).
    """

    column: str
    pi_type: str | None
    level: Level
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: Evidence
    policy_version: str
    policy_standard: str
    policy_ref: str


class MinorBasis(_Frozen):
    """One column the minors count read birth dates from, and the rows of minors it found there."""

    column: str
    pi_type: Literal["birth_date", "resident_id"]
    rows: int = Field(ge=0)


class MinorsCount(_Frozen):
    """Records of minors in one table (counts and column names only).

    ``under_age``: the policy's age (14 under PIPL). ``as_of``: ISO date the ages are computed on
    (the run date). ``rows``: records of individuals under that age, each counted once whatever the
    number of basis columns saying so. ``rows_scanned``: rows read (every row of the table).
    ``counted``: False when the table has no birth-date or resident-ID column, so minors cannot be
    told apart (``rows`` is then 0, which does NOT mean there are none). ``basis``: the columns used.
    ``level`` and ``ref``: the record-level escalation and the rule behind it (PIPL Art 28, 31).
    """

    under_age: int
    as_of: str
    rows: int = Field(ge=0)
    rows_scanned: int = Field(ge=0)
    counted: bool
    basis: list[MinorBasis]
    level: Level
    ref: str

    def document(self) -> dict[str, Any]:
        """The keys a classification document carries per table:
        ``{"minors_under_<age>": rows, "minors": {...this model...}}``."""
        return {f"minors_under_{self.under_age}": self.rows, "minors": self.model_dump(mode="json")}


_MINORS_KEY = re.compile(r"minors_under_\d+")


class TableClassification(BaseModel):
    """One table: its columns' classifications and, where birth dates can be read, its minors.

    ``minors_under_<age>`` (an extra key, e.g. ``minors_under_14``) repeats ``minors.rows`` for
    readers that look for the age in the key.
    """

    model_config = ConfigDict(extra="allow")
    table: str
    rows: int
    columns: list[ColumnClassification]
    minors: MinorsCount | None = None

    @model_validator(mode="after")
    def _only_minors_extras(self) -> TableClassification:
        for k, v in (self.model_extra or {}).items():
            if not _MINORS_KEY.fullmatch(k) or not isinstance(v, int):
                raise ValueError(f"unexpected field {k}")
        return self


class NewSensitive(_Model):
    """A sensitive column the previous inventory did not have."""

    table: str
    column: str
    level: Level
    pi_type: str | None = None


class LevelChange(_Model):
    """A column whose level changed since the previous inventory."""

    table: str
    column: str
    old: Level
    new: Level
    pi_type: str | None = None


class Vanished(_Model):
    """A column of the previous inventory that this run did not see (its table was extracted)."""

    table: str
    column: str
    old_level: Level
    pi_type: str | None = None


class Drift(_Model):
    """The inventory's change since the source's previous run (``custody.classification.inventory``)."""

    new_sensitive: list[NewSensitive] = Field(default_factory=list)
    level_changes: list[LevelChange] = Field(default_factory=list)
    vanished: list[Vanished] = Field(default_factory=list)
    previous_run_key: str | None = None
    baseline: bool = False
    counts: dict[str, int] = Field(default_factory=dict)

    def any(self) -> bool:
        """True when anything drifted."""
        return bool(self.new_sensitive or self.level_changes or self.vanished)


class PolicyRef(_Model):
    """The classification policy a run was judged by."""

    standard: str
    version: str


class ClassificationDocument(Document):
    """``classification.json``: every column of every table, the minors counts, and the drift."""

    FORMAT = "custody-classification"
    format: Literal["custody-classification"] = "custody-classification"
    source: str
    run_key: str
    policy: PolicyRef
    as_of: str
    tables: list[TableClassification]
    drift: Drift | None = None

    def key(self) -> str:
        return document_key("classification", source=self.source, run_key=self.run_key)

    def columns_of(self, table: str) -> list[ColumnClassification]:
        """The classified columns of ``table`` (empty when the table is not in the document)."""
        return next((t.columns for t in self.tables if t.table == table), [])


# -- validation -------------------------------------------------------------------------------------
class CheckResult(_Frozen):
    """One check summed over every chunk of a table.

    ``evaluated``: non-null values checked; ``missing``: nulls; ``unexpected``: rows that failed
    (quarantined with ``reason``); ``gx_unexpected``: what Great Expectations counted, kept to show
    that GX and Custody agree; ``origin``: ``config`` or ``inventory`` (derived from classification).
    """

    expectation: str
    column: str
    check: str
    reason: str
    evaluated: int
    missing: int
    unexpected: int
    gx_unexpected: int
    success: bool
    origin: str = "config"
    args: dict[str, Any] = Field(default_factory=dict)


class TableValidation(_Model):
    """Validation of one table: counts, results, quarantine reasons and quarantine objects.

    ``failing_share`` = ``quarantined_rows / extracted_rows`` (0..1); ``passed``: it stayed within
    ``max_failing_share``.
    """

    table: str
    source_rows: int
    extracted_rows: int
    valid_rows: int
    quarantined_rows: int
    quarantined_at_extract: int = 0
    failing_share: float
    max_failing_share: float
    passed: bool
    results: list[CheckResult] = Field(default_factory=list)
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    quarantine: list[ObjectEntry] = Field(default_factory=list)


class ValidationDocument(Document):
    """``validation.json``: per table, counts and results; ``datadocs``: the Data Docs index,
    relative to the run's report folder."""

    FORMAT = "custody-validation"
    format: Literal["custody-validation"] = "custody-validation"
    source: str
    run_key: str
    engine: str = "great_expectations"
    tables: list[TableValidation]
    datadocs: str | None = None

    def key(self) -> str:
        return document_key("validation", source=self.source, run_key=self.run_key)

    def table(self, name: str) -> TableValidation | None:
        """The table named ``name``, or None."""
        return next((t for t in self.tables if t.table == name), None)

    def objects(self) -> list[ObjectEntry]:
        """The quarantine objects validation wrote."""
        return [q for t in self.tables for q in t.quarantine]


# -- backup -----------------------------------------------------------------------------------------
class StoreCopy(_Model):
    """One store's copy of a snapshot: objects uploaded, reused after read-back, or repaired."""

    location: str
    uploaded: int
    reused: int
    repaired: int
    bytes: int
    snapshot_sha256: str


class KeyStoreBackup(_Model):
    """The encrypted key-store export written beside the snapshot (``custody.crypto.keystore``)."""

    key: str
    object_id: str
    sha256: str
    bytes: int
    keys: int
    exported_at: str
    expires_at: str
    stores: list[str] = Field(default_factory=list)
    #: Per store: ``{"expired": [...keys], "deleted": [...], "kept": n}`` of the expired exports removed.
    pruned: list[dict[str, Any]] = Field(default_factory=list)


class BackupDocument(Document):
    """``backup.json``: where the run's snapshot went and what each store did."""

    FORMAT = "custody-backup"
    format: Literal["custody-backup"] = "custody-backup"
    source: str
    run_key: str
    snapshot_key: str
    objects: int
    stores: list[StoreCopy]
    key_store: KeyStoreBackup | None = None

    def key(self) -> str:
        return document_key("backup", source=self.source, run_key=self.run_key)
