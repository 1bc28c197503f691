"""Dates, timestamps and times from a database's text, exactly, and naive times into UTC.

The text renderings these parse are the databases' own: PostgreSQL in an ISO ``DateStyle``
(``2024-01-01 08:00:00.123456+00``, ``infinity``, ``0044-03-15 BC``, ``24:00:00``, ``timetz``
with its offset), MySQL/MariaDB ``CAST(... AS CHAR)`` (``0000-00-00``, ``-838:59:59.000000``)
and whatever text a SQLite cell holds. A text that has no exact Arrow value raises
``custody.sources.quarantine.Rejected`` naming the reason (``zero_date``, ``invalid_date``,
``out_of_range``, ``precision_loss``, ``invalid_time``): nothing is rounded, wrapped or guessed.
Arrow's own strict parsers (``custody.sources.sqlvalues``) take every well-formed column first;
these run per value only where those fail, to name each reason.

Naive timestamps are wall-clock times in the source's configured zone (``sources.yaml``
``timezone``); ``naive_to_utc`` converts them and reports a time in a daylight-saving gap
(``nonexistent_local_time``) or overlap (``ambiguous_local_time``) instead of picking one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from custody.sources.quarantine import Rejected

if TYPE_CHECKING:
    from custody.sources.sqltypes import ColumnPlan

UTC_TS = pa.timestamp("us", tz="UTC")
_DATE_TEXT = re.compile(r"([0-9]{4,})-([0-9]{2})-([0-9]{2})")
_MIDNIGHT = re.compile(r"(?:[ T]00:00(?::00(?:\.0*)?)?)?")
_TIMESTAMP_TEXT = re.compile(
    r"([0-9]{4,})-([0-9]{2})-([0-9]{2})"
    r"(?:[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2})?)?)?")
_TIME_TEXT = re.compile(
    r"(-)?([0-9]{2,3}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
    r"([+-][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2})?)?)?")


def _fraction_us(digits: str | None) -> int:
    """Microseconds of a fractional-seconds text; more than 6 digits only when the rest are zeros."""
    if not digits:
        return 0
    if len(digits) > 6 and digits[6:].strip("0"):
        raise Rejected("precision_loss")
    return int(digits[:6].ljust(6, "0"))


def _offset(text: str | None) -> dt.timedelta | None:
    """``Z`` / ``+08`` / ``+05:30`` / ``-0330`` / ``+05:30:15`` as a timedelta, None without one."""
    if not text:
        return None
    if text == "Z":
        return dt.timedelta(0)
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes, seconds = int(digits[0:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    if hours > 15 or minutes > 59 or seconds > 59:
        raise Rejected("invalid_date")
    return sign * dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _special_temporal(s: str) -> None:
    """Raise for the renderings with no exact Arrow value: infinity, BC dates, zero dates."""
    low = s.lower()
    if low in ("infinity", "-infinity", "+infinity") or low.endswith(" bc"):
        raise Rejected("out_of_range")
    if s.startswith("0000-00-00"):
        raise Rejected("zero_date")


def _ymd(year: str, month: str, day: str) -> dt.date:
    if len(year) > 4 or year == "0000":
        raise Rejected("out_of_range")
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        raise Rejected("invalid_date") from None


def parse_date_text(text: str) -> dt.date:
    """The date of a database's text (``YYYY-MM-DD``; a midnight time part, as SQLite may hold, is
    accepted). Raises ``Rejected`` with ``zero_date``, ``out_of_range`` or ``invalid_date``."""
    _special_temporal(text)
    m = _DATE_TEXT.match(text)
    if not m or not _MIDNIGHT.fullmatch(text, m.end()):
        raise Rejected("invalid_date")
    return _ymd(*m.groups())


def parse_timestamp_text(text: str) -> dt.datetime:
    """A timestamp text as a datetime: naive when the text has no offset, else aware (UTC).

    Raises ``Rejected`` with ``zero_date``, ``out_of_range`` (infinity, BC, year 0 or above 9999),
    ``precision_loss`` (sub-microsecond digits) or ``invalid_date``.
    """
    _special_temporal(text)
    m = _TIMESTAMP_TEXT.fullmatch(text)
    if not m:
        raise Rejected("invalid_date")
    year, month, day, hh, mm, ss, frac, off = m.groups()
    date = _ymd(year, month, day)
    try:
        clock = dt.time(int(hh or 0), int(mm or 0), int(ss or 0), _fraction_us(frac))
    except ValueError:
        raise Rejected("invalid_date") from None
    value = dt.datetime.combine(date, clock)
    offset = _offset(off)
    if offset is None:
        return value
    try:
        return (value - offset).replace(tzinfo=dt.UTC)
    except OverflowError:
        raise Rejected("out_of_range") from None


def parse_time_text(text: str) -> dt.time:
    """A time of day from its text; an offset (PostgreSQL ``timetz``) is normalised to UTC.

    Raises ``Rejected`` with ``out_of_range`` (negative, 24:00 and above: MariaDB durations),
    ``precision_loss`` or ``invalid_time``.
    """
    m = _TIME_TEXT.fullmatch(text)
    if not m:
        raise Rejected("invalid_time")
    neg, hh, mm, ss, frac, off = m.groups()
    hours, minutes, seconds = int(hh), int(mm), int(ss or 0)
    if minutes > 59 or seconds > 59:
        raise Rejected("invalid_time")
    if neg or hours > 23:
        raise Rejected("out_of_range")
    micro = _fraction_us(frac)
    value = dt.datetime(2000, 1, 2, hours, minutes, seconds, micro)
    try:
        offset = _offset(off)
    except Rejected:
        raise Rejected("invalid_time") from None
    if offset is not None:
        value -= offset
    return value.time()



def localize(v: dt.datetime, zone: str | None) -> tuple[dt.datetime | None, str | None]:
    """A naive wall-clock time in ``zone`` as an aware UTC datetime, or the DST reason."""
    if zone in (None, "UTC", "Etc/UTC"):
        return v.replace(tzinfo=dt.UTC), None
    tz = ZoneInfo(zone)
    local = v.replace(tzinfo=tz)
    back = local.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
    if back != v:
        return None, "nonexistent_local_time"
    if local.utcoffset() != v.replace(fold=1, tzinfo=tz).utcoffset():
        return None, "ambiguous_local_time"
    return local.astimezone(dt.UTC), None


def naive_to_utc(naive: pa.Array, plan: ColumnPlan, bad: dict[int, str]) -> tuple[pa.Array, dict[int, str]]:
    """Naive wall-clock timestamps in ``plan.source_zone`` -> UTC; DST gaps and overlaps are
    reported per value (``nonexistent_local_time`` / ``ambiguous_local_time``)."""
    zone = plan.source_zone if plan.naive else "UTC"
    if zone in (None, "UTC", "Etc/UTC"):
        return naive.cast(UTC_TS), bad
    try:
        return pc.assume_timezone(naive, timezone=zone, ambiguous="raise", nonexistent="raise").cast(UTC_TS), bad
    except pa.ArrowInvalid:
        pass
    out = []
    for i, v in enumerate(naive.to_pylist()):
        if v is None:
            out.append(None)
            continue
        local, reason = localize(v, zone)
        if reason:
            bad[i] = reason
        out.append(local)
    return pa.array(out, UTC_TS), bad
