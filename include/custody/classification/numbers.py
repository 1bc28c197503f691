"""Values-only models of numbers without a check digit: phone numbers in national notation,
passport numbers in a table about people, and the test that tells software versions from IPv4.

Phone numbers (:func:`phone_scores`, value model of ``phone_number``). Written with ``+`` or
``00`` they carry their country code and the detector's own shape takes them; written nationally
(``(843)906-3626``, ``+49 (0) 5971 834367``, ``090-9567-2933``, ``0903644303``) a bare digit run
is as likely an order number, so a value counts only in *phone notation*: 7-15 digits with the
visual separators of RFC 3966 (space ``-`` ``.`` ``(`` ``)``), an optional extension, and at least
one sign of a phone number: a parenthesised area code, an extension, three or more digit groups,
or a trunk prefix ``0`` before 9-12 digits. Dates, dotted quads, ``ddd-dd-dddd`` (US SSN) and
``dddd-dddd`` (year ranges) are not. Each value in notation is then read by libphonenumber in the
regions of :data:`PHONE_REGIONS` (first valid wins, 1.0), else 0.5 (right notation, no numbering
plan confirms it); written with ``+``/``00`` it is graded by :mod:`custody.identifiers.phone`.
At most ``PHONE_VALIDATE_LIMIT`` distinct values are read (libphonenumber costs ~50 us a region);
the others get their mean. Accepted at ``min_rate`` 0.8 (``detectors``): Brazilian and Japanese
postal codes (``01310-200``, ``123-4567``) lack the signs, academic years (``2015-2016``) and
ticket numbers are bare.

Passports (:func:`passport_scores`, value model of ``passport``): there is no check digit (ICAO
Doc 9303 leaves the document number to the issuer), so only in a table about people, and only a
column of the passport shapes of the issuers most seen (PRC ``E``/``G``/``P`` + 8 digits, US 9
digits or a letter + 8 digits, most others 1-2 letters + 7 digits: ``^[A-Z]{0,2}\d{7,9}$`` with 8 or
9 characters) for ``PASSPORT_MIN_SHAPE`` of its values, all but a few distinct, and issued at
random rather than counted: the median gap between sorted numbers is at least
``PASSPORT_MIN_GAP`` (customer or contract numbers run consecutively).

Versions (:func:`not_versions`, ``sample_check`` of ``ip_address``): four-part versions
(``4.2.1.0``) are valid IPv4 addresses. A column is versions, not addresses, when at least
``VERSION_MIN_SHARE`` of its IPv4 values start with a one-digit first part (Semantic Versioning
majors; the routed IPv4 space in 1.0.0.0/8-9.0.0.0/8 is under 4 % of it, 0.0.0.0/8 is not
routable, RFC 1122) and the 90th percentile of the second and third parts is at most
``VERSION_MAX_MINOR`` (minor and patch numbers stay small, octets spread over 0-255).

Values stay in memory; nothing is logged.
"""

from __future__ import annotations

import re
from itertools import islice

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Regions libphonenumber reads a nationally written number in, in this order: the markets of a
#: Chinese company first, then its usual foreign customers'.
PHONE_REGIONS = ("CN", "HK", "MO", "TW", "JP", "KR", "SG", "US", "GB", "DE", "FR", "NL", "IT", "ES", "BR", "AU", "IN")
PHONE_VALIDATE_LIMIT = 64
PASSPORT_MIN_SHAPE = 0.9
PASSPORT_MIN_DISTINCT = 0.95
PASSPORT_MIN_GAP = 1000
VERSION_MIN_SHARE = 0.8
VERSION_MAX_MINOR = 50

# RE2 prefilter: digits, RFC 3966 visual separators, an optional + or 00 and an extension.
_NOTATION = r"(?i)^(?:\+|00)?[0-9 ().\-/]{6,24}(?:\s*(?:x|ext\.?|#|转)\s*[0-9]{1,6})?$"
_FIRST_CHARS = pa.array(list("+(0123456789"))
_EXT = re.compile(r"\s*(?:x|ext\.?|#|转)\s*\d{1,6}$", re.IGNORECASE)
_NOT_PHONE = re.compile(
    r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$|^\d{1,3}(?:\.\d{1,3}){3}$"
    r"|^\d{3}-\d{2}-\d{4}$|^\d{4}\s*-\s*\d{4}$"
)
_GROUPS = re.compile(r"\d+")


def phone_notation(value: str) -> bool:
    """True when ``value`` (NFKC, trimmed) is written as a phone number (module docstring)."""
    if _NOT_PHONE.match(value):
        return False
    ext = _EXT.search(value)
    number = value[: ext.start()] if ext else value
    groups = _GROUPS.findall(number)
    digits = sum(len(g) for g in groups)
    if not 7 <= digits <= 15:
        return False
    if number.startswith(("+", "00")) or "(" in number or ext is not None or len(groups) >= 3:
        return True
    return number.startswith("0") and 9 <= digits <= 12


def phone_quality_of(value: str) -> float:
    """Quality 0..1 of one value in phone notation (module docstring); 0 for other values."""
    import phonenumbers as pn

    from custody.identifiers import phone

    if not phone_notation(value):
        return 0.0
    ext = _EXT.search(value)
    number = value[: ext.start()] if ext else value
    if number.startswith(("+", "00")):
        return phone.recognise(number)
    for region in PHONE_REGIONS:
        try:
            parsed = pn.parse(number, region)
        except pn.NumberParseException:
            continue
        if pn.is_valid_number(parsed):
            return 1.0
    return 0.5


def phone_scores(sample: pa.Array, ctx=None) -> np.ndarray:
    """Value model of ``phone_number``: quality per value of ``sample`` (``pa.string()``).

    Values outside the RE2 notation prefilter score 0 without Python; when fewer than 80 % pass
    it, the column cannot be phones and nothing more is computed. ``ctx`` is not used."""
    n = len(sample)
    out = np.zeros(n)
    if n == 0:
        return out
    # Cheap exits before the notation pattern: values that do not start like a number (text), and
    # bare digits without a leading 0 (integers, codes), are never in phone notation.
    starts = pc.is_in(pc.utf8_slice_codeunits(sample, 0, 1), value_set=_FIRST_CHARS)
    if pc.sum(starts).as_py() < 0.8 * n or not pc.any(pc.match_substring_regex(sample, r"^0|[^0-9]")).as_py():
        return out
    shaped = pc.fill_null(pc.match_substring_regex(sample, _NOTATION), False).to_numpy(zero_copy_only=False)
    if shaped.mean() < 0.8:
        return out
    idx = np.flatnonzero(shaped)
    picked = sample.take(pa.array(idx))
    distinct = pc.unique(picked).to_pylist()
    graded = {v: phone_quality_of(v) for v in islice(distinct, PHONE_VALIDATE_LIMIT)}
    rest = float(np.mean(list(graded.values()))) if graded else 0.0
    out[idx] = [graded.get(v, rest) for v in picked.to_pylist()]
    return out


_PASSPORT = r"^[A-Z]{0,2}[0-9]{7,9}$"


def passport_scores(sample: pa.Array, ctx) -> np.ndarray:
    """Value model of ``passport``: 1.0 per value of the passport shape when the column, in a table
    about people (``ctx.people``), reads as passport numbers (module docstring); else zeros."""
    n = len(sample)
    out = np.zeros(n)
    if n == 0 or getattr(ctx, "people", None) is None:
        return out
    text = pc.utf8_upper(sample)
    length = pc.utf8_length(text).to_numpy(zero_copy_only=False)
    shaped = pc.fill_null(pc.match_substring_regex(text, _PASSPORT), False).to_numpy(zero_copy_only=False)
    shaped &= (length >= 8) & (length <= 9)
    if shaped.mean() < PASSPORT_MIN_SHAPE:
        return out
    picked = text.take(pa.array(np.flatnonzero(shaped)))
    if pc.count_distinct(picked).as_py() < PASSPORT_MIN_DISTINCT * len(picked):
        return out
    digits = pc.cast(pc.replace_substring_regex(picked, r"^[A-Z]+", ""), pa.int64()).to_numpy(zero_copy_only=False)
    gaps = np.diff(np.sort(digits))
    if gaps.size == 0 or float(np.median(gaps)) < PASSPORT_MIN_GAP:
        return out
    return shaped.astype(np.float64)


def not_versions(matched: pa.Array) -> bool:
    """``sample_check`` of ``ip_address``: False when the IPv4 values of ``matched`` (values of the
    detector's shape) read as four-part software versions (module docstring)."""
    parts = pc.extract_regex(matched, r"^(?P<a>[0-9]{1,3})\.(?P<b>[0-9]{1,3})\.(?P<c>[0-9]{1,3})\.[0-9]{1,3}$")
    ok = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    if ok.sum() < max(1, len(matched) / 2):
        return True
    a, b, c = (
        pc.cast(pc.struct_field(parts, f), pa.int64()).to_numpy(zero_copy_only=False)[ok] for f in ("a", "b", "c")
    )
    small_major = float(np.mean(a <= 9)) >= VERSION_MIN_SHARE
    small_minor = max(np.percentile(b, 90), np.percentile(c, 90)) <= VERSION_MAX_MINOR
    return not (small_major and small_minor)
