"""Predicates behind the custom GX expectations, per value and per column.

Plain Python, no Great Expectations import, so they can be unit-tested and reused without paying
the GX import cost. Every ``is_*`` predicate takes one non-null cell value and returns ``bool``;
every ``*_column`` function takes a whole column (pandas Series, Arrow array, list) and returns a
NumPy bool array, one entry per value, computed vectorised by the identifier rule's
``is_valid_column`` (the custom expectations use these). Both give the same decision for every
value (``tests/identifiers``); none of them raises on bad input and none of them logs.

Each predicate is the "valid as a current identifier" decision of the identifier's one rule set
in :mod:`custody.identifiers`, the same rules the classifier's detectors and the pseudonyms use
(decisions and their sources: that package and ``docs/identifiers.md``). In short, after the shared
normalisation (NFKC, so full-width digits and letters; surrounding spaces dropped; Excel's
``="…"`` unwrapped; separators between digit groups removed; upper-case):

* ``is_cn_resident_id``: 18-character number (GB 11643-1999): MOD 11-2 check character (``x``
  accepted as ``X``), birth date a real date between 1880-01-01 and ``today``; the address code is
  not looked up (abolished codes stay valid). First-generation 15-digit numbers are not valid
  current identifiers (they are still PI: the classifier recognises them).
* ``is_cn_mobile``: ``1[3-9]`` + 9 digits after an optional ``+86``/``0086``/``86``; spaces, dashes,
  dots and brackets removed. ``strict=True`` also requires a range allocated in libphonenumber's
  metadata (the default is structural: the metadata lags new allocations).
* ``is_cn_bank_card``: 16 to 19 digits (UnionPay 19-digit included) passing Luhn (ISO/IEC 7812).
  A card failing Luhn fails the check (a data-quality finding); the column stays sensitive.
* ``is_uscc``: unified social credit code (GB 32100-2015) with its mod-31 check character.
* ``is_email``: RFC 5322 syntax via email-validator (no DNS), judged as stored (trimmed, ``="…"``
  unwrapped, no NFKC: ``a＠b.cn`` fails); internationalised addresses (``张三@例子.中国``) pass.

``str`` values, and integers (Python or NumPy) for the numeric identifiers, are read; anything else
is not valid. A format stricter than the rule (say, no separators stored) is a ``regex`` check.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from custody.identifiers import bank_card, email_address, mobile, resident_id, uscc

__all__ = [
    "cn_bank_card_column",
    "cn_mobile_column",
    "cn_resident_id_column",
    "email_column",
    "is_cn_bank_card",
    "is_cn_mobile",
    "is_cn_resident_id",
    "is_email",
    "is_uscc",
    "normalise_cn_mobile",
    "uscc_column",
]


def is_cn_resident_id(value: Any, *, today: _dt.date | None = None) -> bool:
    """Whether ``value`` is a current 18-character PRC resident identity number.

    ``value``: ``str`` or an integer. ``today`` (default the local date) bounds the birth date from
    above. Rule: :func:`custody.identifiers.resident_id.is_valid`. Never raises.
    """
    return resident_id.is_valid(value, today=today)


def normalise_cn_mobile(value: Any) -> str | None:
    """The 11-digit national form of a mainland mobile number, or ``None``.

    Rule: :func:`custody.identifiers.mobile.national`. Never raises.
    """
    return mobile.national(value)


def is_cn_mobile(value: Any, *, strict: bool = False) -> bool:
    """Whether ``value`` is a mainland China mobile number; ``strict`` also requires an allocated
    range (libphonenumber). Rule: :func:`custody.identifiers.mobile.is_valid`. Never raises."""
    return mobile.is_valid(value, strict=strict)


def is_email(value: Any) -> bool:
    """Whether ``value`` is a syntactically valid e-mail address (no DNS lookup).

    Rule: :func:`custody.identifiers.email_address.is_valid`. Never raises.
    """
    return email_address.is_valid(value)


def is_cn_bank_card(value: Any) -> bool:
    """Whether ``value`` is a 16-19 digit bank card number passing Luhn (ISO/IEC 7812).

    Rule: :func:`custody.identifiers.bank_card.is_valid`. Never raises.
    """
    return bank_card.is_valid(value)


def is_uscc(value: Any) -> bool:
    """Whether ``value`` is a unified social credit code with a valid GB 32100 check character.

    Rule: :func:`custody.identifiers.uscc.is_valid`. Never raises.
    """
    return uscc.is_valid(value)


# ------------------------------------------------------------------------------ columns


def cn_resident_id_column(values: Any, *, today: _dt.date | None = None) -> Any:
    """:func:`is_cn_resident_id` over a column (NumPy bool array). Rule:
    :func:`custody.identifiers.resident_id.is_valid_column`."""
    return resident_id.is_valid_column(values, today=today)


def cn_mobile_column(values: Any, *, strict: bool = False) -> Any:
    """:func:`is_cn_mobile` over a column. Rule: :func:`custody.identifiers.mobile.is_valid_column`."""
    return mobile.is_valid_column(values, strict=strict)


def email_column(values: Any) -> Any:
    """:func:`is_email` over a column. Rule: :func:`custody.identifiers.email_address.is_valid_column`."""
    return email_address.is_valid_column(values)


def cn_bank_card_column(values: Any) -> Any:
    """:func:`is_cn_bank_card` over a column. Rule: :func:`custody.identifiers.bank_card.is_valid_column`."""
    return bank_card.is_valid_column(values)


def uscc_column(values: Any) -> Any:
    """:func:`is_uscc` over a column. Rule: :func:`custody.identifiers.uscc.is_valid_column`."""
    return uscc.is_valid_column(values)
