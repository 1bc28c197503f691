"""Envelope encryption for everything Custody writes: see ``docs/format.md``."""

from custody.crypto.envelope import (
    CustodyFormatError,
    IntegrityError,
    ObjectHeader,
    ObjectInfo,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    encrypt_stream,
    read_header,
)
from custody.crypto.keyring import Keyring, KeyringError, LocalKeyring, UnknownKeyError, WrongKeyError, open_keyring

__all__ = [
    "CustodyFormatError",
    "IntegrityError",
    "Keyring",
    "KeyringError",
    "LocalKeyring",
    "ObjectHeader",
    "ObjectInfo",
    "UnknownKeyError",
    "WrongKeyError",
    "decrypt_bytes",
    "decrypt_stream",
    "encrypt_bytes",
    "encrypt_stream",
    "open_keyring",
    "read_header",
]
