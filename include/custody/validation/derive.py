"""Validation rules derived from the inventory: identifier columns get their format check.

A column the classifier found to hold an identifier gets the custom GX expectation built on the
same validator family, whether or not ``sources.yaml`` names it, so a new ID column is checked
from the run the inventory first knows it (PIPL Art 8: quality of PI; GB/T 35273-2020 clause 7.2
accuracy). Explicit checks from config come first and win; a derived check of the same kind on
the same column (compared by ``column_key``) is not added, so a column has at most one check of
each kind.

| PI type (inventory) | check              | GX expectation ``expect_column_values_to_be_custody_*`` |
|---------------------|--------------------|---------------------------------------------------------|
| ``resident_id``     | ``cn_resident_id`` | ``..._cn_resident_id`` (GB 11643)                        |
| ``mobile_phone``    | ``cn_mobile``      | ``..._cn_mobile``                                        |
| ``email``           | ``email``          | ``..._email`` (RFC 5322 syntax)                          |
| ``bank_account``    | ``cn_bank_card``   | ``..._cn_bank_card`` (Luhn, ISO/IEC 7812)                |
| ``uscc``            | ``uscc``           | ``..._uscc`` (GB 32100)                                  |

Derived only when the classification is trustworthy enough that failures are data-quality
findings rather than a misreading of the column: ``confidence >= min_confidence`` and, where the
classifier validated values, ``validated_rate >= min_validated_rate`` (a bank-account column whose
numbers mostly fail Luhn holds account numbers, not card numbers, and gets no Luhn check; a column
classified from its header alone, with no values, gets nothing). ``bank_account`` columns found by
the IBAN detector are not card numbers either and are left to config.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from custody.validation.rules import ColumnCheck, TableRules

__all__ = ["DERIVED_CHECKS", "derive_rules", "derived_checks"]

#: PI type -> the check derived for it.
DERIVED_CHECKS: dict[str, str] = {
    "resident_id": "cn_resident_id",
    "mobile_phone": "cn_mobile",
    "email": "email",
    "bank_account": "cn_bank_card",
    "uscc": "uscc",
}
#: Detectors whose columns hold what the derived check validates (others: no derived check).
_DETECTORS: dict[str, frozenset[str]] = {
    "resident_id": frozenset({"cn_resident_id"}),
    "mobile_phone": frozenset({"cn_mobile"}),
    "email": frozenset({"email"}),
    "bank_account": frozenset({"bank_card"}),
    "uscc": frozenset({"cn_uscc"}),
}


def _evidence(col: Mapping[str, Any]) -> dict[str, Any]:
    ev = col.get("evidence") or {}
    if isinstance(ev, str):  # catalog rows store evidence as JSON text
        try:
            ev = json.loads(ev)
        except ValueError:
            ev = {}
    return ev if isinstance(ev, dict) else {}


def derived_checks(
    inventory_columns: Iterable[Mapping[str, Any]],
    *,
    table: str | None = None,
    min_confidence: float = 0.5,
    min_validated_rate: float = 0.9,
) -> list[ColumnCheck]:
    """The checks the inventory implies for one table, each with ``origin="inventory"``.

    ``inventory_columns``: classification columns of the table, either classification-document
    entries (``{"column", "pi_type", "confidence", "evidence": {...}}``) or catalog inventory rows
    (``{"table_name", "column_name", "pi_type", "confidence", "evidence": "<json>"}``); rows whose
    ``table_name`` differs from ``table`` are ignored, so a whole source's inventory may be passed.
    A column decided by a policy override (``evidence.override``) is trusted whatever its rates.
    Returns checks in input order; raises nothing for odd rows (they are skipped).
    """
    out: list[ColumnCheck] = []
    for col in inventory_columns:
        if table is not None and "table_name" in col and col["table_name"] != table:
            continue
        name = col.get("column") or col.get("column_name")
        pi_type = col.get("pi_type")
        check = DERIVED_CHECKS.get(pi_type or "")
        if not name or check is None:
            continue
        ev = _evidence(col)
        if not ev.get("override"):
            if float(col.get("confidence") or 0.0) < min_confidence:
                continue
            if ev.get("detector") not in _DETECTORS[pi_type]:  # type: ignore[index]
                continue
            rate = ev.get("validated_rate")
            if rate is not None and float(rate) < min_validated_rate:
                continue
        out.append(ColumnCheck(column=name, check=check, origin="inventory"))  # type: ignore[arg-type]
    return out


def derive_rules(
    table_cfg_checks: Iterable[Mapping[str, Any] | ColumnCheck],
    inventory_columns: Iterable[Mapping[str, Any]],
    key_columns: Iterable[str] | None,
    max_failing_share: float,
    *,
    table: str,
    min_confidence: float = 0.5,
    min_validated_rate: float = 0.9,
) -> TableRules:
    """Merge a table's explicit checks with the checks its inventory implies.

    ``table_cfg_checks``: the table's ``sources.yaml`` checks (``CheckConfig.model_dump()`` dicts or
    ``ColumnCheck``), kept first and in order with ``origin="config"``.
    ``inventory_columns``: see :func:`derived_checks` (this run's classification document columns, or
    the catalog's inventory rows of the source). ``key_columns``: the row key (None: none).
    ``max_failing_share``: 0..1, as in :class:`TableRules`. ``table``: the table name.
    Returns :class:`TableRules` with one check per ``(column_key, check)``: a derived check that
    repeats an explicit one is dropped. Raises ``pydantic.ValidationError`` for bad explicit checks.
    """
    checks = [
        c if isinstance(c, ColumnCheck) else ColumnCheck.model_validate(dict(c)) for c in table_cfg_checks
    ]
    seen = {c.identity() for c in checks}
    for c in derived_checks(
        inventory_columns, table=table, min_confidence=min_confidence, min_validated_rate=min_validated_rate
    ):
        ident = c.identity()
        if ident in seen:
            continue
        seen.add(ident)
        checks.append(c)
    return TableRules(
        table=table,
        checks=checks,
        key_columns=list(key_columns or ()),
        max_failing_share=max_failing_share,
    )
