"""The transferee's X25519 key and the keyring that wraps data keys to it.

A handover object is a Custody object (``docs/format.md`` section 2) whose data key is wrapped
not under a key-encryption key of ours but to the transferee's public key (``docs/format.md``
section 10.2)::

    e      = fresh X25519 key pair per object (ephemeral)
    shared = X25519(e_private, R_public)                      RFC 7748
    kw     = HKDF-SHA256(ikm=shared, salt=e_public || R_public, info="custody/handover/wrap/v1", L=32)
    wrapped_dek = e_public (32) || nonce (12) || AES-256-GCM(kw, nonce, DEK, aad)      92 bytes
    aad    = "custody/dek-wrap/v1|" || kek_id || "|" || wrap context

``kek_id`` is the recipient fingerprint ``x25519-<first 32 hex of SHA-256(R_public)>``. Only the
holder of ``R_private`` recomputes ``shared``; Custody keeps no copy of anything that opens a
package once it is built.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custody.crypto.keyring import KeyringError, UnknownKeyError, WrongKeyError

KIND = "x25519"
WRAP_PREFIX = b"custody/dek-wrap/v1|"
WRAP_INFO = b"custody/handover/wrap/v1"
PUBLIC_PREFIX = "x25519:"
WRAPPED_BYTES = 32 + 12 + 32 + 16


def fingerprint(public: bytes) -> str:
    """``x25519-<32 hex>``: the first 128 bits of SHA-256 of the raw 32-byte public key."""
    return f"{KIND}-{hashlib.sha256(public).hexdigest()[:32]}"


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def parse_public_key(text: str) -> bytes:
    """The raw 32-byte X25519 public key of ``x25519:<base64>`` (the form ``deal.yaml`` holds).

    Raises ``KeyringError`` for another prefix, bad base64 or a length other than 32 bytes.
    """
    if not text.startswith(PUBLIC_PREFIX):
        raise KeyringError("a transferee public key is written x25519:<base64 of 32 bytes>")
    try:
        raw = base64.b64decode(text[len(PUBLIC_PREFIX):], validate=True)
    except ValueError:
        raise KeyringError("transferee public key: not valid base64") from None
    if len(raw) != 32:
        raise KeyringError(f"transferee public key: {len(raw)} bytes, an X25519 key has 32")
    return raw


def format_public_key(public: bytes) -> str:
    """``x25519:<base64>`` of a raw public key."""
    return PUBLIC_PREFIX + base64.b64encode(public).decode("ascii")


@dataclass(frozen=True)
class RecipientKey:
    """The transferee's key pair (private part only on the transferee's side)."""

    private: X25519PrivateKey

    @property
    def public(self) -> bytes:
        """Raw 32-byte public key."""
        return _raw_public(self.private.public_key())

    @property
    def public_text(self) -> str:
        """``x25519:<base64>``, to put in ``deal.yaml``."""
        return format_public_key(self.public)

    @property
    def fingerprint(self) -> str:
        """``x25519-<32 hex>`` (``fingerprint``)."""
        return fingerprint(self.public)


def generate_recipient_key(path: Path) -> RecipientKey:
    """Create a new X25519 private key at ``path`` (PKCS#8 PEM, mode 0600, never overwritten).

    Run by the transferee; only the public key (``RecipientKey.public_text``) is sent to the
    transferor. Raises ``FileExistsError`` when ``path`` exists.
    """
    key = X25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return RecipientKey(key)


def load_private_key(path: Path) -> RecipientKey:
    """Read an X25519 private key (PKCS#8 PEM, as ``generate_recipient_key`` writes it).

    Raises ``KeyringError`` for a missing file or another kind of key (the message names the path).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyringError(f"transferee private key not found: {path}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyringError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise KeyringError(f"{path} holds a {type(key).__name__}, not an X25519 private key")
    return RecipientKey(key)


def _wrap_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(SHA256(), 32, salt=ephemeral + recipient, info=WRAP_INFO).derive(shared)


class RecipientKeyring:
    """A ``custody.crypto.Keyring`` that wraps data keys to one X25519 public key.

    Built with the public key only (``RecipientKeyring(public)``), it wraps; built with the private
    key (``RecipientKeyring.opener(key)``), it also unwraps. It seals nothing: ``mac`` raises
    (a package manifest is sealed by ``custody.handover.package``, section 10.3).
    Errors: ``UnknownKeyError`` (the object is for another recipient: both fingerprints named),
    ``WrongKeyError`` (the wrap does not open: altered), ``KeyringError``.
    """

    kind = KIND

    def __init__(self, public: bytes, private: X25519PrivateKey | None = None) -> None:
        if len(public) != 32:
            raise KeyringError("an X25519 public key has 32 bytes")
        self.public = public
        self._private = private
        self.kek = fingerprint(public)

    @classmethod
    def opener(cls, key: RecipientKey) -> RecipientKeyring:
        """The keyring of the private key's holder (wraps and unwraps)."""
        return cls(key.public, key.private)

    def active_kek_id(self) -> str:
        return self.kek

    def wrap(self, dek: bytes, context: bytes) -> tuple[str, bytes]:
        ephemeral = X25519PrivateKey.generate()
        e_pub = _raw_public(ephemeral.public_key())
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.public))
        nonce = secrets.token_bytes(12)
        aad = WRAP_PREFIX + self.kek.encode() + b"|" + context
        sealed = AESGCM(_wrap_key(shared, e_pub, self.public)).encrypt(nonce, dek, aad)
        return self.kek, e_pub + nonce + sealed

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        if kek_id != self.kek:
            raise UnknownKeyError(
                f"this object is encrypted to recipient key {kek_id}; the private key given is {self.kek}: "
                "open it with the transferee key the package was built for"
            )
        if self._private is None:
            raise KeyringError("a recipient keyring without the private key cannot open a package")
        if len(wrapped) != WRAPPED_BYTES:
            raise WrongKeyError(f"wrapped data key has {len(wrapped)} bytes, expected {WRAPPED_BYTES}")
        e_pub, nonce, sealed = wrapped[:32], wrapped[32:44], wrapped[44:]
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(e_pub))
        except ValueError:  # a low-order point: the all-zero shared secret is refused
            raise WrongKeyError("ephemeral public key in the object header is invalid") from None
        aad = WRAP_PREFIX + self.kek.encode() + b"|" + context
        try:
            return AESGCM(_wrap_key(shared, e_pub, self.public)).decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise WrongKeyError(
                f"data key does not open under recipient key {self.kek} (header altered or moved)"
            ) from None

    def mac(self, data: bytes) -> tuple[str, str]:
        raise KeyringError("a recipient keyring seals nothing")

    def verify_mac(self, kek_id: str, data: bytes, tag: str) -> bool:
        return False

    def agree(self, ephemeral_public: bytes, info: bytes) -> bytes:
        """``HKDF-SHA256(X25519(private, ephemeral_public), salt=ephemeral_public || R_public, info)``:
        32 bytes; the transferee's half of ``sender_agreement`` (manifest seal and receipt proof)."""
        if self._private is None:
            raise KeyringError("the private key is needed")
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        except ValueError:
            raise WrongKeyError("manifest ephemeral public key is invalid") from None
        return HKDF(SHA256(), 32, salt=ephemeral_public + self.public, info=info).derive(shared)


def sender_agreement(recipient_public: bytes, infos: list[bytes]) -> tuple[bytes, list[bytes]]:
    """A fresh ephemeral key agreed with the recipient: ``(ephemeral public, [32-byte key per info])``.

    Each key is ``HKDF-SHA256(X25519(e, R), salt=e_public || R_public, info)``; the ephemeral private
    key is dropped on return, so afterwards only the recipient can derive them again.
    """
    ephemeral = X25519PrivateKey.generate()
    e_pub = _raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    keys = [HKDF(SHA256(), 32, salt=e_pub + recipient_public, info=i).derive(shared) for i in infos]
    return e_pub, keys
