"""Telephone numbers of any country and kind (landline, fax, mobile abroad), ITU-T E.164.

Parsing, validity and formatting come from ``phonenumbers`` (libphonenumber's metadata); mainland
mobile numbers have their own, narrower rule in :mod:`custody.identifiers.mobile`, which falls back
to this one.

Decisions (also in ``docs/identifiers.md``):

- **Normalisation**: NFKC (full-width digits, ``＋``, full-width brackets), surrounding spaces
  dropped, Excel's ``="…"`` unwrapped, then the visual separators of RFC 3966 (section 5.1.1:
  ``-``, ``.``, ``(``, ``)``), whitespace and the Unicode dashes removed. A ``/`` is not a separator:
  it joins alternative numbers (``010-1234/5678``). The international prefix ``00`` is read as
  ``+`` (ITU-T E.164 / E.123 international notation).
- **Extensions** ``x123``, ``ext123``, ``#123``, ``转123``, ``;ext=123`` are allowed; recognition
  and validity ignore them.
- **Recognised as PI**: a number written with ``+`` parses on its own country code; others are
  tried as CN, then US numbers. Quality 1.0 valid, 0.7 possible (right length for the country),
  else 0. A bare digit run is a phone number only with header evidence (the detector's concern).
- **Valid**: ``phonenumbers.is_valid_number`` in the caller's default region (default CN).
- **Canonical form**: E.164 (``+8613800138000``) when the number is at least possible in the
  default region, an extension appended as in RFC 3966 (``+8675588888888;ext=123``: colleagues
  behind one switchboard are different people); otherwise its digits (with the leading ``+`` if
  written), so spellings of an unparseable number still agree; a value without any digit keeps
  its cleaned text.
"""

from __future__ import annotations

import re
from typing import Any

from custody.identifiers._text import DASHES, as_text, clean, compact

__all__ = ["SEPARATORS", "SOURCE", "canonical", "is_valid", "normalise", "recognise"]

SOURCE = "ITU-T E.164; ITU-T E.123; RFC 3966 sections 5.1.1 (visual separators), 5.1.5 (extension); libphonenumber"
#: Whitespace, RFC 3966 visual separators and the Unicode dashes (Python ``re`` and RE2 class).
SEPARATORS = f"[\\s\\-{DASHES}.()]"

_SEP = re.compile(SEPARATORS)
# Extension marks: x, ext, #, 转, and RFC 3966's ``;ext=`` (the canonical form's own).
_EXT = re.compile(r"^(\+?\d+)(?:(?:;ext=|x|ext|#|转)(\d{1,6}))?$", re.IGNORECASE)


def normalise(value: Any) -> str | None:
    """The number as rules read it: cleaned, separators removed, a leading ``00`` turned into ``+``.
    ``value``: ``str`` or an integer; None for other types or blank text."""
    text = as_text(value)
    if text is None:
        return None
    number = compact(text, _SEP)
    if number.startswith("00"):
        number = "+" + number[2:]
    return number or None


def _parse(number: str, region: str | None) -> Any:
    import phonenumbers as pn

    try:
        return pn.parse(number, region)
    except pn.NumberParseException:
        return None


def recognise(value: Any) -> float:
    """Quality 0..1 for classification: 1.0 valid, 0.7 possible, 0 otherwise (see module docstring)."""
    import phonenumbers as pn

    number = normalise(value)
    m = _EXT.match(number) if number else None
    if m is None:
        return 0.0
    digits = m.group(1)
    best = 0.0
    for region in (None,) if digits.startswith("+") else ("CN", "US"):
        num = _parse(digits, region)
        if num is None:
            continue
        if pn.is_valid_number(num):
            return 1.0
        if pn.is_possible_number(num):
            best = 0.7
    return best


def is_valid(value: Any, *, region: str = "CN") -> bool:
    """True when ``value`` is a valid number (libphonenumber metadata) read in ``region``
    (ISO 3166 alpha-2) unless written with ``+``/``00``. Extensions allowed. Never raises."""
    import phonenumbers as pn

    number = normalise(value)
    m = _EXT.match(number) if number else None
    num = _parse(m.group(1), region) if m else None
    return num is not None and pn.is_valid_number(num)


def canonical(value: Any, *, region: str = "CN") -> str | None:
    """Canonical text for pseudonyms: E.164 when the number is possible in ``region`` (an
    extension kept as RFC 3966 ``;ext=``), else its digits (``+`` kept), else the cleaned text.
    ``value`` may be any text; None for null or blank."""
    import phonenumbers as pn

    text = as_text(value)
    if text is None:
        return None
    text = " ".join(clean(text).split())
    if not text:
        return None
    number = normalise(text)
    m = _EXT.match(number) if number else None
    # Our own reading first (it knows 转 as an extension mark); libphonenumber's lenient parser
    # for anything else, so odd spellings of a number still join it.
    num = _parse(m.group(1), region) if m else _parse(text, region)
    if num is not None and pn.is_possible_number(num):
        ext = m.group(2) if m else num.extension
        e164 = pn.format_number(num, pn.PhoneNumberFormat.E164)
        return f"{e164};ext={ext}" if ext else e164
    digits = re.sub(r"\D", "", text)
    if not digits:
        return text  # no digits at all: the text itself, so unrelated junk values do not all collide
    return ("+" + digits) if text.startswith("+") else digits
