"""Bank card numbers (primary account numbers, PAN), ISO/IEC 7812-1, with the Luhn check digit.

A PAN is an issuer identification number, an account number and a Luhn (ISO/IEC 7812-1 Annex B,
"mod 10") check digit, at most 19 digits. China UnionPay cards start ``62`` and have 16 to 19
digits; debit cards of the large banks commonly have 19. The Luhn check comes from ``stdnum.luhn``.

Decisions (also in ``docs/identifiers.md``):

- **Normalisation**: NFKC (full-width digits), surrounding spaces dropped, Excel's ``="…"``
  unwrapped, spaces and dashes between digit groups removed. An integer is read as its digits.
- **Recognised as PI**: the longest digit run of the value has 12 to 19 digits (Maestro cards have
  12) and passes Luhn: quality 1.0, else 0. Judging the longest run lets a value such as
  ``6222…(工行)`` count. A number failing Luhn under a bank-account header is still classified
  (sensitive) by the detector's header rule: a data-quality finding, not a reason to unprotect it.
- **Valid** (the ``cn_bank_card`` check): the whole value is 16 to 19 digits, 19-digit UnionPay
  numbers included, and passes Luhn. Shorter PANs exist abroad but not on cards issued in
  mainland China; a Luhn failure is a data-quality finding.
- **Canonical form**: the normalised digits, upper-cased (the same form serves IBANs and other
  account numbers held in ``bank_account`` columns); spellings of one number agree.
"""

from __future__ import annotations

import re
from typing import Any

from custody.identifiers._text import GROUP_SEPARATORS, as_text, compact

__all__ = ["SEPARATORS", "SOURCE", "canonical", "is_valid", "is_valid_column", "normalise", "recognise"]

SOURCE = "ISO/IEC 7812-1 (PAN up to 19 digits, Luhn check digit); China UnionPay (IIN 62, 16-19 digits)"
SEPARATORS = GROUP_SEPARATORS

_SEP = re.compile(SEPARATORS)
_DIGIT_RUN = re.compile(r"\d+")
_CARD = re.compile(r"\d{16,19}")


def normalise(value: Any) -> str | None:
    """The number as rules read it (cleaned, separators removed, upper-case); None for a value
    that is not text or an integer, or blank."""
    text = as_text(value)
    if text is None:
        return None
    return compact(text, _SEP).upper() or None


def recognise(value: Any) -> float:
    """Quality for classification: 1.0 when the longest digit run has 12-19 digits and passes
    Luhn, else 0. Never raises."""
    from stdnum import luhn

    number = normalise(value)
    runs = _DIGIT_RUN.findall(number) if number else []
    if not runs:
        return 0.0
    digits = max(runs, key=len)
    return 1.0 if 12 <= len(digits) <= 19 and luhn.is_valid(digits) else 0.0


def is_valid(value: Any) -> bool:
    """True when ``value`` is 16-19 digits passing Luhn. ``value``: ``str`` or an integer. Never raises."""
    from stdnum import luhn

    number = normalise(value)
    return number is not None and _CARD.fullmatch(number) is not None and luhn.is_valid(number)


def is_valid_column(values: Any) -> Any:
    """:func:`is_valid` over a whole column, as a NumPy bool array (null: False): RE2 shape
    filter and Luhn as arithmetic over right-aligned digits; values the vectorised path does not
    read exactly go to :func:`is_valid` (see :mod:`custody.identifiers._columns`)."""
    import numpy as np

    from custody.identifiers import _columns as col

    def fast(arr):
        prep = col.prepare(arr, col.ASCII_GROUP_SEPARATORS, upper=True)
        out = np.zeros(len(arr), dtype=bool)
        rows = np.flatnonzero(col.matches(prep.text, r"^\d{16,19}$"))
        if rows.size:
            out[rows] = col.luhn_ok(col.digit_matrix(prep.text, rows, 19))
        return out, prep.undecided

    return col.column_rule(values, fast, is_valid)


def canonical(value: Any) -> str | None:
    """Canonical text for pseudonyms: the normalised number; None for null or blank."""
    return normalise(value)
