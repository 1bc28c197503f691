"""Exit-entry permits: travel permits to Hong Kong/Macau and Taiwan, home-return permits and
Taiwan compatriot permits. No check digit, so a permit column needs header evidence.

Formats (as published by the National Immigration Administration; unverified beyond them):
Exit-Entry Permit for Travelling to and from Hong Kong and Macau (card, since 2014) ``C`` + a letter
or digit + 7 digits; home-return permits for residents of Hong Kong ``H`` and Macau ``M`` + 8 digits
(10 with the issue count); permits to Taiwan ``L`` + 8 digits and Taiwan compatriot permits ``T`` +
8 digits, or 8 or 10 digits alone.

Decisions (also in ``docs/identifiers.md``):

- **Normalisation**: NFKC, trimmed, Excel's ``="…"`` unwrapped, spaces and dashes removed,
  upper-cased.
- **Recognised as PI** (with a header): 5 to 17 letters or digits; quality 1.0 for a format above,
  0.6 for any other shape (older booklet permits, foreign documents).
- **Valid**: one of the formats above.
- **Canonical form**: the normalised text (any value).
"""

from __future__ import annotations

import re
from typing import Any

from custody.identifiers._text import GROUP_SEPARATORS, as_text, compact

__all__ = ["SEPARATORS", "SOURCE", "canonical", "is_valid", "normalise", "recognise"]

SOURCE = "Exit and Entry Administration Law of the PRC; NIA permit formats"
SEPARATORS = GROUP_SEPARATORS

_SEP = re.compile(SEPARATORS)
_SHAPE = re.compile(r"[A-Z0-9]{5,17}")
_PERMIT = re.compile(r"C[0-9A-Z]\d{7}|[HM]\d{8,10}|[TL]\d{8}|\d{8}|\d{10}")


def normalise(value: Any) -> str | None:
    """The number as rules read it; None for a value that is not text or an integer, or blank."""
    text = as_text(value)
    if text is None:
        return None
    return compact(text, _SEP).upper() or None


def is_valid(value: Any) -> bool:
    """True when ``value`` has one of the permit formats. Never raises."""
    number = normalise(value)
    return number is not None and _PERMIT.fullmatch(number) is not None


def recognise(value: Any) -> float:
    """Quality for classification: 1.0 permit format, 0.6 another 5-17 character shape, else 0."""
    number = normalise(value)
    if number is None or not _SHAPE.fullmatch(number):
        return 0.0
    return 1.0 if _PERMIT.fullmatch(number) else 0.6


def canonical(value: Any) -> str | None:
    """Canonical text for pseudonyms: the normalised number; None for null or blank."""
    return normalise(value)
