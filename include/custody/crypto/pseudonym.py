"""Pseudonymisation of PI handed over in a deal: keyed tokens and deterministic encryption.

Two methods, both keyed per deal (a deal key from ``ScopedKeyring.deal_key``, wrapped by the KEK):

- **Tokens** (``token``, ``tokens``): HMAC-SHA256 (RFC 2104) of the normalised value, truncated to
  128 bits, 32 lower-case hex digits. One-way for anyone without the deal key; the same person
  gets the same token in every table of the deal, so joins survive; other deals get unrelated tokens.
- **Deterministic encryption** (``encrypt_deterministic``, ``decrypt_deterministic``): AES-SIV
  (RFC 5297, 512-bit key = AES-256 for S2V/CMAC and CTR), for values the key holder must recover.
  Deterministic by design (equal values give equal ciphertexts, which is what keeps joins), so it
  reveals equality and nothing else.

Values are normalised before either method (``normalize``) to the canonical form of the
identifier's one rule set in :mod:`custody.identifiers` (the same rules classification and
validation use; decisions in ``docs/identifiers.md``): Unicode NFKC (full-width digits and letters
become ASCII), trimmed, Excel's ``="…"`` unwrapped, then per PI type — resident IDs, USCCs, bank
accounts, passports, travel permits and driving licences without separators and upper-case
(``x`` → ``X``; a 15-digit resident ID stays 15 digits), mainland mobiles and other phone numbers
in E.164 (default region CN), e-mail addresses in email-validator's normalised form (IDN domains
in Unicode) lower-cased, person names case-folded with spaces between Chinese characters removed,
anything else with whitespace collapsed. Decryption returns the normalised form.

Both outputs are **de-identified** data, still personal information under PIPL Art 73(3) (and
pseudonymised data under GDPR Art 4(5)): never label them anonymous. ``protect_table`` marks each
output column with that label in the Arrow field metadata.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custody.crypto.envelope import IntegrityError
from custody.identifiers import bank_card, email_address, mobile, passport, phone, resident_id, travel_permit, uscc
from custody.identifiers import plain_text

LABEL = "de-identified"
RULE = "PIPL Art 73(3): de-identified information is still personal information; not anonymised"
TOKEN_METHOD = "HMAC-SHA256-128"
SIV_METHOD = "AES-SIV-512"
TOKEN_HEX_DIGITS = 32
_TOKEN_INFO = b"custody/pseudonym/token/v1"
_SIV_INFO = b"custody/pseudonym/siv/v1"

# PI types whose values are the same kind of identifier share a domain, so a number classified as
# ``phone`` in one table and ``mobile_phone`` in another still joins.
DOMAINS = {"mobile_phone": "phone", "phone": "phone"}
# PI type -> the identifier rule whose canonical form its values take. A PRC driving licence
# number is the holder's resident ID number, so it takes that rule (foreign licences fall back
# to the same separator-free, upper-case document form).
_CANONICAL: dict[str, Callable[[str], str | None]] = {
    "resident_id": resident_id.canonical,
    "driving_licence": resident_id.canonical,
    "uscc": uscc.canonical,
    "bank_account": bank_card.canonical,
    "passport": passport.canonical,
    "travel_permit": travel_permit.canonical,
    "email": email_address.canonical,
}
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")


class PseudonymError(IntegrityError):
    """A deterministic ciphertext does not open: another deal's key, another PI type, or altered."""


def normalize(pi_type: str, value: Any, *, region: str = "CN") -> str | None:
    """Canonical text of ``value`` for ``pi_type`` (see the module docstring); None for null or blank.

    ``value``: anything; read as ``str(value)``. ``region``: default region (ISO 3166 alpha-2) for
    phone numbers written without a country code; a mainland mobile is ``+86`` whatever the
    region. A phone number that does not parse keeps its digits (and a leading ``+``).
    """
    if value is None:
        return None
    text = str(value)
    rule = _CANONICAL.get(pi_type)
    if rule is not None:
        return rule(text)
    if pi_type == "mobile_phone":
        return mobile.canonical(text, region=region)
    if pi_type == "phone":
        return phone.canonical(text, region=region)
    plain = plain_text(text)
    if plain is not None and pi_type == "person_name":
        return _CJK_GAP.sub("", plain).casefold()
    return plain


def _domain(pi_type: str) -> bytes:
    return DOMAINS.get(pi_type, pi_type).encode("utf-8")


def _as_string_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    return arr


class Pseudonymizer:
    """Tokens and deterministic encryption under one deal key.

    ``deal_key``: 32 bytes (``ScopedKeyring.deal_key(deal_id)[1]``). Two sub-keys are derived with
    HKDF-SHA256 (RFC 5869, no salt): ``info="custody/pseudonym/token/v1"`` (32 bytes, HMAC key)
    and ``info="custody/pseudonym/siv/v1"`` (64 bytes, AES-SIV key). ``key_id`` / ``deal_id`` are
    recorded in column metadata. ``region``: default phone region.
    Raises ``ValueError`` for a key of another length.
    """

    def __init__(self, deal_key: bytes, *, key_id: str = "", deal_id: str = "", region: str = "CN") -> None:
        if len(deal_key) != 32:
            raise ValueError("deal key must be 32 bytes")
        self._token_key = HKDF(SHA256(), 32, salt=None, info=_TOKEN_INFO).derive(deal_key)
        self._siv = AESSIV(HKDF(SHA256(), 64, salt=None, info=_SIV_INFO).derive(deal_key))
        self.key_id = key_id
        self.deal_id = deal_id
        self.region = region

    @classmethod
    def for_deal(cls, keyring: Any, deal_id: str, *, region: str = "CN") -> Pseudonymizer:
        """The pseudonymizer of ``deal_id`` with its key from a ``ScopedKeyring`` (created on first use)."""
        key_id, key = keyring.deal_key(deal_id)
        return cls(key, key_id=key_id, deal_id=deal_id, region=region)

    # -- tokens --------------------------------------------------------------------------------
    def _token(self, pi_type: str, normalized: str) -> str:
        msg = _domain(pi_type) + b"\x00" + normalized.encode("utf-8")
        return hmac.new(self._token_key, msg, hashlib.sha256).hexdigest()[:TOKEN_HEX_DIGITS]

    def token(self, pi_type: str, value: Any) -> str | None:
        """Token of one value: ``hex(HMAC-SHA256(token key, domain || 0x00 || normalize(value)))[:32]``.

        ``domain`` is the PI type (``phone`` for ``phone``/``mobile_phone``). None stays None.
        """
        n = normalize(pi_type, value, region=self.region)
        return None if n is None else self._token(pi_type, n)

    def tokens(self, pi_type: str, column: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Tokens for a whole Arrow column (any type; cast to string), nulls kept: ``pa.string()``, same length.

        Each distinct value is normalised and hashed once, then spread back with ``take``.
        """
        return self._map(column, lambda v: self.token(pi_type, v))

    # -- deterministic encryption --------------------------------------------------------------
    def encrypt_deterministic(self, pi_type: str, value: Any) -> str | None:
        """AES-SIV (RFC 5297) of ``normalize(value)``, associated data ``["custody/pseudonym/siv/v1", domain]``.

        Returns URL-safe base64 without padding of ``SIV (16 bytes) || ciphertext``; None stays None.
        Equal normalised values give equal outputs (deterministic), so joins survive.
        """
        n = normalize(pi_type, value, region=self.region)
        if n is None:
            return None
        out = self._siv.encrypt(n.encode("utf-8"), [_SIV_INFO, _domain(pi_type)])
        return base64.urlsafe_b64encode(out).rstrip(b"=").decode("ascii")

    def decrypt_deterministic(self, pi_type: str, text: str | None) -> str | None:
        """Recover the normalised value from ``encrypt_deterministic`` output.

        Raises ``PseudonymError`` if it was made under another deal key or PI type, or altered.
        """
        if text is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return self._siv.decrypt(raw, [_SIV_INFO, _domain(pi_type)]).decode("utf-8")
        except (InvalidTag, ValueError):
            raise PseudonymError(
                f"{pi_type} value does not open under deal key {self.key_id or '(unnamed)'}: "
                "another deal or PI type, or altered"
            ) from None

    def encrypt_column(self, pi_type: str, column: pa.Array | pa.ChunkedArray) -> pa.Array:
        """``encrypt_deterministic`` over an Arrow column: ``pa.string()``, nulls kept, same length."""
        return self._map(column, lambda v: self.encrypt_deterministic(pi_type, v))

    def decrypt_column(self, pi_type: str, column: pa.Array | pa.ChunkedArray) -> pa.Array:
        """``decrypt_deterministic`` over an Arrow column. Raises ``PseudonymError`` on the first bad value."""
        return self._map(column, lambda v: self.decrypt_deterministic(pi_type, v))

    # -- tables --------------------------------------------------------------------------------
    def protect_table(self, table: pa.Table, columns: Mapping[str, tuple[str, str]]) -> pa.Table:
        """Replace PI columns with tokens or deterministic ciphertexts, labelled de-identified.

        ``columns``: ``{column name: (pi_type, "token" | "encrypt")}``. Each replaced column becomes
        ``pa.string()`` with field metadata ``custody.protection = "de-identified"``,
        ``custody.method``, ``custody.pi_type``, ``custody.deal_id``, ``custody.key_id`` and
        ``custody.rule`` (PIPL Art 73(3)). Other columns are unchanged. Raises ``KeyError`` for a
        missing column, ``ValueError`` for an unknown method.
        """
        out = table
        for name, (pi_type, method) in columns.items():
            i = out.schema.get_field_index(name)
            if i < 0:
                raise KeyError(name)
            if method == "token":
                values, label = self.tokens(pi_type, out.column(i)), TOKEN_METHOD
            elif method == "encrypt":
                values, label = self.encrypt_column(pi_type, out.column(i)), SIV_METHOD
            else:
                raise ValueError(f"unknown method {method!r}; expected 'token' or 'encrypt'")
            meta = {"custody.protection": LABEL, "custody.method": label, "custody.pi_type": pi_type,
                    "custody.deal_id": self.deal_id, "custody.key_id": self.key_id, "custody.rule": RULE}
            out = out.set_column(i, pa.field(name, pa.string(), nullable=True, metadata=meta), values)
        return out

    @staticmethod
    def _map(column: pa.Array | pa.ChunkedArray, fn: Any) -> pa.Array:
        arr = _as_string_array(column)
        distinct = pc.unique(arr)
        mapped = pa.array([fn(v) for v in distinct.to_pylist()], pa.string())
        return pc.take(mapped, pc.index_in(arr, value_set=distinct))
