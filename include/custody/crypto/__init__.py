"""Envelope encryption, keyrings, scope keys and pseudonymisation: see ``docs/format.md``.

The envelope and keyring names load eagerly (they are light); ``KmsKeyring``, ``ScopedKeyring``,
``ScopeDestroyedError``, ``Pseudonymizer`` and the key-store backup functions load on first use,
so importing the envelope from a DAG file pulls in neither boto3, SQLAlchemy nor phonenumbers.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

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
from custody.crypto.keyring import (
    KeyMissingError,
    Keyring,
    KeyringError,
    LocalKeyring,
    UnknownKeyError,
    WrongKeyError,
)
from custody.crypto.open import init_keyring, open_keyring

_LAZY = {
    "KmsKeyring": "custody.crypto.kms",
    "KmsKeyDisabledError": "custody.crypto.kms",
    "ScopedKeyring": "custody.crypto.scopes",
    "ScopeDestroyedError": "custody.crypto.scopes",
    "ScopeRevokedError": "custody.crypto.scopes",
    "Pseudonymizer": "custody.crypto.pseudonym",
    "PseudonymError": "custody.crypto.pseudonym",
    "backup_key_store": "custody.crypto.keystore",
    "list_key_store_backups": "custody.crypto.keystore",
    "prune_key_store_backups": "custody.crypto.keystore",
    "restore_key_store": "custody.crypto.keystore",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'custody.crypto' has no attribute {name!r}")


__all__ = [
    "CustodyFormatError",
    "IntegrityError",
    "KeyMissingError",
    "Keyring",
    "KeyringError",
    "KmsKeyDisabledError",
    "KmsKeyring",
    "LocalKeyring",
    "ObjectHeader",
    "ObjectInfo",
    "PseudonymError",
    "Pseudonymizer",
    "ScopeDestroyedError",
    "ScopeRevokedError",
    "ScopedKeyring",
    "UnknownKeyError",
    "WrongKeyError",
    "backup_key_store",
    "decrypt_bytes",
    "decrypt_stream",
    "encrypt_bytes",
    "encrypt_stream",
    "init_keyring",
    "list_key_store_backups",
    "open_keyring",
    "prune_key_store_backups",
    "read_header",
    "restore_key_store",
]
