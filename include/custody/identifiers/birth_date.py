"""Dates of birth: the plausible range and the written forms read, shared by the resident ID rule
(GB 11643 digits 7-14) and the ``birth_date`` detector.

Decisions:

- **Earliest plausible birth date: 1880-01-01**, for recognition and for validity alike. Resident
  identity cards were first issued in 1984-1985 (Regulations on Resident Identity Cards, 1985) to
  every resident aged 16 and over, including people then in their late 90s and 100s, and the numbers
  are lifelong (Resident Identity Card Law, Art 3), so numbers with birth years in the 1880s and
  1890s are real and stay in customer records (heirs, estates, long-closed accounts). A floor is
  still needed: the birth date is half of what tells a resident ID from a random 18-digit run, and
  no one born before 1880 was plausibly alive when the first cards were issued. The previous
  validation floor of 1900 rejected real numbers of people born 1880-1899.
- **Latest: today** (the caller's ``today``, default the local date). A birth date in the future
  is a data error, neither recognised nor valid.
- Written forms read (after NFKC and trimming): ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD``,
  ``YYYY年M月D日`` (month and day with one or two digits, anything after a space or ``T`` ignored, so
  timestamps count), and ``YYYYMMDD``. The date must exist in the Gregorian calendar (ISO 8601).

Canonical form (pseudonyms, comparisons): ISO 8601 ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from custody.identifiers._text import as_text, clean

__all__ = ["EARLIEST", "SOURCE", "canonical", "is_valid", "parse", "plausible", "plausible_parts", "recognise"]

SOURCE = "Regulations on Resident Identity Cards (1985); Resident Identity Card Law Art 3; ISO 8601"
#: Earliest plausible date of birth (see the module docstring).
EARLIEST = datetime.date(1880, 1, 1)

_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?$|^(\d{4})(\d{2})(\d{2})$")


def plausible(born: datetime.date, today: datetime.date | None = None) -> bool:
    """True when ``born`` lies in ``[EARLIEST, today]`` (``today`` default: the local date)."""
    return EARLIEST <= born <= (today or datetime.date.today())


def from_parts(year: int, month: int, day: int, today: datetime.date | None = None) -> datetime.date | None:
    """The date ``year-month-day`` when it exists and is :func:`plausible`, else None."""
    try:
        born = datetime.date(year, month, day)
    except ValueError:
        return None
    return born if plausible(born, today) else None


def parse(value: Any) -> datetime.date | None:
    """The calendar date written in ``value`` (forms in the module docstring), plausible or not.

    ``value``: ``str``, an integer ``YYYYMMDD``, or a ``datetime.date``/``datetime``. None when no
    date is read. Never raises.
    """
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = as_text(value)
    if text is None:
        return None
    m = _DATE.match(clean(text))
    if m is None:
        return None
    y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    try:
        return datetime.date(int(y), int(mo), int(d))
    except ValueError:
        return None


def plausible_parts(year: Any, month: Any, day: Any, today: datetime.date | None = None) -> Any:
    """:func:`from_parts` is not None, elementwise over NumPy integer arrays: the date exists and
    lies in ``[EARLIEST, today]`` (``today`` default: the local date). Returns a bool array."""
    from custody.identifiers._columns import real_dates

    today = today or datetime.date.today()
    ymd = year * 10_000 + month * 100 + day
    lo = EARLIEST.year * 10_000 + EARLIEST.month * 100 + EARLIEST.day
    hi = today.year * 10_000 + today.month * 100 + today.day
    return real_dates(year, month, day) & (ymd >= lo) & (ymd <= hi)


def is_valid(value: Any, *, today: datetime.date | None = None) -> bool:
    """True when ``value`` holds a real date of birth between 1880-01-01 and ``today``. Never raises."""
    born = parse(value)
    return born is not None and plausible(born, today)


def recognise(value: Any, *, today: datetime.date | None = None) -> float:
    """Quality 0..1 of ``value`` as a date of birth for classification: 1.0 valid, else 0.

    The same rule as :func:`is_valid`; a column of dates is a birth-date column only with header
    evidence as well (any date could be anything).
    """
    return 1.0 if is_valid(value, today=today) else 0.0


def canonical(value: Any) -> str | None:
    """``YYYY-MM-DD`` of the date read from ``value``; None when no date is read."""
    born = parse(value)
    return None if born is None else born.isoformat()
