"""Identifier rules: one module per identifier family, the single source of truth for how a value
is read, whether it is personal information, whether it is a valid current identifier, and its
canonical form.

Three users go through these rules and nothing else:

- classification (``custody.classification.detectors``): :func:`recognise` is the detector's value
  validator (quality 0..1), and ``SEPARATORS`` is the character class its vectorised preparation
  removes;
- validation (``custody.validation.checks``, behind the custom GX expectations): :func:`is_valid`;
- pseudonyms (``custody.crypto.pseudonym.normalize``): :func:`canonical`.

Every module exposes ``SOURCE`` (the standard and clause it implements) and

- ``normalise(value) -> str | None``: the text the rule reads (NFKC, trimmed, Excel's ``="…"``
  unwrapped, separators removed; see :mod:`custody.identifiers._text`);
- ``recognise(value) -> float``: quality 0..1 as this identifier for classification (0 rejects);
- ``is_valid(value) -> bool``: valid as a current identifier, for data-quality checks;
- ``canonical(value) -> str | None``: the form pseudonyms are computed from (every non-blank value
  gets one, so spellings of the same unrecognised value still agree).

Modules: :mod:`~custody.identifiers.resident_id` (GB 11643, incl. first-generation 15-digit),
:mod:`~custody.identifiers.uscc` (GB 32100), :mod:`~custody.identifiers.mobile` (mainland mobile,
E.164), :mod:`~custody.identifiers.phone` (any phone number, E.164), :mod:`~custody.identifiers.bank_card`
(ISO/IEC 7812 with Luhn, UnionPay 19-digit), :mod:`~custody.identifiers.email_address` (RFC 5322 / 6531),
:mod:`~custody.identifiers.passport`, :mod:`~custody.identifiers.travel_permit`,
:mod:`~custody.identifiers.birth_date` (the plausible range shared with the resident ID).
The decisions and their sources are tabulated in ``docs/identifiers.md``.

Rules never log and never raise with a value; they import nothing from classification,
validation or crypto (those import them). Library imports (stdnum, phonenumbers,
email-validator) happen on first use, so importing a rule is cheap.
"""

from __future__ import annotations

from custody.identifiers import (
    bank_card,
    birth_date,
    email_address,
    mobile,
    passport,
    phone,
    resident_id,
    travel_permit,
    uscc,
)
from custody.identifiers._text import EXCEL_TEXT, GROUP_SEPARATORS, as_text, plain_text

__all__ = [
    "EXCEL_TEXT",
    "GROUP_SEPARATORS",
    "as_text",
    "bank_card",
    "birth_date",
    "email_address",
    "mobile",
    "passport",
    "phone",
    "plain_text",
    "resident_id",
    "travel_permit",
    "uscc",
]
