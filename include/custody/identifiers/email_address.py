"""E-mail addresses: RFC 5322 syntax, internationalised addresses per RFC 6531 / RFC 6532.

Syntax and normalisation come from ``email-validator`` (``validate_email`` with
``check_deliverability=False``: no DNS query, nothing leaves the process). Internationalised
domains are normalised per IDNA 2008 / UTS #46 by the library; internationalised local parts
(``张三@例子.中国``) are accepted (SMTPUTF8, RFC 6531).

Decisions (also in ``docs/identifiers.md``):

- **Valid** (the ``email`` check) judges the address **as stored**: surrounding whitespace dropped
  (RFC 5322 section 3.2.3 lets folding white space surround an ``addr-spec``'s parts: it is not
  part of the address) and Excel's ``="…"`` unwrapped, but no NFKC: a stored ``a＠b.cn`` (full-width
  commercial at) is not an address a mail system accepts, so it is a data-quality finding.
  Full-width letters in the local part (``ｚｈａｎｇ@example.com``) are valid as stored
  (RFC 6531 local part). Whitespace inside the address makes it invalid.
- **Recognised as PI** (classification, :func:`normalise`): NFKC first (full-width letters and
  ``＠`` become ASCII), then the same syntax; valid as stored or after NFKC. A full-width address is
  still somebody's address and is protected as one.
- **Canonical form**: for a valid address, the library's normalised form (domain in Unicode, IDNA
  normalised, so ``a@xn--fsqu00a.xn--fiqs8s`` and ``a@例子.中国`` agree) lower-cased entirely. RFC 5321
  section 2.4 lets a mailbox's local part be case-sensitive, but no mainstream provider treats it
  so and the same customer is routinely written in two cases; joining them is the lesser risk. A
  value that is not a valid address: its spaces removed and lower-cased, so spellings still agree.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from custody.identifiers._text import EXCEL_TEXT, as_text, clean

__all__ = ["SOURCE", "canonical", "is_valid", "is_valid_column", "normalise", "recognise", "stored"]

SOURCE = "RFC 5322 section 3.4.1 (addr-spec); RFC 6531 and RFC 6532 (internationalised); IDNA 2008 / UTS #46"

_EXCEL = re.compile(EXCEL_TEXT, re.DOTALL)


def normalise(value: Any) -> str | None:
    """The address as rules read it: NFKC, trimmed, ``="…"`` unwrapped; None for non-text or blank."""
    if not isinstance(value, str):
        return None
    return clean(value) or None


def stored(value: Any) -> str | None:
    """The address as stored, as :func:`is_valid` reads it: trimmed, ``="…"`` unwrapped, no NFKC;
    None for non-text or blank."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = _EXCEL.match(text)
    return (m.group(1).strip() if m else text) or None


def _validated(text: str) -> Any:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    except Exception:  # noqa: BLE001 - odd input (e.g. an IDNA codec edge) must not abort a chunk
        return None


def is_valid(value: Any) -> bool:
    """True when ``value`` (``str``) as stored is a syntactically valid e-mail address. Never raises."""
    text = stored(value)
    return text is not None and _validated(text) is not None


def recognise(value: Any) -> float:
    """Quality for classification: 1.0 when the address is valid as stored or after NFKC, else 0."""
    if is_valid(value):
        return 1.0
    text = normalise(value)
    return 1.0 if text is not None and text != stored(value) and _validated(text) is not None else 0.0


#: Addresses the column path accepts without asking the library: ASCII dot-atom local part of
#: common characters, host labels of letters, digits and inner hyphens (no ``--``, so no Punycode
#: or IDNA edge), an alphabetic top-level label. Every such address email-validator accepts too,
#: unless its top-level label is a special-use name (checked separately) or it is too long.
_PLAIN = (
    r"^[A-Za-z0-9_%+=-]+(?:\.[A-Za-z0-9_%+=-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


@functools.cache
def _special_labels() -> tuple[str, ...]:
    """email-validator's special-use names of one label (a plain address's top-level label is one)."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    return tuple(sorted(n for n in SPECIAL_USE_DOMAIN_NAMES if "." not in n))


def is_valid_column(values: Any) -> Any:
    """:func:`is_valid` over a whole column, as a NumPy bool array (null: False).

    Vectorised over ASCII values (as stored, trimmed, ``="…"`` unwrapped): no ``@`` is invalid; a
    plain address (``_PLAIN``, at most 200 characters, no ``--``, top-level label not a
    special-use name of email-validator) is valid. Everything else (quoted or unusual local parts,
    IDNA, non-ASCII, special-use names) goes to :func:`is_valid`, the library.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from custody.identifiers import _columns as col

    def fast(arr):
        n = len(arr)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        prep = col.clean(arr, nfkc=False)
        text = prep.text
        present = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=bool)
        plain = col.matches(text, _PLAIN) & ~col.found(text, "--")
        plain &= np.asarray(pc.fill_null(pc.less_equal(pc.utf8_length(text), 200), False)
                            .to_numpy(zero_copy_only=False), dtype=bool)
        if plain.any():
            # A plain address's top-level label is the letters after its last ".": it is a
            # special-use name exactly when the address, lower-cased, ends with "." and the name.
            lower = pc.ascii_lower(text)
            for name in _special_labels():
                plain &= ~col.ends_with(lower, "." + name)
        # Without "@" an address is invalid; the rest of the present values that are not plain
        # go to the library (usually few: the "@" test runs on them only).
        rest = np.flatnonzero(present & ~plain)
        undecided = prep.undecided.copy()
        if rest.size:
            undecided[rest] |= col.found(text.take(pa.array(rest, type=pa.int64())), "@")
        return plain, undecided

    return col.column_rule(values, fast, is_valid)


def canonical(value: Any) -> str | None:
    """Canonical text for pseudonyms (see the module docstring); None for null or blank."""
    text = as_text(value)
    if text is None:
        return None
    text = clean(text)
    info = _validated(text) if text else None
    if info is not None:
        return info.normalized.lower()
    return "".join(text.split()).lower() or None
