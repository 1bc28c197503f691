"""E-mail addresses: RFC 5322 syntax, internationalised addresses per RFC 6531 / RFC 6532.

Syntax and normalisation come from ``email-validator`` (``validate_email`` with
``check_deliverability=False``: no DNS query, nothing leaves the process). Internationalised
domains are normalised per IDNA 2008 / UTS #46 by the library; internationalised local parts
(``张三@例子.中国``) are accepted (SMTPUTF8, RFC 6531).

Decisions (also in ``docs/identifiers.md``):

- **Normalisation**: NFKC (full-width letters become ASCII), surrounding whitespace dropped (RFC 5322
  section 3.2.3 lets folding white space surround an ``addr-spec``'s parts: it is not part of the
  address), Excel's ``="…"`` unwrapped. Whitespace inside the address is not removed: it makes the
  address invalid.
- **Recognised as PI** and **valid** are the same rule: the library accepts the syntax.
- **Canonical form**: for a valid address, the library's normalised form (domain in Unicode, IDNA
  normalised, so ``a@xn--fsqu00a.xn--fiqs8s`` and ``a@例子.中国`` agree) lower-cased entirely. RFC 5321
  section 2.4 lets a mailbox's local part be case-sensitive, but no mainstream provider treats it
  so and the same customer is routinely written in two cases; joining them is the lesser risk. A
  value that is not a valid address: its spaces removed and lower-cased, so spellings still agree.
"""

from __future__ import annotations

from typing import Any

from custody.identifiers._text import as_text, clean

__all__ = ["SOURCE", "canonical", "is_valid", "normalise", "recognise"]

SOURCE = "RFC 5322 section 3.4.1 (addr-spec); RFC 6531 and RFC 6532 (internationalised); IDNA 2008 / UTS #46"


def normalise(value: Any) -> str | None:
    """The address as rules read it: NFKC, trimmed, ``="…"`` unwrapped; None for non-text or blank."""
    if not isinstance(value, str):
        return None
    return clean(value) or None


def _validated(text: str) -> Any:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    except Exception:  # noqa: BLE001 - odd input (e.g. an IDNA codec edge) must not abort a chunk
        return None


def is_valid(value: Any) -> bool:
    """True when ``value`` (``str``) is a syntactically valid e-mail address. Never raises."""
    text = normalise(value)
    return text is not None and _validated(text) is not None


def recognise(value: Any) -> float:
    """Quality for classification: 1.0 when :func:`is_valid`, else 0."""
    return 1.0 if is_valid(value) else 0.0


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
