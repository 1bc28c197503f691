"""Validation rules: which checks run on which columns of a table.

Rules name columns the way config does (``customer_id``); they match data columns through
``custody.naming.column_key``, so the same rule hits ``customer_id`` (PostgreSQL Chinook) and
``CustomerId`` (SQLite/MySQL Chinook).

Example (YAML shape the config loader can hand to ``TableRules.model_validate``)::

    table: customer
    key_columns: [customer_id]
    max_failing_share: 0.05
    checks:
      - {column: email, check: not_null}
      - {column: email, check: email}
      - {column: phone, check: cn_mobile}
      - {column: resident_id, check: cn_resident_id}
      - {column: account_number, check: cn_bank_card}
      - {column: uscc, check: uscc}
      - {column: postal_code, check: regex, args: {pattern: '^[0-9]{6}$'}}
      - {column: credit_limit, check: between, args: {min: 0, max: 1000000}}
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from custody.naming import column_key

__all__ = [
    "CHECK_NAMES",
    "CheckName",
    "CheckOrigin",
    "ColumnCheck",
    "ColumnNotFoundError",
    "RulesError",
    "TableRules",
]

CheckName = Literal[
    "not_null", "unique", "email", "cn_mobile", "cn_resident_id", "cn_bank_card", "uscc", "regex", "between"
]
#: Where a check comes from: ``config`` (``sources.yaml``) or ``inventory`` (derived from the
#: classification by ``custody.validation.derive.derive_rules``).
CheckOrigin = Literal["config", "inventory"]
CHECK_NAMES: tuple[str, ...] = get_args(CheckName)

# Allowed ``args`` keys per check, and the required ones.
_ALLOWED_ARGS: dict[str, frozenset[str]] = {
    "not_null": frozenset(),
    "unique": frozenset(),
    "email": frozenset(),
    "cn_resident_id": frozenset(),
    "cn_bank_card": frozenset(),
    "uscc": frozenset(),
    "cn_mobile": frozenset({"strict"}),
    "regex": frozenset({"pattern"}),
    "between": frozenset({"min", "max"}),
}
_BOUND_TYPES = (int, float, Decimal, _dt.date, str)  # datetime is a date subclass


class RulesError(ValueError):
    """Rules do not fit the data (or each other). Messages name tables, columns and checks only."""


class ColumnNotFoundError(RulesError):
    """A rule names a column the data does not have.

    Attributes: ``table`` (rules table name), ``column`` (column as written in the rule),
    ``check`` (rule name), ``available`` (data column names, in schema order).
    """

    def __init__(self, table: str, column: str, check: str, available: list[str]):
        self.table, self.column, self.check, self.available = table, column, check, list(available)
        super().__init__(
            f"table {table!r}: column {column!r} (check {check!r}, matched by key {column_key(column)!r}) "
            f"is not in the data; columns present: {', '.join(available) or '(none)'}"
        )

    def __reduce__(self):
        return (type(self), (self.table, self.column, self.check, self.available))


class ColumnCheck(BaseModel):
    """One check on one column.

    ``column``: the column name as config writes it, matched by ``column_key``.
    ``check``: one of ``CHECK_NAMES``.
    ``args``: per check -
      ``regex``: ``{"pattern": str}`` (required; Python ``re`` syntax, searched anywhere in the
      value, anchor with ``^...$`` for a full match);
      ``between``: ``{"min": x, "max": y}`` (at least one; inclusive; numbers for numeric
      columns, ``date``/ISO strings for dates, ``datetime``/ISO strings for timestamps);
      ``cn_mobile``: optional ``{"strict": bool}`` (default ``False``, see
      ``custody.validation.checks``); every other check takes no args.
    ``origin``: ``config`` (written in ``sources.yaml``) or ``inventory`` (derived from the column's
      classification). An inventory check whose column is absent from a chunk, or whose type does
      not suit the check, is skipped instead of failing the chunk (the drift report names vanished
      columns). ``origin`` is not part of ``identity()``.
    Raises ``pydantic.ValidationError`` for unknown checks, unknown or missing args, a pattern that
    does not compile, or ``min > max``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str = Field(min_length=1)
    check: CheckName
    args: dict[str, Any] = Field(default_factory=dict)
    origin: CheckOrigin = "config"

    @model_validator(mode="after")
    def _check_args(self) -> ColumnCheck:
        allowed = _ALLOWED_ARGS[self.check]
        unknown = sorted(set(self.args) - allowed)
        if unknown:
            raise ValueError(f"check {self.check!r} does not take args {unknown}; allowed: {sorted(allowed)}")
        if self.check == "regex":
            pattern = self.args.get("pattern")
            if not isinstance(pattern, str) or not pattern:
                raise ValueError("check 'regex' needs args.pattern (a non-empty string)")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"args.pattern does not compile: {exc.msg}") from None
        elif self.check == "between":
            lo, hi = self.args.get("min"), self.args.get("max")
            if lo is None and hi is None:
                raise ValueError("check 'between' needs args.min and/or args.max")
            for name, bound in (("min", lo), ("max", hi)):
                if bound is not None and (isinstance(bound, bool) or not isinstance(bound, _BOUND_TYPES)):
                    raise ValueError(f"args.{name} must be a number, date, datetime or ISO string")
            # Strings are compared only after conversion to the column type (bind_rules).
            if lo is not None and hi is not None and not isinstance(lo, str) and not isinstance(hi, str):
                try:
                    if lo > hi:
                        raise ValueError("args.min is greater than args.max")
                except TypeError:
                    pass  # e.g. a date and a number; rejected against the column type later
        elif self.check == "cn_mobile" and not isinstance(self.args.get("strict", False), bool):
            raise ValueError("args.strict must be a boolean")
        return self

    @property
    def key(self) -> str:
        """``column_key(column)``: the form used to match data columns."""
        return column_key(self.column)

    def identity(self) -> tuple[str, str]:
        """``(column key, check)``: a table has at most one check of a kind per column, so the
        quarantine reason ``<check>:<column>`` names exactly one rule (combine several regex
        patterns into one)."""
        return (self.key, self.check)


class TableRules(BaseModel):
    """All checks for one table.

    ``table``: the table name (used in messages and reports).
    ``checks``: column checks, run in this order (quarantine reasons keep this order).
    ``key_columns``: the row key (config spelling). When given, the key tuple must be unique
      within the table, across chunks (see ``KeyTracker``); a one-column key and an explicit
      ``unique`` check on that column are the same rule. Rows whose key has a null part are not
      tracked (use ``not_null`` to reject them).
    ``max_failing_share``: largest allowed share (0..1) of quarantined rows in the whole table,
      enforced by ``enforce_threshold``.
    Raises ``pydantic.ValidationError`` when a column has two checks of the same kind (compared
    by column key, whatever the args) or a key column repeats.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str = Field(min_length=1)
    checks: list[ColumnCheck] = Field(default_factory=list)
    key_columns: list[str] = Field(default_factory=list)
    max_failing_share: float = Field(default=0.05, ge=0.0, le=1.0)

    @field_validator("key_columns")
    @classmethod
    def _distinct_keys(cls, value: list[str]) -> list[str]:
        keys = [column_key(c) for c in value]
        if len(set(keys)) != len(keys):
            raise ValueError("key_columns repeat a column (compared by column key)")
        if any(not k for k in keys):
            raise ValueError("key_columns contain an empty column name")
        return value

    @model_validator(mode="after")
    def _distinct_checks(self) -> TableRules:
        seen: set[tuple[str, str]] = set()
        for check in self.checks:
            ident = check.identity()
            if ident in seen:
                raise ValueError(f"duplicate check {check.check!r} on column {check.column!r}")
            seen.add(ident)
        return self
