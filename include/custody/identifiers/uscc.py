"""Unified social credit codes (统一社会信用代码) of organisations, GB 32100-2015.

Structure (GB 32100-2015 clause 4): registration authority (1 character) + organisation type (1) +
administrative division code (6 digits, GB/T 2260) + organisation code (9 characters, GB 11714) +
check character (1), a weighted mod-31 check over the first 17 characters. Characters come from
``0-9A-Z`` without ``I O S V Z``. Organisation data, but personal information for sole
proprietors (个体工商户, codes starting ``92``).

Decisions (also in ``docs/identifiers.md``):

- **Normalisation**: NFKC, surrounding spaces dropped, Excel's ``="…"`` unwrapped, spaces and
  dashes removed, upper-cased (lower-case letters are the same code).
- **Letters in positions 1-2 are allowed** (registration authorities such as ``Y``, "other"),
  as the standard allows; python-stdnum 2.2's ``validate`` demands digits there, so only its
  check-character computation (``stdnum.cn.uscc.calc_check_digit``) is used, with the format
  checked here: two code characters, six digits, ten code characters.
- Recognised as PI and valid as a current code are the same rule (a code has no legacy form).
"""

from __future__ import annotations

import re
from typing import Any

from custody.identifiers._text import GROUP_SEPARATORS, as_text, compact

__all__ = ["ALPHABET", "SEPARATORS", "SOURCE", "canonical", "is_valid", "is_valid_column", "normalise", "recognise"]

SOURCE = "GB 32100-2015 (clause 4, check character); GB/T 2260; GB 11714"
#: The 31 code characters of GB 32100 (no I, O, S, V, Z).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SEPARATORS = GROUP_SEPARATORS

_SEP = re.compile(SEPARATORS)
_SHAPE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-HJ-NP-RTUWXY]{10}")


def normalise(value: Any) -> str | None:
    """The code as rules read it (NFKC, trimmed, ``="…"`` unwrapped, separators removed,
    upper-case); None for a value that is not text or an integer, or blank."""
    text = as_text(value)
    if text is None:
        return None
    return compact(text, _SEP).upper() or None


def is_valid(value: Any) -> bool:
    """True when ``value`` is a unified social credit code with the right check character. Never raises."""
    from stdnum.cn import uscc

    code = normalise(value)
    return code is not None and _SHAPE.fullmatch(code) is not None and uscc.calc_check_digit(code) == code[17]


def is_valid_column(values: Any) -> Any:
    """:func:`is_valid` over a whole column, as a NumPy bool array (null: False): RE2 shape
    filter and the mod-31 check character as arithmetic; values the vectorised path does not read
    exactly go to :func:`is_valid` (see :mod:`custody.identifiers._columns`)."""
    import numpy as np

    from custody.identifiers import _columns as col

    def fast(arr):
        prep = col.prepare(arr, col.ASCII_GROUP_SEPARATORS, upper=True)
        out = np.zeros(len(arr), dtype=bool)
        rows = np.flatnonzero(col.matches(prep.text, "^" + _SHAPE.pattern + "$"))
        if rows.size:
            out[rows] = col.mod31_ok(col.digit_matrix(prep.text, rows, 18))
        return out, prep.undecided

    return col.column_rule(values, fast, is_valid)


def recognise(value: Any) -> float:
    """Quality for classification: 1.0 when :func:`is_valid`, else 0."""
    return 1.0 if is_valid(value) else 0.0


def canonical(value: Any) -> str | None:
    """Canonical text for pseudonyms: the normalised code (any value, valid or not); None if blank."""
    return normalise(value)
