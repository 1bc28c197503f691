"""NFKC of a whole Arrow string array, fast on the text Chinese business records hold.

``pyarrow.compute.utf8_normalize`` (utf8proc) decomposes and recomposes every character of every
value: about 0.7 µs per value of the benchmark's CRM notes, the largest single cost of the
free-text scan. Yet such text is nearly all made of characters NFKC leaves as they are (ASCII, CJK
ideographs, kana, CJK and general punctuation: :data:`STABLE`) and of full-width forms
(U+FF01-U+FF5E) and the ideographic space (U+3000), which NFKC maps one-to-one onto ASCII.

For a value made only of those characters (*quick*), NFKC is that character-by-character map:
NFKC reorders only combining marks and composes only a character with a following one that is
the second character of a canonical decomposition, and no character of these sets is either
(the tests check it against every code point of :mod:`unicodedata`, and each character against
utf8proc). The map is applied to the UTF-8 bytes with NumPy: ``EF BC xx`` becomes ``xx - 0x60``,
``EF BD xx`` becomes ``xx - 0x20`` and ``E3 80 80`` a space, the offsets shortened by two bytes
per mapped character. Every other value goes to utf8proc as before, so :func:`nfkc` equals
``utf8_normalize(values, "NFKC")`` value by value.

The compiled module ``custody._textmap`` (``include/custody/_textmap.c``) tests and maps every
value in one pass over the bytes, without the interpreter lock; where it was not built, an RE2
test (:data:`QUICK`) and NumPy passes (:func:`_mapped`) do the same, and the tests hold the two
equal.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.identifiers._columns import _string_buffers, with_values

__all__ = ["QUICK", "STABLE", "nfkc"]

#: Code point ranges (inclusive) above ASCII whose characters NFKC leaves unchanged in any text
#: made of them, ASCII and the mapped forms: in Latin-1, General Punctuation, CJK Symbols and
#: Punctuation, the kana and the CJK ideographs (Extension A and the unified block), the
#: characters that are their own NFKC, not combining marks and not the second character of any
#: canonical decomposition (derived from :mod:`unicodedata`; the tests derive it again).
STABLE: tuple[tuple[int, int], ...] = (
    (0x80, 0x9F), (0xA1, 0xA7), (0xA9, 0xA9), (0xAB, 0xAE), (0xB0, 0xB1), (0xB6, 0xB7),
    (0xBB, 0xBB), (0xBF, 0xFF), (0x200B, 0x2010), (0x2012, 0x2016), (0x2018, 0x2023),
    (0x2027, 0x202E), (0x2030, 0x2032), (0x2035, 0x2035), (0x2038, 0x203B), (0x203D, 0x203D),
    (0x203F, 0x2046), (0x204A, 0x2056), (0x2058, 0x205E), (0x2060, 0x206F), (0x3001, 0x3029),
    (0x3030, 0x3035), (0x3037, 0x3037), (0x303B, 0x3098), (0x309D, 0x309E),
    (0x30A0, 0x30FE), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
)

try:  # the compiled map (setup.py; optional)
    from custody import _textmap
except ImportError:  # pragma: no cover - exercised where no C compiler built it
    _textmap = None

#: RE2: a value of ASCII, :data:`STABLE` characters, full-width forms and ideographic spaces only.
QUICK = "^[\\x00-\\x7f{}\\x{{3000}}\\x{{ff01}}-\\x{{ff5e}}]*$".format(
    "".join(f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in STABLE)
)


def _table() -> bytes:
    """The 65,536-bit table of :data:`STABLE` (bit ``c`` set when BMP code point ``c`` is stable)
    that ``custody._textmap`` reads."""
    bits = np.zeros(0x10000, dtype=bool)
    for lo, hi in STABLE:
        bits[lo : hi + 1] = True
    return np.packbits(bits, bitorder="little").tobytes()


_TABLE = _table()


def _value_bytes(arr: pa.Array) -> tuple[np.ndarray, int, np.ndarray]:
    """``(offsets, lo, data)`` of a string array: its value offsets (int64) into its data buffer,
    the first of them, and the bytes its values span (``data[lo:last offset]``), without a copy."""
    offsets, data = _string_buffers(arr)
    lo = int(offsets[0])
    return offsets, lo, data[lo : int(offsets[-1])]


def _native_map(arr: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """``(quick, mapped)`` of ``arr`` (offset 0) by ``custody._textmap``: the quick mask, and the
    array with the quick values mapped (the others as they are)."""
    offsets, lo, data = _value_bytes(arr)
    quick, new_offsets, new_data = _textmap.quick_map(offsets - lo, np.ascontiguousarray(data), _TABLE)
    mapped = with_values(arr, np.frombuffer(new_offsets, dtype=np.int64), new_data)
    return np.frombuffer(quick, dtype=bool), mapped


def _within_value(leads: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Which three-byte sequences starting at ``leads`` end inside the value they start in
    (``rel``: the values' offsets into the bytes)."""
    value = np.searchsorted(rel, leads, side="right") - 1
    return leads + 3 <= rel[value + 1]


def _mapped(arr: pa.Array) -> pa.Array:
    """``arr`` (offset 0) with every full-width form and ideographic space replaced by its ASCII
    character in the UTF-8 bytes; other bytes as they are."""
    offsets, lo, data = _value_bytes(arr)
    if data.size < 3:
        return arr
    head = data[:-2]
    full = np.flatnonzero(head == 0xEF)
    full = full[(data[full + 1] == 0xBC) | (data[full + 1] == 0xBD)]
    space = np.flatnonzero(head == 0xE3)
    space = space[(data[space + 1] == 0x80) & (data[space + 2] == 0x80)]
    rel = offsets - lo
    # A sequence counts only inside one value: the bytes of a null slot (Arrow leaves them
    # unspecified) never reach into the next value.
    full = full[_within_value(full, rel)]
    space = space[_within_value(space, rel)]
    if full.size == 0 and space.size == 0:
        return arr
    out = data.copy()
    out[full] = np.where(data[full + 1] == 0xBC, data[full + 2] - 0x60, data[full + 2] - 0x20)
    out[space] = 0x20
    leads = np.sort(np.concatenate((full, space)))
    keep = np.ones(out.size, dtype=bool)
    keep[leads + 1] = False
    keep[leads + 2] = False
    # A mapped character never straddles a value boundary: each lead before a boundary took two
    # bytes out before it.
    return with_values(arr, rel - 2 * np.searchsorted(leads, rel, side="left"), out[keep])


def nfkc(values: pa.Array) -> pa.Array:
    """``pc.utf8_normalize(values, "NFKC")`` of a ``string`` or ``large_string`` array (module
    docstring): ASCII-only arrays are returned as they are, quick values are mapped byte-wise, the
    rest normalised by utf8proc. Nulls stay null."""
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        return values
    if values.offset:
        values = pa.concat_arrays([values])  # offset 0: buffers read from their start
    if _textmap is not None:
        quick, mapped = _native_map(values)
    else:
        quick = np.asarray(pc.fill_null(pc.match_substring_regex(values, QUICK), True)
                           .to_numpy(zero_copy_only=False), dtype=bool)
        mapped = None  # mapped below, unless utf8proc takes the whole array
    slow = np.flatnonzero(~quick)
    if slow.size * 2 > len(values):  # mostly other text: utf8proc at once, as before
        return pc.utf8_normalize(values, "NFKC")
    if mapped is None:
        mapped = _mapped(values)
    if slow.size == 0:
        return mapped
    normalised = pc.utf8_normalize(values.take(pa.array(slow, type=pa.int64())), "NFKC")
    order = np.arange(len(values), dtype=np.int64)
    order[slow] = len(values) + np.arange(slow.size, dtype=np.int64)
    return pa.concat_arrays([mapped, normalised.cast(mapped.type)]).take(pa.array(order))
