"""Passport numbers. No passport number carries a check digit in its printed number, so a
passport column needs header evidence; the rule only grades the shape.

PRC passports (Passport Law of the PRC, in force 2007-01-01; series letters as issued by the
National Immigration Administration, unverified beyond the published formats): ordinary
electronic passports ``E`` + 8 digits, or ``E`` + a letter (not I or O) + 7 digits, issued since
2012; the older non-electronic ordinary passports ``G`` + 8 digits; diplomatic, service and public
affairs passports ``D``/``S``/``P`` + 8 digits or ``DE``/``SE``/``PE`` + 7 digits.

Decisions (also in ``docs/identifiers.md``):

- **Normalisation**: NFKC, trimmed, Excel's ``="…"`` unwrapped, spaces and dashes removed,
  upper-cased.
- **Recognised as PI** (with a header): 5 to 17 letters or digits (ICAO Doc 9303 leaves the
  number's format to the issuing state and allows up to 9 characters in the machine-readable
  zone, longer with the optional data). Quality 1.0 for a PRC format, 0.6 for any other shape.
- **Valid as a current PRC passport**: a PRC format other than the ``G`` series. The last ``G``
  passports were issued in 2012 and an ordinary passport is valid for at most ten years (Passport
  Law Art 7), so none is current. Foreign passports cannot be validated and are not valid here.
- **Canonical form**: the normalised text (any value).
"""

from __future__ import annotations

import re
from typing import Any

from custody.identifiers._text import GROUP_SEPARATORS, as_text, compact

__all__ = ["SEPARATORS", "SOURCE", "canonical", "is_valid", "normalise", "recognise"]

SOURCE = "Passport Law of the PRC Art 7 (validity); ICAO Doc 9303 (document number); NIA series formats"
SEPARATORS = GROUP_SEPARATORS

_SEP = re.compile(SEPARATORS)
_SHAPE = re.compile(r"[A-Z0-9]{5,17}")
_CN = re.compile(r"E[0-9A-HJ-NP-Z]\d{7}|[EGDSP]\d{8}|[DSP]E\d{7}")
_CN_CURRENT = re.compile(r"E[0-9A-HJ-NP-Z]\d{7}|[EDSP]\d{8}|[DSP]E\d{7}")


def normalise(value: Any) -> str | None:
    """The number as rules read it; None for a value that is not text or an integer, or blank."""
    text = as_text(value)
    if text is None:
        return None
    return compact(text, _SEP).upper() or None


def recognise(value: Any) -> float:
    """Quality for classification: 1.0 PRC format, 0.6 another 5-17 character shape, else 0."""
    number = normalise(value)
    if number is None or not _SHAPE.fullmatch(number):
        return 0.0
    return 1.0 if _CN.fullmatch(number) else 0.6


def is_valid(value: Any) -> bool:
    """True when ``value`` is a PRC passport number of a series still current. Never raises."""
    number = normalise(value)
    return number is not None and _CN_CURRENT.fullmatch(number) is not None


def canonical(value: Any) -> str | None:
    """Canonical text for pseudonyms: the normalised number; None for null or blank."""
    return normalise(value)
