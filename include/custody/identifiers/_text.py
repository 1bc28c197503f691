"""Text preparation shared by every identifier rule: one normalisation, applied the same way
whichever use (classification, validation, pseudonyms) asks.

Steps, in order (:func:`clean`):

1. Unicode NFKC (UAX #15): full-width digits, letters, ``＋`` and ``－`` become ASCII, so
   ``１３８００１３８０００`` is ``13800138000``.
2. Surrounding whitespace is dropped (leading/trailing spaces are padding, never part of a number).
3. Excel's text-forcing form ``="…"`` is unwrapped. Spreadsheet exports write long digit strings as
   ``="110101198001011232"`` so Excel does not turn them into a float (it keeps 15 significant
   digits and would destroy an 18-digit ID or a 19-digit card number); the value inside is the
   identifier. Only a value that is wholly ``="…"`` is unwrapped.

Identifier modules then drop their own separator characters (``SEPARATORS``, a character class
valid in both Python ``re`` and RE2, so the classifier can apply the same class vectorised with
``pyarrow.compute``) and, where letters occur, upper-case.

Nothing here logs or raises with a value.
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from typing import Any

#: Dashes NFKC leaves alone: U+2010..U+2015 (hyphen, non-breaking hyphen, figure dash, en dash,
#: em dash, horizontal bar) and U+2212 (minus sign). Written as literal characters so the class
#: works in RE2 as well as in Python ``re``.
DASHES = "\u2010-\u2015\u2212"
#: Separators between the digit groups of a document number: whitespace, hyphen-minus, dashes.
GROUP_SEPARATORS = f"[\\s\\-{DASHES}]"
#: RE2 / Python pattern of Excel's text-forcing form; group 1 is the value inside.
EXCEL_TEXT = r'^="(.*)"$'

_EXCEL = re.compile(EXCEL_TEXT, re.DOTALL)
_GROUP_SEPARATORS = re.compile(GROUP_SEPARATORS)


def as_text(value: Any) -> str | None:
    """``value`` as text when it can hold an identifier, else None.

    ``str`` as is; integers (Python ``int``, NumPy integers: anything ``numbers.Integral``) as their
    decimal digits, because databases and spreadsheets store IDs, phones and card numbers as
    integers; ``bool`` and every other type (floats have lost digits, dates are not identifiers)
    give None. Never raises.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    return None


def clean(text: str) -> str:
    """NFKC, surrounding whitespace dropped, ``="…"`` unwrapped (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).strip()
    m = _EXCEL.match(text)
    return m.group(1).strip() if m else text


def compact(text: str, separators: re.Pattern[str] = _GROUP_SEPARATORS) -> str:
    """:func:`clean` then every character of ``separators`` removed."""
    return separators.sub("", clean(text))


def document_form(value: Any) -> str | None:
    """Canonical text of a document number: cleaned, group separators removed, upper-case.

    None for a value :func:`as_text` refuses or a blank one. The fallback canonical form of the
    document identifiers (resident ID, USCC, bank card, passport, travel permit) for values their
    rule does not recognise: two spellings of the same unrecognised number still agree.
    """
    text = as_text(value)
    if text is None:
        return None
    out = compact(text).upper()
    return out or None


def plain_text(value: Any) -> str | None:
    """Cleaned text with inner whitespace runs collapsed to one space; None for null or blank.

    Any value is accepted here (``str(value)``): this is the canonical form of last resort.
    """
    if value is None:
        return None
    text = " ".join(clean(str(value)).split())
    return text or None
