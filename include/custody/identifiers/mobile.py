"""Mainland China mobile numbers: 11 digits ``1[3-9]`` + 9, country code 86 (ITU-T E.164).

The numbering plan (MIIT, 电信网编码计划) gives mobile services 11-digit numbers starting ``13`` to
``19``; which ranges are allocated comes from libphonenumber's metadata (``phonenumbers``), which lags
new allocations.

Decisions (also in ``docs/identifiers.md``):

- **Normalisation**: as :mod:`custody.identifiers.phone` (NFKC, so full-width digits and ``＋``;
  ``="…"`` unwrapped; whitespace, dashes, ``.``, ``(``, ``)`` removed), then one country-code prefix
  is dropped: ``+86``, ``0086`` or a bare ``86`` before ``1[3-9]`` + 9 digits (13 digits starting
  ``861`` are no mainland national number, so the bare form is unambiguous).
- **Recognised as PI**: the structure ``1[3-9]`` + 9 digits after the prefix; quality 1.0 when
  ``phonenumbers`` says mobile (or fixed-line-or-mobile) in an allocated range, 0.5 otherwise
  (e.g. a range opened after the library's metadata).
- **Valid**: the same structure (default); ``strict=True`` also requires an allocated range.
  The structural default is deliberate: about 1.7 % of numbers Faker ``zh_CN`` draws (the 149
  data-card range among them) fail the strict check.
- **Not a mobile**: landlines (``010-…``), a trunk ``0`` before the mobile number (``0138…``, how
  out-of-town mobiles were once dialled from landlines), other country codes (``+852``).
- **Canonical form**: E.164 ``+86`` + the 11 digits for every value recognised; anything else
  falls back to :func:`custody.identifiers.phone.canonical` (so ``0138…`` still joins its mobile).
"""

from __future__ import annotations

import re
from typing import Any

from custody.identifiers import phone

__all__ = ["SEPARATORS", "SOURCE", "allocated_column", "canonical", "is_valid", "is_valid_column", "national",
    "normalise", "recognise",
]

SOURCE = "ITU-T E.164 (country code 86); MIIT numbering plan (11-digit mobile numbers 13x-19x); libphonenumber"
SEPARATORS = phone.SEPARATORS

_NATIONAL = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})")


def normalise(value: Any) -> str | None:
    """The number as rules read it (:func:`custody.identifiers.phone.normalise`; ``00`` becomes ``+``)."""
    return phone.normalise(value)


def national(value: Any) -> str | None:
    """The 11-digit national number of a mainland mobile written in ``value``, or None. Never raises."""
    number = phone.normalise(value)
    if number is None:
        return None
    m = _NATIONAL.fullmatch(number)
    return m.group(1) if m else None


def _allocated(number: str) -> bool:
    import phonenumbers as pn

    try:
        parsed = pn.parse("+86" + number, None)
    except pn.NumberParseException:
        return False
    return pn.is_valid_number(parsed) and pn.number_type(parsed) in (
        pn.PhoneNumberType.MOBILE,
        pn.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


#: Number types of libphonenumber checked before fixed line and mobile, in its order.
_EARLIER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


def allocated_column(numbers: Any) -> Any:
    """:func:`_allocated` over an Arrow string array of 11-digit national numbers (``1[3-9]`` + 9
    digits), as a NumPy bool array.

    libphonenumber's own decision (``is_valid_number`` and ``number_type`` of ``+86`` + the number)
    evaluated with its CN metadata patterns in RE2: the general description matches, none of the
    types it checks first (premium rate ... voicemail) does, and fixed line with mobile, or mobile,
    does. Numbers its parser could read with a national prefix or carrier code (the metadata's
    ``national_prefix_for_parsing`` matches at the start), and every number when a pattern is not
    RE2 syntax, are asked of libphonenumber one by one.
    """
    import numpy as np
    import phonenumbers as pn
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(numbers)
    if n == 0:
        return np.zeros(0, dtype=bool)
    meta = pn.PhoneMetadata.metadata_for_region("CN")

    def matching(desc, default: bool = False) -> np.ndarray:
        if desc is None or not desc.national_number_pattern:
            return np.full(n, default, dtype=bool)
        if desc.possible_length and 11 not in desc.possible_length:
            return np.zeros(n, dtype=bool)
        hit = pc.match_substring_regex(numbers, f"^(?:{desc.national_number_pattern})$")
        return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)

    try:
        out = matching(meta.general_desc)
        for name in _EARLIER_TYPES:
            out &= ~matching(getattr(meta, name))
        fixed, mobile_ = matching(meta.fixed_line), matching(meta.mobile)
        if meta.same_mobile_and_fixed_line_pattern:
            out &= fixed
        else:
            out &= mobile_
        asked = np.zeros(n, dtype=bool)
        if meta.national_prefix_for_parsing:
            hit = pc.match_substring_regex(numbers, f"^(?:{meta.national_prefix_for_parsing})")
            asked = np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
    except pa.ArrowInvalid:  # a metadata pattern RE2 cannot compile
        out, asked = np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    idx = np.flatnonzero(asked)
    if idx.size:
        out[idx] = [_allocated(v) for v in numbers.take(pa.array(idx)).to_pylist()]
    return out


def recognise(value: Any) -> float:
    """Quality 0..1 for classification: 1.0 allocated mobile range, 0.5 structure only, else 0."""
    number = national(value)
    if number is None:
        return 0.0
    return 1.0 if _allocated(number) else 0.5


def is_valid(value: Any, *, strict: bool = False) -> bool:
    """True when ``value`` is a mainland mobile number; ``strict`` also requires an allocated range.

    ``value``: ``str`` or an integer. Never raises.
    """
    number = national(value)
    return number is not None and (not strict or _allocated(number))


def is_valid_column(values: Any, *, strict: bool = False) -> Any:
    """:func:`is_valid` over a whole column, as a NumPy bool array (null: False).

    Vectorised: values stored as the 11 bare digits of a mainland mobile are read as they are
    (:func:`~custody.identifiers._columns.shortcut`); the others get the shared preparation,
    ``00`` -> ``+`` and one RE2 match of the structure. With ``strict``, the allocated-range lookup
    (libphonenumber) runs on the structurally valid values only. Values the vectorised path does
    not read exactly go to :func:`is_valid`.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from custody.identifiers import _columns as col

    def general(arr):
        prep = col.prepare(arr, col.ASCII_PHONE_SEPARATORS)
        text = pc.replace_substring_regex(prep.text, "^00", "+")
        out = col.matches(text, r"^(?:\+86|0086|86)?1[3-9]\d{9}$")
        if strict and out.any():
            rows = np.flatnonzero(out)
            out[rows] = allocated_column(pc.utf8_slice_codeunits(text.take(rows), -11))
        return out, prep.undecided

    def canonical(m):  # as stored: the 11 digits of a mainland mobile, nothing else
        return col.all_digits(m) & (m[:, 0] == ord("1")) & (m[:, 1] >= ord("3"))

    def fast(arr):
        def decide(m, rows):  # the shape is the whole rule; strict adds the allocated ranges
            if not strict:
                return np.ones(len(m), dtype=bool)
            return allocated_column(arr.take(pa.array(rows, type=pa.int64())))

        return col.shortcut(arr, 11, canonical, decide, general)

    return col.column_rule(values, fast, lambda v: is_valid(v, strict=strict))


def canonical(value: Any, *, region: str = "CN") -> str | None:
    """Canonical text for pseudonyms: ``+86`` + 11 digits for a mainland mobile, else
    :func:`custody.identifiers.phone.canonical` in ``region``; None for null or blank."""
    number = national(value)
    return "+86" + number if number else phone.canonical(value, region=region)
