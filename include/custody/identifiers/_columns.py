"""Column-at-a-time reading of identifier values: the text preparation of
:mod:`custody.identifiers._text` done with ``pyarrow.compute`` over a whole column, and the split of
a column into the values this vectorised path decides and the values it hands to the rule's
reference implementation (python-stdnum, phonenumbers, email-validator, one Python call each).

The vectorised path decides a value only when it reads it exactly as the per-value rule does:

- **ASCII text** (after NFKC, identical): surrounding whitespace is Python's ``str.strip`` set for
  ASCII (``\\t \\n \\v \\f \\r``, ``\\x1c``-``\\x1f``, space), written out because RE2's ``\\s`` is
  narrower than Python's;
- **text whose only non-ASCII characters are full-width forms** (U+FF01-U+FF5E) **or the
  ideographic space** (U+3000): their NFKC mapping (to ASCII) has been fixed since Unicode 1.1, so
  Arrow's NFKC (utf8proc) and Python's ``unicodedata`` agree on them whatever their Unicode versions;
- **integers**, as their decimal digits (:func:`custody.identifiers._text.as_text`).

Every other value (other non-ASCII text, types a rule does not read) is *undecided* and goes to the
reference implementation, so the column result equals the per-value rule on every value. Nothing
here logs, and no exception carries a value.

Values already stored the way a rule reads them (a resident ID as 18 ASCII characters, a mobile as
its 11 digits) need no preparation: :func:`shortcut` selects them by byte length from the Arrow
offsets, checks their characters in a byte matrix and decides them there; only the other values
are prepared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ASCII_GROUP_SEPARATORS",
    "ASCII_PHONE_SEPARATORS",
    "ASCII_SPACE",
    "Prepared",
    "all_digits",
    "as_arrow",
    "clean",
    "column_rule",
    "digit_matrix",
    "ends_with",
    "fixed_width",
    "found",
    "is_digit",
    "matches",
    "prepare",
    "remove_ascii",
    "shortcut",
    "with_values",
    "with_oracle",
]

#: Characters Python's ``str.strip()`` removes from ASCII text (``str.isspace``).
ASCII_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
#: :data:`custody.identifiers._text.GROUP_SEPARATORS` on the ASCII text this path decides.
ASCII_GROUP_SEPARATORS = ASCII_SPACE + "-"
#: :data:`custody.identifiers.phone.SEPARATORS` on the ASCII text this path decides.
ASCII_PHONE_SEPARATORS = ASCII_SPACE + "-.()"
_TRIM_CHARS = ASCII_SPACE
#: Values whose NFKC the vectorised path reproduces (see the module docstring).
_FAST_TEXT = "^[\\x00-\\x7f\\x{3000}\\x{ff01}-\\x{ff5e}]*$"
#: Excel's ``="…"``, as :data:`custody.identifiers._text.EXCEL_TEXT` (``.`` also matches newlines,
#: as Python's ``re.DOTALL``).
_EXCEL = '(?s)^="(.*)"$'


def as_arrow(values: Any) -> pa.Array | None:
    """``values`` (a pandas Series, NumPy array, list, Arrow array or chunked array) as one Arrow
    array, dictionaries decoded; None when Arrow cannot hold them as one typed array (mixed Python
    objects), in which case the caller decides value by value."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values
    else:
        try:
            arr = pa.array(values, from_pandas=True)  # a ChunkedArray for Arrow-backed pandas data
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


class Prepared:
    """One column after the shared preparation.

    ``text``: string array, one entry per input value: the value cleaned (NFKC, surrounding
    whitespace dropped, ``="…"`` unwrapped), the separators removed and, if asked, upper-cased;
    null where the value is null or undecided. ``undecided``: bool mask of the values the
    vectorised path does not read (they go to the reference implementation).
    """

    __slots__ = ("text", "undecided")

    def __init__(self, text: pa.Array, undecided: np.ndarray):
        self.text, self.undecided = text, undecided


def _bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def clean(arr: pa.Array, *, nfkc: bool = True) -> Prepared:
    """NFKC (unless ``nfkc`` is False: e-mail addresses are judged as stored), surrounding
    whitespace dropped, ``="…"`` unwrapped and trimmed again: :func:`custody.identifiers._text.clean`
    over a string array. Values outside the decided set (module docstring) are undecided."""
    n = len(arr)
    ascii_ = np.asarray(pc.fill_null(pc.string_is_ascii(arr), True).to_numpy(zero_copy_only=False), dtype=bool)
    if ascii_.all() or n == 0:
        text, undecided = arr, np.zeros(n, dtype=bool)
    elif nfkc:
        fast = _bool(pc.match_substring_regex(arr, _FAST_TEXT))
        undecided = ~fast & ~np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)
        text = pc.if_else(pa.array(fast), pc.utf8_normalize(arr, "NFKC"), pa.scalar(None, arr.type))
    else:
        undecided = ~ascii_ & ~np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)
        text = pc.if_else(pa.array(ascii_), arr, pa.scalar(None, arr.type))
    text = pc.utf8_trim(text, _TRIM_CHARS)
    # Only a value starting with ``="`` can be unwrapped: without one, the regular expression
    # (over ten times the cost of the prefix test) would change nothing, nor the second trim.
    if pc.any(pc.starts_with(text, '="')).as_py():
        unwrapped = pc.replace_substring_regex(text, _EXCEL, "\\1")
        text = pc.utf8_trim(unwrapped, _TRIM_CHARS)
    return Prepared(text, undecided)


def prepare(values: pa.Array, separators: str, *, upper: bool = False) -> Prepared:
    """The column as an identifier rule reads it: integers as their digits, text :func:`clean`-ed,
    every character of ``separators`` removed (:func:`remove_ascii`), upper-cased if ``upper``.

    ``separators``: ASCII characters (the decided text is ASCII by then). Other types (floats,
    dates, booleans) give nulls: the rules read nothing in them.
    """
    t = values.type
    if pa.types.is_integer(t):
        text = pc.cast(values, pa.string())
        prepared = Prepared(text, np.zeros(len(values), dtype=bool))
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        if not pa.types.is_string(t):
            values = pc.cast(values, pa.large_string() if pa.types.is_large_string(t) else pa.string())
        prepared = clean(values)
    else:
        return Prepared(pa.nulls(len(values), pa.string()), np.zeros(len(values), dtype=bool))
    text = remove_ascii(prepared.text, separators)
    if upper:
        text = pc.ascii_upper(text)
    prepared.text = text
    return prepared


def remove_ascii(text: pa.Array, chars: str) -> pa.Array:
    """``text`` (a ``string`` or ``large_string`` array) with every occurrence of the ASCII ``chars`` removed; nulls
    stay null. Exact on any UTF-8: a byte below 0x80 is always a character of its own, never part
    of a longer sequence. One pass over the bytes, against a regular expression's replacement
    (about ten times the cost on phone numbers)."""
    large = pa.types.is_large_string(text.type)
    if not (large or pa.types.is_string(text.type)) or any(ord(c) > 0x7F for c in chars):
        raise ValueError("remove_ascii takes a string array and ASCII characters")
    if text.offset:
        text = pa.concat_arrays([text])  # offset 0: its validity bitmap is reused as it is
    offsets, data = _string_buffers(text)
    lo, hi = int(offsets[0]), int(offsets[-1])
    seg = data[lo:hi]
    table = np.zeros(256, dtype=bool)
    table[[ord(c) for c in chars]] = True
    drop = table[seg]
    if not drop.any():
        return text
    removed = np.concatenate(([0], np.cumsum(drop, dtype=np.int64)))
    rel = offsets - lo
    return with_values(text, rel - removed[rel], seg[~drop])


def with_values(like: pa.Array, offsets: np.ndarray, data: Any) -> pa.Array:
    """A string array of ``like``'s type, length and nulls (``like`` at offset 0) holding new
    values: ``offsets`` (``len(like) + 1`` of them, from 0) into ``data`` (bytes-like)."""
    large = pa.types.is_large_string(like.type)
    validity = like.buffers()[0] if like.null_count else None
    offsets = np.asarray(offsets).astype(np.int64 if large else np.int32, copy=False)
    return pa.Array.from_buffers(like.type, len(like), [validity, pa.py_buffer(offsets), pa.py_buffer(data)],
                                 null_count=like.null_count)


def matches(text: pa.Array, pattern: str) -> np.ndarray:
    """Bool mask: ``text`` matches the RE2 ``pattern`` (anchor it for a full match); null is False."""
    return _bool(pc.match_substring_regex(text, pattern))


def found(text: pa.Array, literal: str) -> np.ndarray:
    """Bool mask: ``text`` contains ``literal`` (plain substring search, no regular expression);
    null is False."""
    return _bool(pc.match_substring(text, literal))


def ends_with(text: pa.Array, literal: str) -> np.ndarray:
    """Bool mask: ``text`` ends with ``literal``; null is False."""
    return _bool(pc.ends_with(text, literal))


def _string_buffers(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The value offsets (int64, ``len(arr) + 1`` of them, for the array's own slice) and the data
    bytes (uint8) of a ``string`` or ``large_string`` array, without copying the data."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offset_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _validity, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets, data


def digit_matrix(text: pa.Array, rows: np.ndarray, width: int) -> np.ndarray:
    """ASCII codes of the last ``width`` characters of ``text[rows]``, right-aligned, as a
    ``(len(rows), width)`` uint8 matrix; positions before a shorter value hold ``0`` (ASCII
    ``'0'``). ``rows`` must select non-null ASCII values of at most ``width`` characters."""
    sub = text.take(pa.array(rows, type=pa.int64())) if len(rows) != len(text) else text
    offsets, data = _string_buffers(sub)
    ends, starts = offsets[1:], offsets[:-1]
    index = ends[:, None] - width + np.arange(width)
    before = index < starts[:, None]
    out = data[np.where(before, 0, index)] if data.size else np.zeros(index.shape, np.uint8)
    return np.where(before, ord("0"), out).astype(np.uint8)


def fixed_width(arr: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of string array ``arr`` whose value is exactly ``width`` bytes of UTF-8, and their
    bytes as a ``(rows, width)`` uint8 matrix. Nulls are never selected. A row whose bytes are
    all ASCII is ``width`` characters long; any other byte is 0x80 or more."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets, data = _string_buffers(arr)
    starts = offsets[:-1]
    selected = (offsets[1:] - starts) == width
    if arr.null_count:
        selected &= np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(selected)
    if rows.size == 0 or width == 0:
        return rows, np.zeros((rows.size, width), dtype=np.uint8)
    # Row i of the window view is data[i:i + width] (no copy): one index per value gathers its
    # bytes, against one per byte through an index matrix (a third of the time).
    return rows, np.lib.stride_tricks.sliding_window_view(data, width)[starts[rows]]


def is_digit(matrix: np.ndarray) -> np.ndarray:
    """ASCII ``0``-``9``, elementwise over a uint8 matrix of character codes."""
    return (matrix >= ord("0")) & (matrix <= ord("9"))


def all_digits(matrix: np.ndarray) -> np.ndarray:
    """Rows of a ``(k, w)`` uint8 matrix of character codes that are all ASCII digits: what
    ``is_digit(matrix).all(axis=1)`` says, a column at a time (a reduction along rows of a few
    bytes is NumPy's slow case: two and a half times the cost). ``w`` >= 1."""
    ok = (matrix[:, 0] - np.uint8(48)) < 10  # uint8 arithmetic wraps: below "0" becomes large
    for i in range(1, matrix.shape[1]):
        ok &= (matrix[:, i] - np.uint8(48)) < 10
    return ok


def shortcut(arr: pa.Array, width: int, canonical: Callable[[np.ndarray], np.ndarray],
             decide: Callable[[np.ndarray, np.ndarray], np.ndarray],
             general: Callable[[pa.Array], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """A rule's ``fast`` path with a shortcut for values already written the way the rule reads
    them (no space, separator, full-width form or ``="…"``, nothing to upper-case but what
    ``decide`` handles), which the preparation would leave as they are.

    ``arr`` (string; other types go to ``general`` whole); ``width``: the canonical form's length
    in bytes; ``canonical(matrix)``: which rows of the ``(k, width)`` byte matrix
    (:func:`fixed_width`) are in canonical form; ``decide(matrix, rows)``: the rule's result for
    those rows (``rows``: their positions in ``arr``); ``general(sub)``: the full path
    ``(result, undecided)`` for the other values. Returns ``(result, undecided)`` for all of
    ``arr``, equal to ``general(arr)`` value by value: ``canonical`` must select only values the
    preparation leaves unchanged (up to what ``decide`` normalises itself).

    The shortcut costs one pass over the offsets and a byte gather, against the preparation's
    Arrow passes (the separators' removal a regular expression, the ``="…"`` one when a value
    starts so) and the shape's regular expression: a third of the time on resident IDs.
    """
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return general(arr)
    n = len(arr)
    rows, matrix = fixed_width(arr, width)
    ok = canonical(matrix) if rows.size else np.zeros(0, dtype=bool)
    direct = rows[ok]
    result = np.zeros(n, dtype=bool)
    undecided = np.zeros(n, dtype=bool)
    if direct.size:
        result[direct] = decide(matrix[ok], direct)
    rest = np.ones(n, dtype=bool)
    rest[direct] = False
    if arr.null_count:
        rest &= np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
    idx = np.flatnonzero(rest)
    if idx.size == 0:
        return result, undecided
    sub = arr if idx.size == n else arr.take(pa.array(idx, type=pa.int64()))
    sub_result, sub_undecided = general(sub)
    result[idx] = sub_result
    undecided[idx] = sub_undecided
    return result, undecided


def with_oracle(values: pa.Array, undecided: np.ndarray, result: np.ndarray,
                oracle: Callable[[Any], bool]) -> np.ndarray:
    """``result`` with every ``undecided`` position replaced by ``oracle(value)`` (the rule's
    per-value reference implementation, which never raises)."""
    idx = np.flatnonzero(undecided)
    if idx.size:
        picked = values.take(pa.array(idx, type=pa.int64())).to_pylist()
        result[idx] = [bool(oracle(v)) for v in picked]
    return result


def column_rule(values: Any, fast: Callable[[pa.Array], tuple[np.ndarray, np.ndarray]],
                oracle: Callable[[Any], bool]) -> np.ndarray:
    """Run a vectorised rule over ``values``: ``fast(arr)`` returns ``(result, undecided)``; the
    undecided values go to ``oracle``. Values Arrow cannot hold as one array go to ``oracle`` one
    by one. Returns a bool array, one entry per value (null: False)."""
    arr = as_arrow(values)
    if arr is None:
        return np.fromiter((bool(oracle(v)) for v in values), dtype=bool, count=len(values))
    if len(arr) == 0:
        return np.zeros(0, dtype=bool)
    result, undecided = fast(arr)
    return with_oracle(arr, undecided, result, oracle)


# ------------------------------------------------------------------ check-character arithmetic


def digits(matrix: np.ndarray) -> np.ndarray:
    """ASCII digit codes -> their values (int64)."""
    return matrix.astype(np.int64) - ord("0")


def mod11_2_check(matrix: np.ndarray) -> np.ndarray:
    """ISO 7064 MOD 11-2 check characters (ASCII codes, ``X`` for ten) of the first 17 digits of
    each row of an ``(n, 18)`` digit matrix: weights ``2**(17-i) mod 11``; ``(12 - sum) mod 11``."""
    # A column at a time in int32 (the sum is at most 17 * 9 * 10): a third less than an int64
    # matrix product, which NumPy computes without BLAS for integers.
    total = np.zeros(len(matrix), dtype=np.int32)
    for i in range(17):
        total += (matrix[:, i].astype(np.int32) - ord("0")) * pow(2, 17 - i, 11)
    check = (12 - total % 11) % 11
    return np.where(check == 10, ord("X"), check + ord("0")).astype(np.uint8)


def luhn_ok(matrix: np.ndarray) -> np.ndarray:
    """ISO/IEC 7812-1 Annex B (Luhn) over right-aligned digit rows (leading ``'0'`` padding does
    not change the sum): every second digit from the right doubled, digits of the product added,
    total divisible by 10."""
    d = digits(matrix)[:, ::-1]
    doubled = d[:, 1::2] * 2
    total = d[:, 0::2].sum(axis=1) + (doubled - 9 * (doubled > 9)).sum(axis=1)
    return total % 10 == 0


#: GB 32100-2015 code characters (no I, O, S, V, Z) and the weights of positions 1-17.
GB32100_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
GB32100_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_GB32100_INDEX = np.full(256, -1, dtype=np.int64)
_GB32100_INDEX[[ord(c) for c in GB32100_ALPHABET]] = np.arange(31)


def mod31_ok(matrix: np.ndarray) -> np.ndarray:
    """GB 32100 check character of each row of an ``(n, 18)`` matrix of code-character ASCII
    codes: ``(31 - sum(index * weight)) mod 31`` must index the 18th character."""
    index = _GB32100_INDEX[matrix]
    total = index[:, :17] @ np.array(GB32100_WEIGHTS, dtype=np.int64)
    return (31 - total % 31) % 31 == index[:, 17]


def real_dates(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Whether ``y-m-d`` exists in the proleptic Gregorian calendar (years 1-9999), elementwise."""
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    month_ok = (m >= 1) & (m <= 12)
    last = days[np.where(month_ok, m, 0)] + ((m == 2) & leap)
    return (y >= 1) & (y <= 9999) & month_ok & (d >= 1) & (d <= last)
