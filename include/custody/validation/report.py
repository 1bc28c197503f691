"""Validation outcomes: per chunk, per table, and the failing-share threshold.

Everything here except ``ChunkValidation.valid`` / ``.quarantine`` / ``.source`` (the data itself) holds only
table names, column names, rule names and counts, so it may go to logs, XCom and reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from custody.validation.rules import TableRules

__all__ = [
    "QUARANTINE_REASONS_COLUMN",
    "CheckTotal",
    "ChunkSummary",
    "ChunkValidation",
    "ExpectationSummary",
    "TableValidationReport",
    "ValidationThresholdExceeded",
    "enforce_threshold",
    "summarize",
]

QUARANTINE_REASONS_COLUMN = "_quarantine_reasons"


class ExpectationSummary(BaseModel):
    """Outcome of one check on one chunk - counts only, never values.

    ``expectation``: GX expectation type (``expect_column_values_to_be_unique``, ...).
    ``column``: data column name as spelled in the chunk (``a+b`` for a compound key).
    ``check``: rule name (``not_null``, ``unique``, ...). ``reason``: ``<check>:<column>``, the
      string used in ``_quarantine_reasons``.
    ``evaluated``: rows in the chunk. ``missing``: null rows GX skipped (0 for ``not_null``, which
      counts nulls as unexpected).
    ``unexpected``: rows failing this check - exactly the number of quarantined rows carrying
      ``reason``. For ``unique`` this is Custody's count (second and later occurrences within the
      chunk plus keys seen in earlier chunks), not GX's, which flags every occurrence.
    ``gx_unexpected``: the count GX reported (equals ``unexpected`` except for ``unique``).
    ``success``: ``unexpected == 0``.
    ``origin``: ``config`` (``sources.yaml``) or ``inventory`` (derived from the classification).
    ``args``: the check's arguments from the rules (``pattern``; ``min``/``max`` converted to the
      column type; ``strict``), so Data Docs can show the rule; they come from config, never data.
    """

    model_config = ConfigDict(frozen=True)

    expectation: str
    column: str
    check: str
    reason: str
    evaluated: int = Field(ge=0)
    missing: int = Field(ge=0)
    unexpected: int = Field(ge=0)
    gx_unexpected: int = Field(ge=0)
    success: bool
    origin: str = "config"
    args: dict[str, Any] = Field(default_factory=dict)


class ChunkSummary(BaseModel):
    """The value-free part of a ``ChunkValidation``, safe for XCom (``model_dump(mode="json")``)."""

    model_config = ConfigDict(frozen=True)

    table: str
    rows_in: int = Field(ge=0)
    rows_valid: int = Field(ge=0)
    rows_quarantined: int = Field(ge=0)
    results: list[ExpectationSummary]


@dataclass(frozen=True)
class ChunkValidation:
    """Result of ``validate_chunk``.

    ``valid``: rows passing every check, original schema (incl. metadata), original order;
      filtered from the input on first use (the pipeline keeps only the quarantine and the counts,
      and a copy of every valid row cost a tenth of a validation).
    ``quarantine``: failing rows in original order, original columns plus
      ``_quarantine_reasons: list<string>`` (non-null, >= 1 entry per row, ``<check>:<column>``
      in rule order).
    ``results``: one ``ExpectationSummary`` per check, in rule order.
    ``rows_in == rows_valid + rows_quarantined`` always holds.
    ``seconds``: wall time of the call (GX run included).
    ``quarantine_positions``: input row positions of the ``quarantine`` rows (NumPy int64).
    """

    table: str
    quarantine: pa.Table
    results: list[ExpectationSummary]
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    seconds: float = field(default=0.0, compare=False)
    #: Row positions (int64, ascending) of the quarantined rows in the input, so a caller that
    #: validated several chunks together can split ``quarantine`` back per chunk.
    quarantine_positions: Any = field(default=None, compare=False, repr=False)
    #: The validated input and the bool mask of its failing rows, from which ``valid`` is taken.
    source: Any = field(default=None, compare=False, repr=False)
    failing: Any = field(default=None, compare=False, repr=False)

    @cached_property
    def valid(self) -> pa.Table:
        """The rows passing every check (see the class docstring)."""
        return self.source.filter(pa.array(~self.failing))

    def summary(self) -> ChunkSummary:
        """Counts only, without the two tables."""
        return ChunkSummary(
            table=self.table,
            rows_in=self.rows_in,
            rows_valid=self.rows_valid,
            rows_quarantined=self.rows_quarantined,
            results=list(self.results),
        )


class CheckTotal(BaseModel):
    """One check summed over all chunks of a table (fields as in ``ExpectationSummary``)."""

    model_config = ConfigDict(frozen=True)

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


class TableValidationReport(BaseModel):
    """Validation of a whole table: sums over its chunks.

    ``failing_share``: ``rows_quarantined / rows_in`` (0.0 for an empty table), a fraction 0..1.
    ``checks``: per reason, in first-seen order.
    """

    model_config = ConfigDict(frozen=True)

    table: str
    chunks: int
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    failing_share: float
    checks: list[CheckTotal]


def summarize(
    results_per_chunk: Iterable[ChunkValidation | ChunkSummary], *, table: str | None = None
) -> TableValidationReport:
    """Sum chunk outcomes of one table into a ``TableValidationReport``.

    ``results_per_chunk``: ``ChunkValidation`` or ``ChunkSummary`` objects (mixing is fine).
    ``table``: required when there are no chunks; otherwise must match them if given.
    Raises ``ValueError`` when chunks belong to different tables, when no table name can be
    determined, or when a chunk's counts do not reconcile.
    """
    chunks = [c.summary() if isinstance(c, ChunkValidation) else c for c in results_per_chunk]
    names = {c.table for c in chunks} | ({table} if table is not None else set())
    if len(names) != 1:
        raise ValueError(
            "summarize needs chunks of exactly one table; got "
            + (", ".join(sorted(names)) if names else "no chunks and no table name")
        )
    totals: dict[str, dict] = {}
    rows_in = rows_valid = rows_quarantined = 0
    for chunk in chunks:
        if chunk.rows_in != chunk.rows_valid + chunk.rows_quarantined:
            raise ValueError(f"table {chunk.table!r}: chunk counts do not reconcile")
        rows_in += chunk.rows_in
        rows_valid += chunk.rows_valid
        rows_quarantined += chunk.rows_quarantined
        for res in chunk.results:
            acc = totals.setdefault(
                res.reason,
                dict(
                    expectation=res.expectation,
                    column=res.column,
                    check=res.check,
                    reason=res.reason,
                    evaluated=0,
                    missing=0,
                    unexpected=0,
                    gx_unexpected=0,
                    origin=res.origin,
                    args=dict(res.args),
                ),
            )
            for key in ("evaluated", "missing", "unexpected", "gx_unexpected"):
                acc[key] += getattr(res, key)
    return TableValidationReport(
        table=names.pop(),
        chunks=len(chunks),
        rows_in=rows_in,
        rows_valid=rows_valid,
        rows_quarantined=rows_quarantined,
        failing_share=(rows_quarantined / rows_in) if rows_in else 0.0,
        checks=[CheckTotal(**acc, success=acc["unexpected"] == 0) for acc in totals.values()],
    )


class ValidationThresholdExceeded(Exception):
    """Too large a share of a table's rows failed validation.

    Attributes: ``table``, ``share`` and ``limit`` (fractions 0..1), ``rows_in``,
    ``rows_quarantined``. The message carries those only.
    """

    def __init__(self, table: str, share: float, limit: float, rows_in: int, rows_quarantined: int):
        self.table, self.share, self.limit = table, share, limit
        self.rows_in, self.rows_quarantined = rows_in, rows_quarantined
        super().__init__(
            f"table {table!r}: {share:.2%} of rows failed validation "
            f"({rows_quarantined} of {rows_in}), limit {limit:.2%}"
        )

    def __reduce__(self):
        return (type(self), (self.table, self.share, self.limit, self.rows_in, self.rows_quarantined))


def enforce_threshold(report: TableValidationReport, rules: TableRules) -> TableValidationReport:
    """Raise ``ValidationThresholdExceeded`` if ``report.failing_share > rules.max_failing_share``.

    Returns ``report`` unchanged otherwise (a share exactly at the limit passes). Raises
    ``ValueError`` if the report and the rules name different tables.
    """
    if report.table != rules.table:
        raise ValueError(f"report is for table {report.table!r}, rules for {rules.table!r}")
    if report.failing_share > rules.max_failing_share:
        raise ValidationThresholdExceeded(
            report.table,
            report.failing_share,
            rules.max_failing_share,
            report.rows_in,
            report.rows_quarantined,
        )
    return report
