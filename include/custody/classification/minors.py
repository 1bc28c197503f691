"""Record-level escalation for minors: read each row's birth date and count the rows of minors.

PIPL Art 28 makes all personal information of a minor under 14 sensitive, and Art 31 asks for a
guardian's consent and separate processing rules. A column-level level cannot express that, so the
classifier counts, over EVERY row of a table (not the sample), the records whose birth date puts
the individual under the policy's age (``policy.minors.under_age``) on the run date.

Birth dates come from two kinds of column (``policy.minors.basis_types``):

- ``birth_date``: dates, timestamps, ISO / ``YYYY/MM/DD`` / ``YYYY.MM.DD`` / ``YYYY年M月D日`` text,
  ``YYYYMMDD`` text or integers;
- ``resident_id``: GB 11643 digits 7-14 (``YYYYMMDD``) of an 18-character number, or digits 7-12
  (``19YYMMDD``) of a 15-digit one, after the normalisation of
  :mod:`custody.identifiers.resident_id` (NFKC, ``="…"`` unwrapped, its separators removed,
  upper-case). The check character is not required: a record whose ID says its holder is under 14
  is counted even if the ID has a typo elsewhere (counting too many protects more; the validation
  stage reports the bad check character).

A row counts once even if several columns say it is a minor's. Everything here is vectorised with
pyarrow compute; the results are row positions and counts, never values.

Age rule: an individual is under ``n`` on ``as_of`` when their ``n``-th birthday is after ``as_of``,
i.e. ``birth > as_of - n years`` compared as ``YYYYMMDD`` integers (a 29 February birthday turns
``n`` on 1 March in a non-leap year). Birth dates after ``as_of`` are data errors and not counted.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.documents import MinorBasis, MinorsCount
from custody.identifiers import EXCEL_TEXT, resident_id
from custody.identifiers._nfkc import nfkc as nfkc_array

BasisType = Literal["birth_date", "resident_id"]

_YMD_SEP = r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})"
_YMD_COMPACT = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"
_RID18 = r"^\d{17}[\dX]$"
_DIGIT_PLACES = 10 ** np.arange(7, -1, -1, dtype=np.int64)  # eight digits -> YYYYMMDD
_RID15 = r"^\d{15}$"


def ymd(day: datetime.date) -> int:
    """``YYYYMMDD`` integer of a date (``2026-11-30`` -> ``20261130``)."""
    return day.year * 10_000 + day.month * 100 + day.day


def cutoff_ymd(as_of: datetime.date, under_age: int) -> int:
    """Births AFTER this ``YYYYMMDD`` integer are of individuals under ``under_age`` on ``as_of``."""
    return (as_of.year - under_age) * 10_000 + as_of.month * 100 + as_of.day


def _plain(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _nfkc(arr: pa.Array) -> pa.Array:
    """NFKC (:func:`custody.identifiers._nfkc.nfkc`: ASCII skipped, CJK text mapped byte-wise)."""
    return nfkc_array(arr)


def _to_int(strings: pa.Array) -> np.ndarray:
    """Digit strings (or nulls) -> int64, 0 for null."""
    return pc.fill_null(pc.cast(strings, pa.int64()), 0).to_numpy(zero_copy_only=False)


def _plausible(v: np.ndarray) -> np.ndarray:
    month = (v // 100) % 100
    day = v % 100
    return (v > 0) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)


def _ymd_from_text(arr: pa.Array) -> np.ndarray:
    """``YYYYMMDD`` per value of a string array (0 where no date is read).

    Only values whose first non-blank character is numeric (after NFKC every date starts with a
    digit) are normalised and parsed: a column of names or notes costs three cheap passes."""
    out = np.zeros(len(arr), dtype=np.int64)
    first = pc.utf8_slice_codeunits(pc.utf8_ltrim_whitespace(arr), 0, 1)
    idx = np.flatnonzero(pc.fill_null(pc.utf8_is_numeric(first), False).to_numpy(zero_copy_only=False))
    if idx.size == 0:
        return out
    out[idx] = _ymd_parse(arr.take(pa.array(idx)))
    return out


def _ymd_parse(arr: pa.Array) -> np.ndarray:
    text = pc.utf8_trim_whitespace(_nfkc(arr))
    out = np.zeros(len(text), dtype=np.int64)
    for pattern in (_YMD_SEP, _YMD_COMPACT):
        parts = pc.extract_regex(text, pattern)  # null where the pattern does not match
        if parts.null_count == len(parts):
            continue
        y, m, d = (_to_int(pc.struct_field(parts, f)) for f in ("y", "m", "d"))
        got = y * 10_000 + m * 100 + d
        out = np.where(out == 0, got, out)
    return out


def birth_ymd_from_dates(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Birth dates of a ``birth_date`` column as ``YYYYMMDD`` int64, one per row (0: unreadable/null).

    Arrow ``date``/``timestamp`` (calendar fields in the column's time zone), strings (see the module
    docstring) and integers holding ``YYYYMMDD``. Other types give all zeros.
    """
    arr = _plain(col)
    t = arr.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        y = pc.fill_null(pc.year(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        m = pc.fill_null(pc.month(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        d = pc.fill_null(pc.day(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        return y * 10_000 + m * 100 + d
    if pa.types.is_integer(t):
        v = pc.fill_null(pc.cast(arr, pa.int64()), 0).to_numpy(zero_copy_only=False)
        return np.where((v >= 1800_01_01) & (v <= 2999_12_31), v, 0)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _ymd_from_text(arr)
    return np.zeros(len(arr), dtype=np.int64)


def birth_ymd_from_resident_ids(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Birth dates encoded in resident ID numbers (GB 11643) as ``YYYYMMDD`` int64 per row (0: none).

    Values are normalised as :mod:`custody.identifiers.resident_id` reads them (NFKC, ``="…"``
    unwrapped, separators removed, upper-case); only values of 15 to 40 characters are parsed at
    all, so a name or note column costs one length pass.
    """
    arr = _plain(col)
    n = len(arr)
    out = np.zeros(n, dtype=np.int64)
    if pa.types.is_integer(arr.type):
        big = pc.fill_null(pc.greater_equal(pc.cast(arr, pa.int64()), 10**14), False)
        idx = np.flatnonzero(big.to_numpy(zero_copy_only=False))
        if idx.size == 0:
            return out
        text = pc.cast(arr.take(pa.array(idx)), pa.string())
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        # Numbers stored as the rules read them (the usual case) are read as they are: their
        # birth date is digits 7-14 whatever the preparation below, which would not change them.
        direct, matrix = resident_id.stored_canonically(arr)
        if direct.size:
            out[direct] = (matrix[:, 6:14].astype(np.int64) - ord("0")) @ _DIGIT_PLACES
        length = pc.utf8_length(arr)
        keep = pc.fill_null(pc.and_(pc.greater_equal(length, 15), pc.less_equal(length, 40)), False)
        keep = np.array(keep.to_numpy(zero_copy_only=False), dtype=bool)
        keep[direct] = False
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            return out
        text = pc.utf8_trim_whitespace(_nfkc(arr.take(pa.array(idx))))
        text = pc.replace_substring_regex(text, EXCEL_TEXT, r"\1")
        text = pc.utf8_upper(pc.replace_substring_regex(text, resident_id.SEPARATORS, ""))
    else:
        return out
    m18 = pc.fill_null(pc.match_substring_regex(text, _RID18), False)
    m15 = pc.fill_null(pc.match_substring_regex(text, _RID15), False)
    null = pa.scalar(None, pa.string())
    born18 = _to_int(pc.if_else(m18, pc.utf8_slice_codeunits(text, 6, 14), null))
    born15 = _to_int(pc.if_else(m15, pc.utf8_slice_codeunits(text, 6, 12), null))
    born = np.where(born18 > 0, born18, np.where(born15 > 0, 19_000_000 + born15, 0))
    out[idx] = born
    return out


@dataclass
class MinorState:
    """Row positions of minors per basis type for one candidate column of a classifier."""

    modes: set[str]
    positions: dict[str, list[np.ndarray]] = field(default_factory=dict)
    settled: bool = False  # head sampling: the column's type is known and it is a basis column

    def add(self, mode: str, offset: int, rows: np.ndarray) -> None:
        """Record ``rows`` (positions within a chunk starting at row ``offset``) for ``mode``."""
        if rows.size:
            self.positions.setdefault(mode, []).append(rows + offset)

    def rows(self, mode: str) -> np.ndarray:
        """All recorded row positions for ``mode`` (int64)."""
        parts = self.positions.get(mode)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def minor_positions(births: np.ndarray, as_of: datetime.date, under_age: int) -> np.ndarray:
    """Row positions (int64) of plausible ``YYYYMMDD`` births after the cut-off and not after ``as_of``."""
    lo, hi = cutoff_ymd(as_of, under_age), ymd(as_of)
    return np.flatnonzero(_plausible(births) & (births > lo) & (births <= hi))


__all__ = ["BasisType", "MinorBasis", "MinorState", "MinorsCount", "cutoff_ymd", "minor_positions", "ymd"]
