"""Open a keyring from its spec string (``CUSTODY_KEYRING``): local file, AWS KMS, scoped key store.

``open_keyring`` only opens; ``init_keyring`` is the explicit step that creates a new local
key-encryption key (``custody keys init``), so a lost key file is reported, never replaced.

The factory lives apart from ``custody.crypto.keyring`` because it builds every implementation:
``custody.crypto.kms`` and ``custody.crypto.scopes`` import the protocol and errors from
``keyring``, and this module imports them (lazily, so a local keyring needs neither boto3 nor
SQLAlchemy), which keeps the imports of ``custody.crypto`` free of cycles.
"""

from __future__ import annotations

from typing import Any

from custody.crypto.keyring import Keyring, KeyringError, LocalKeyring

_KMS_OPTIONS = {"endpoint_url", "region", "mac_key", "retired"}


def open_keyring(spec: str, *, key_store: Any = None) -> Keyring:
    """Open a keyring from a spec string (``CUSTODY_KEYRING``).

    - ``local:<path to key file>``: ``LocalKeyring``; a missing file raises ``KeyMissingError``
      (never created here: ``init_keyring`` is the explicit step).
    - ``kms:<key id | key ARN | alias>[?endpoint_url=<url>&region=<region>&mac_key=<HMAC key>&retired=<id>,<id>]``:
      ``custody.crypto.kms.KmsKeyring`` through a boto3 KMS client (credentials from the usual
      boto3 chain: environment, profile or instance role, never from the spec). Query values are
      URL-encoded.

    ``key_store``: a SQLAlchemy URL or engine of the key store (the catalog database). When given,
    the keyring above becomes the KEK layer of a ``custody.crypto.scopes.ScopedKeyring`` (scope keys,
    crypto-shredding, seal key; ``docs/format.md`` section 1). Raises ``KeyringError`` for an
    unknown scheme or option, ``KeyMissingError`` when the key file is missing,
    ``custody.catalog.CatalogNotMigrated`` when ``key_store`` is not migrated to the schema this
    Custody needs.
    """
    scheme, rest = _split(spec)
    base: Keyring
    if scheme == "local":
        base = LocalKeyring(rest)
    else:
        base = _open_kms(rest)
    if key_store is None:
        return base
    from custody.crypto.scopes import ScopedKeyring

    return ScopedKeyring(base, key_store)


def init_keyring(spec: str, *, key_store: Any = None) -> Keyring:
    """Create the key-encryption key a spec names and return its keyring (``custody keys init``).

    The one place, with the demo's first run, where Custody creates a KEK (``docs/format.md``
    section 1.2). ``local:<path>``: a new key file (``LocalKeyring.create``; an existing file is
    never replaced). ``kms:...``: refused, a KMS key is created and guarded in AWS KMS.
    ``key_store`` (catalog URL or engine): refused when it already holds keys, which another KEK
    wraps: that deployment has data, and its key must be restored, not replaced. Raises
    ``KeyringError``.
    """
    scheme, rest = _split(spec)
    if scheme != "local":
        raise KeyringError("a KMS key-encryption key is created in AWS KMS, not by Custody; "
                           "name it in CUSTODY_KEYRING=kms:<key id>")
    held = _keys_in_store(key_store) if key_store is not None else 0
    if held:
        raise KeyringError(f"the key store holds {held} key(s) wrapped by an existing key-encryption key: this "
                           "deployment has data; restore its key file from the offline copy instead of creating one")
    return LocalKeyring.create(rest)


def _keys_in_store(key_store: Any) -> int:
    """Keys in the catalog's key store (0 when the catalog does not exist or has no key store yet)."""
    import sqlalchemy as sa

    from custody.catalog.schema import crypto_key

    engine = sa.create_engine(key_store) if isinstance(key_store, str) else key_store
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(crypto_key.name):
                return 0
            return conn.execute(sa.select(sa.func.count()).select_from(crypto_key)).scalar_one()
    finally:
        if isinstance(key_store, str):
            engine.dispose()


def _split(spec: str) -> tuple[str, str]:
    scheme, _, rest = spec.partition(":")
    if scheme not in ("local", "kms") or not rest:
        raise KeyringError(
            f"unknown keyring spec {spec.split(':')[0]!r}; expected 'local:<path>' or 'kms:<key id>[?options]'"
        )
    return scheme, rest


def _open_kms(rest: str) -> Keyring:
    from urllib.parse import parse_qs

    from custody.crypto.kms import KmsKeyring

    key_id, _, query = rest.partition("?")
    options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=False, strict_parsing=bool(query)).items()}
    unknown = sorted(set(options) - _KMS_OPTIONS)
    if unknown or not key_id:
        raise KeyringError(f"kms keyring spec: unknown option(s) {unknown} or no key id; known: {sorted(_KMS_OPTIONS)}")
    import boto3

    client = boto3.client("kms", region_name=options.get("region"), endpoint_url=options.get("endpoint_url"))
    retired = [r for r in options.get("retired", "").split(",") if r]
    return KmsKeyring(client, key_id, retired=retired, mac_key_id=options.get("mac_key"))
