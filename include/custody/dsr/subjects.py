"""A data subject as keyed pseudonyms: what a request and the deletion ledger hold instead of identifiers.

A request names its subject by one or more identifiers of three kinds (``IDENTIFIER_TYPES``):
resident ID number (GB 11643), mainland mobile number, e-mail address. Each is checked with its
rule in :mod:`custody.identifiers` and turned, at once, into

- a **ledger pseudonym** per identifier: ``Pseudonymizer.token(pi_type, value)`` under the deal
  key ``custody/dsr`` (HMAC-SHA256-128 of the canonical form, ``docs/format.md`` 1.8), what
  ``dsr_request.pseudonyms`` and ``dsr_ledger`` hold and what restores compare each row's
  identifier columns against;
- an **audit pseudonym** of the first identifier under ``custody/audit``
  (``custody.audit.entries.subject_pseudonym``), the ``data_subject`` of the request's audit entries.

The identifier itself is never stored, logged or put in an error. Both are de-identified
information, still personal information (PIPL Art 73(3)); destroying the ``custody/dsr`` key
would make the ledger unreadable, so it is never destroyed while a backup can be restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from custody.identifiers import email_address, mobile, resident_id

LEDGER_SCOPE = "custody/dsr"
"""Deal id of the key-store key under which requests and the ledger pseudonymise subjects."""

#: Identifier kinds a request may name, with the rule that checks a value.
IDENTIFIER_TYPES: dict[str, Any] = {
    "resident_id": lambda v: resident_id.recognise(v) > 0,
    "mobile_phone": lambda v: mobile.is_valid(v),
    "email": lambda v: email_address.is_valid(v),
}

#: Column PI types (classification) -> the identifier kind their values are compared as. A PRC
#: driving licence number is the holder's resident ID number; any phone column may hold a mobile.
COLUMN_TYPES: dict[str, str] = {
    "resident_id": "resident_id",
    "driving_licence": "resident_id",
    "mobile_phone": "mobile_phone",
    "phone": "mobile_phone",
    "email": "email",
}


class SubjectError(ValueError):
    """An identifier a request names is missing, of an unknown kind or not a valid identifier
    (the message names the kind, never the value)."""


@dataclass(frozen=True)
class Subject:
    """One data subject as pseudonyms: ``pseudonyms`` ``{pi_type: 32-hex}`` (ledger key),
    ``audit`` the 32-hex audit-log pseudonym."""

    pseudonyms: dict[str, str]
    audit: str


def pseudonymizer(keyring: Any) -> Any:
    """The ``Pseudonymizer`` of the ledger scope (``custody/dsr``; key created on first use)."""
    from custody.crypto.pseudonym import Pseudonymizer

    return Pseudonymizer.for_deal(keyring, LEDGER_SCOPE)


def pseudonymise(keyring: Any, identifiers: Mapping[str, Any]) -> Subject:
    """Check each identifier with its rule and return the subject's pseudonyms.

    ``identifiers``: ``{kind: value}`` with kinds from ``IDENTIFIER_TYPES``. Raises
    ``SubjectError`` for none, an unknown kind, or a value its rule refuses.
    """
    from custody.audit.entries import subject_pseudonym

    given = {k: v for k, v in identifiers.items() if v is not None and str(v).strip()}
    if not given:
        raise SubjectError("a request names its subject by at least one identifier "
                           f"({', '.join(IDENTIFIER_TYPES)})")
    unknown = sorted(set(given) - set(IDENTIFIER_TYPES))
    if unknown:
        raise SubjectError(f"unknown identifier kind(s) {unknown}; expected {', '.join(IDENTIFIER_TYPES)}")
    bad = sorted(k for k, v in given.items() if not IDENTIFIER_TYPES[k](v))
    if bad:
        raise SubjectError(f"not a valid identifier of kind {', '.join(bad)} (the value is not shown)")
    p = pseudonymizer(keyring)
    pseudonyms = {k: p.token(k, v) for k, v in sorted(given.items())}
    first = next(iter(sorted(given)))
    return Subject(pseudonyms=pseudonyms, audit=subject_pseudonym(keyring, first, given[first]))
