"""Citizen identity numbers of the PRC (公民身份号码), GB 11643-1999 and first-generation 15-digit.

Structure (GB 11643-1999 clause 5; sub-clause numbers unverified): address code (6 digits, the
county-level division of GB/T 2260 where the holder was first registered) + birth date
``YYYYMMDD`` (8) + sequence (3, odd for men) + check character (1), ISO 7064 MOD 11-2 over the
first 17 digits, ``0``-``9`` or ``X`` for ten.
First-generation numbers (GB 11643-1989) have 15 digits: address code, ``YYMMDD`` (years 19YY) and
sequence, no check character. The checksum comes from ``stdnum.cn.ric.calc_check_digit`` and the
address table from python-stdnum's GB/T 2260 data; stdnum's own ``validate`` is not used because it
rejects address codes abolished later (see below).

Decisions (also in ``docs/identifiers.md``):

- **Normalisation**: NFKC (full-width digits and ``Ｘ``), surrounding spaces dropped, Excel's ``="…"``
  unwrapped, spaces and dashes between digit groups removed, upper-cased. A lower-case ``x`` is the
  check character ``X`` written carelessly: accepted (GB 11643-1999 writes it as the capital
  Roman numeral ten; the canonical form is upper-case).
- **First-generation 15-digit numbers: recognised as PI, not valid as a current identifier.** They
  still identify a person (old records hold them), so classification protects them; but the 18-digit
  number replaced them (GB 11643-1999; second-generation cards under the Resident Identity Card Law,
  in force 2004-01-01) and first-generation cards stopped being valid identity documents on
  2013-01-01 (the Law as amended on 2011-10-29, transitional article; article number unverified).
  Their canonical form stays the 15 digits: the 18-digit upgrade (``19`` inserted, check character
  added) is usually but not always the number the holder was issued, and a pseudonym must not
  create a link the data does not hold.
- **Birth date**: a real date between 1880-01-01 and today (:mod:`custody.identifiers.birth_date`);
  15-digit numbers are read as 19YY.
- **Abolished or unknown address codes: recognised (lower quality) and valid.** The number is the
  holder's for life (Resident Identity Card Law Art 3), so cards keep the codes of counties merged
  or renamed later (Beijing Chongwen 110103, merged in 2010). Validation does not look the code up.
  Classification grades it: 1.0 code known for the birth year, 0.8 only its province known, 0.6
  province unknown; a 15-digit number scores 0.85 with a known code and 0.3 without.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from typing import Any

from custody.identifiers import birth_date
from custody.identifiers._text import GROUP_SEPARATORS, as_text, compact

__all__ = [
    "SEPARATORS", "SOURCE", "canonical", "is_valid", "is_valid_column", "normalise", "recognise", "region_quality",
]

SOURCE = "GB 11643-1999 (clause 5); GB 11643-1989 (15 digits); GB/T 2260; Resident Identity Card Law"
#: Characters removed between digit groups (Python ``re`` and RE2 character class).
SEPARATORS = GROUP_SEPARATORS

_SEP = re.compile(SEPARATORS)
_SECOND = re.compile(r"\d{17}[\dX]")
_FIRST = re.compile(r"\d{15}")


def normalise(value: Any) -> str | None:
    """The number as rules read it: NFKC, trimmed, ``="…"`` unwrapped, separators removed,
    upper-case. ``value``: ``str`` or an integer; None for other types or blank text."""
    text = as_text(value)
    if text is None:
        return None
    return compact(text, _SEP).upper() or None


@lru_cache(maxsize=8192)
def region_quality(code: str, year: int) -> float:
    """1.0 if the GB/T 2260 table knows the 6-digit address ``code`` in ``year``, 0.8 if only its
    province, else 0.6. Keyed by (address code, year), which identifies no one; cached because
    address codes repeat."""
    from stdnum import numdb
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError

    try:
        ric.get_birth_place(f"{code}{year:04d}01010000")
        return 1.0
    except (ValidationError, KeyError, ValueError):
        pass  # stdnum 2.2 raises KeyError for a known province with an unknown county
    info = {k for _part, props in numdb.get("cn/loc").info(code) for k in props}
    return 0.8 if "province" in info else 0.6


def _born(number: str, today: datetime.date | None) -> datetime.date | None:
    if len(number) == 18:
        return birth_date.from_parts(int(number[6:10]), int(number[10:12]), int(number[12:14]), today)
    return birth_date.from_parts(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]), today)


def _check_ok(number: str) -> bool:
    from stdnum.cn import ric

    return ric.calc_check_digit(number) == number[17]


def recognise(value: Any, *, today: datetime.date | None = None) -> float:
    """Quality 0..1 of ``value`` as a resident identity number, for classification.

    18 characters: 0 for a wrong check character or an impossible birth date, else the address
    code's :func:`region_quality`. 15 digits: 0 for an impossible birth date, 0.85 with an address
    code known for the birth year, 0.3 otherwise. Anything else 0. Never raises.
    """
    number = normalise(value)
    if number is None:
        return 0.0
    if _SECOND.fullmatch(number):
        if not _check_ok(number):
            return 0.0
        born = _born(number, today)
        return 0.0 if born is None else region_quality(number[:6], born.year)
    if _FIRST.fullmatch(number):
        born = _born(number, today)
        if born is None:
            return 0.0
        return 0.85 if region_quality(number[:6], born.year) == 1.0 else 0.3
    return 0.0


def is_valid(value: Any, *, today: datetime.date | None = None) -> bool:
    """True when ``value`` is a current (18-character) resident identity number.

    Check character right (MOD 11-2), birth date between 1880-01-01 and ``today`` (default: the
    local date); the address code is not looked up; 15-digit numbers are not current. ``value``:
    ``str`` or an integer. Never raises.
    """
    number = normalise(value)
    if number is None or not _SECOND.fullmatch(number):
        return False
    return _check_ok(number) and _born(number, today) is not None


def is_valid_column(values: Any, *, today: datetime.date | None = None) -> Any:
    """:func:`is_valid` over a whole column (pandas Series, Arrow or chunked array, list), as a
    NumPy bool array (null: False).

    Vectorised (:mod:`custody.identifiers._columns`): values stored as 18 ASCII characters (17
    digits and a digit or ``X``/``x``) are read as they are
    (:func:`~custody.identifiers._columns.shortcut`); the others get the shared preparation and an
    RE2 shape filter. Then the MOD 11-2 check character and the birth date as digit arithmetic;
    values the vectorised path does not read exactly (non-ASCII text other than full-width forms)
    go to :func:`is_valid`.
    """
    import numpy as np

    from custody.identifiers import _columns as col

    def decide(m):  # (k, 18) ASCII codes: 17 digits and a digit or "X"
        d = col.digits(m[:, 6:14])
        year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
        month, day = d[:, 4] * 10 + d[:, 5], d[:, 6] * 10 + d[:, 7]
        return (col.mod11_2_check(m) == m[:, 17]) & birth_date.plausible_parts(year, month, day, today)

    def general(arr):
        prep = col.prepare(arr, col.ASCII_GROUP_SEPARATORS, upper=True)
        out = np.zeros(len(arr), dtype=bool)
        rows = np.flatnonzero(col.matches(prep.text, r"^\d{17}[\dX]$"))
        if rows.size:
            out[rows] = decide(col.digit_matrix(prep.text, rows, 18))
        return out, prep.undecided

    def shortcut_decide(m, _rows):
        m = m.copy()
        m[m[:, 17] == ord("x"), 17] = ord("X")  # the preparation's upper-casing
        return decide(m)

    def fast(arr):
        return col.shortcut(arr, 18, _stored_form, shortcut_decide, general)

    return col.column_rule(values, fast, lambda v: is_valid(v, today=today))


def _stored_form(m: Any) -> Any:
    """Rows of a ``(k, 18)`` byte matrix holding 17 ASCII digits and a digit, ``X`` or ``x``: a
    second-generation number stored exactly as the rules read it (the preparation would change
    nothing but the case of ``x``)."""
    from custody.identifiers import _columns as col

    last = m[:, 17]
    return col.all_digits(m[:, :17]) & (col.is_digit(last) | (last == ord("X")) | (last == ord("x")))


def stored_canonically(values: Any) -> tuple[Any, Any]:
    """The rows of a string array (Arrow, or chunked) holding a second-generation number stored
    as the rules read it (18 ASCII characters: 17 digits and a digit, ``X`` or ``x``; no space,
    separator, full-width form or ``="…"``), as a NumPy index array, and their ``(k, 18)`` uint8
    matrix of character codes. Column code reads these without the shared preparation, which
    would leave them as they are; every other value needs it."""
    from custody.identifiers import _columns as col

    rows, matrix = col.fixed_width(values, 18)
    ok = _stored_form(matrix)
    return rows[ok], matrix[ok]


def canonical(value: Any) -> str | None:
    """Canonical text for pseudonyms: the normalised number (18 or 15 characters as written,
    ``X`` upper-case). Values that are not resident IDs get the same document form, so spellings
    of one malformed number still agree; None for null or blank."""
    return normalise(value)
