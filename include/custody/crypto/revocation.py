"""Reversible revocation of scope keys and KMS keys: the first move of incident response.

Revoking a scope (``revoke_scope``) marks its live key(s) ``revoked`` in the key store: nothing is
erased, but every reader refuses the scope's objects, in staging and in every snapshot store, at
its next object (``ScopeRevokedError``: each wrap and unwrap reads the key's state); new objects of
the scope get a new key generation, so the pipeline keeps running. ``enable_scope`` undoes it.
Destroying a key (crypto-shredding) is never part of this: it goes through the purge path, after
approval (``ScopedKeyring.destroy_scope``).

With an AWS KMS keyring the whole KEK can be disabled (``disable_kms_key``: KMS ``DisableKey``;
``enable_kms_key``: ``EnableKey``), which stops every unwrap of key-store keys in every process
that has not cached them. ``docs/format.md`` 1.4 (``state``), ``docs/incidents.md``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from custody.catalog.schema import crypto_key
from custody.crypto.keyring import UnknownKeyError
from custody.crypto.scopes import ScopedKeyring


def _flip(keyring: ScopedKeyring, scope: str, old: str, new: str) -> list[str]:
    with keyring.engine.begin() as conn:
        ids = list(conn.execute(sa.select(crypto_key.c.key_id).where(
            crypto_key.c.purpose == "scope", crypto_key.c.scope == scope, crypto_key.c.state == old)).scalars())
        if ids:
            conn.execute(sa.update(crypto_key).where(crypto_key.c.key_id.in_(ids), crypto_key.c.state == old)
                         .values(state=new))
    for key_id in ids:
        keyring._forget(key_id)
    return sorted(ids)


def revoke_scope(keyring: ScopedKeyring, scope: str) -> list[str]:
    """Mark the live keys of ``scope`` revoked; returns their ids (empty when already revoked).

    Raises ``UnknownKeyError`` when the scope has no key at all (a typo must not look like success).
    """
    ids = _flip(keyring, scope, "active", "revoked")
    if not ids and not scope_keys(keyring, scope):
        raise UnknownKeyError(f"scope {scope!r} has no key in the key store; nothing to revoke")
    return ids


def enable_scope(keyring: ScopedKeyring, scope: str) -> list[str]:
    """Make the revoked keys of ``scope`` live again; returns their ids (empty when none was revoked)."""
    return _flip(keyring, scope, "revoked", "active")


def scope_keys(keyring: ScopedKeyring, scope: str) -> dict[str, str]:
    """``{key id: state}`` of every key of ``scope`` (``active``, ``revoked``, ``destroyed``)."""
    with keyring.engine.connect() as conn:
        rows = conn.execute(sa.select(crypto_key.c.key_id, crypto_key.c.state).where(
            crypto_key.c.purpose == "scope", crypto_key.c.scope == scope)).all()
    return {r.key_id: r.state for r in rows}


def _kms_base(keyring: Any) -> Any:
    base = getattr(keyring, "base", keyring)
    return base if getattr(base, "kind", None) == "aws-kms" else None


def _key_id(arn: str) -> str:
    # DisableKey / EnableKey act on keys of the caller's own account, named by key id (the ARN's
    # last part); every KMS implementation accepts that form.
    return arn.rsplit("/", 1)[-1]


def disable_kms_key(keyring: Any) -> str | None:
    """KMS ``DisableKey`` on the active KEK when the keyring's KEK layer is KMS; returns its ARN, else None."""
    base = _kms_base(keyring)
    if base is None:
        return None
    arn = base.active_kek_id()
    base.client.disable_key(KeyId=_key_id(arn))
    return arn


def enable_kms_key(keyring: Any) -> str | None:
    """KMS ``EnableKey`` on the active KEK when the KEK layer is KMS; returns its ARN, else None."""
    base = _kms_base(keyring)
    if base is None:
        return None
    arn = base.active_kek_id()
    base.client.enable_key(KeyId=_key_id(arn))
    return arn
