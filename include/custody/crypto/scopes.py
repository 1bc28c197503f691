"""Scope keys: crypto-shredding by (source, retention class), KEK rotation without touching data.

Three levels (``docs/format.md`` section 1)::

    KEK (LocalKeyring or KmsKeyring)            wraps only the keys in the key store
     └─ scope key, one per scope "<source>/<retention_class>/<period>", 32 bytes, in the key store (wrapped)
         └─ data key (DEK), one per object, wrapped in the object header by the scope key

``ScopedKeyring`` implements the ``Keyring`` protocol, so the envelope, staging, snapshot and
restore code is unchanged: ``wrap(dek, context)`` reads the scope from the wrap context, and the
header's ``key.kek_id`` then names the scope key (``sk-…``), ``key.keyring`` is ``"scoped"``.

- **Rotation** (``rotate``) re-wraps the few keys in the key store under the keyring's active KEK;
  no object is rewritten, since object headers hold DEKs wrapped by scope keys, which do not change.
- **Crypto-shredding** (``destroy_scope``) deletes every wrapped copy of a scope's key and keeps a
  tombstone; every object of the scope, in staging and in every backup, is then unreadable and
  says so (``ScopeDestroyedError`` naming the scope). PIPL Art 19 and 47, GDPR Art 17.
- **Rolling retention**: a scope is source x retention class x period (``YYYY-MM``, the UTC month
  the object was staged in; ``custody.crypto.scope_names``), so expiring one month's data shreds
  one key and leaves the other months readable. Scopes written before periods existed
  (``<source>/<retention_class>``) stay readable and are purged as one legacy scope
  (``docs/format.md`` 1.10).
- **Seal key** (``mk-…``): documents are sealed with HMAC-SHA256 under a random key kept in the key
  store, wrapped by the KEK like a scope key, so seals survive KEK rotation.
- **Deal keys** (``dk-…``): per-deal keys for pseudonymisation (``custody.crypto.pseudonym``).
- **Signing keys** (``ak-…``): Ed25519 seeds of the audit log's checkpoints (``custody.audit.signing``).

The key store lives in the catalog database (tables ``crypto_key`` and ``crypto_key_wrap`` of
``custody.catalog.schema``, migration ``0002_key_registry``), shared by every task process. Its
backups are encrypted objects with a retention shorter than the data's
(``custody.crypto.keystore``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custody.catalog.schema import crypto_key, crypto_key_wrap
from custody.crypto.keyring import Keyring, KeyringError, UnknownKeyError, WrongKeyError

KEY_BYTES = 32
WRAP_PREFIX = b"custody/dek-wrap/v1|"
SEAL_SCOPE = "custody/seal"
KEY_STORE_SCOPE = "custody/key-store"
KEY_STORE_RETENTION_DAYS = 30
CERTIFICATE_FORMAT = "custody-key-destruction"
KEY_STORE_FORMAT = "custody-key-store"

PURPOSES = {"scope": "sk", "seal": "mk", "deal": "dk", "signing": "ak"}

class ScopeRevokedError(UnknownKeyError):
    """The object's scope key is revoked (incident response, ``custody.crypto.revocation``): reversible,
    unlike destruction; the message names the scope and key."""


class ScopeDestroyedError(UnknownKeyError):
    """The object's scope key was destroyed (crypto-shredded): its data can no longer be decrypted.

    The message names the scope, the key id, when it was destroyed and the object. This is the
    expected outcome for purged data (PIPL Art 47), not corruption.
    """


def _utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every value Custody writes is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    v = _utc(value)
    return v.isoformat(timespec="seconds") if v else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_context(key_id: str, purpose: str, scope: str) -> bytes:
    """Wrap context of a key-store key under a KEK: canonical JSON ``{"key_id", "purpose", "scope"}``."""
    return _canonical({"key_id": key_id, "purpose": purpose, "scope": scope})


def _parse_context(context: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(context)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("scope"), str):
        raise KeyringError("a scoped keyring needs a wrap context with a scope (canonical JSON from the envelope)")
    return doc


def _engine(store: str | sa.Engine) -> sa.Engine:
    engine = sa.create_engine(store) if isinstance(store, str) else store
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # Deleted wraps are overwritten with zeros instead of lingering in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


class ScopedKeyring:
    """A ``Keyring`` whose data keys are wrapped by per-scope keys kept in the key store.

    ``base``: the KEK layer (``LocalKeyring``, ``KmsKeyring``); it wraps only key-store keys.
    ``store``: SQLAlchemy URL or engine of the key store (normally ``CUSTODY_CATALOG_URL``); it must
    be migrated (``custody catalog migrate``), else ``custody.catalog.CatalogNotMigrated`` is
    raised on construction (one query; nothing is created here). SQLite connections get
    ``PRAGMA secure_delete=ON`` (deleted wraps are zeroed) and a 30 s busy timeout.
    ``key_store_retention_days``: how long key-store backups are kept (default 30); printed on
    destruction certificates as the bound on residual copies.

    Data-key wraps are AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce; one wrap per
    object keeps each scope key far below the 2^32 invocations SP 800-38D section 8.3 allows.
    Unwrapped scope keys are cached in this process; every ``wrap``/``unwrap`` still reads the
    key's state, so a destruction takes effect in all processes at their next object.
    Objects wrapped directly under the base keyring (``key.keyring`` ``local``/``aws-kms``) are
    still opened through ``base``.
    Errors: ``ScopeDestroyedError``, ``UnknownKeyError``, ``WrongKeyError``, ``KeyringError``.
    """

    kind = "scoped"

    def __init__(
        self, base: Keyring, store: str | sa.Engine, *, key_store_retention_days: int = KEY_STORE_RETENTION_DAYS
    ) -> None:
        from custody.catalog import require_head

        if key_store_retention_days < 1:
            raise ValueError("key_store_retention_days must be at least 1")
        self.base = base
        self.engine = _engine(store)
        self.key_store_retention_days = key_store_retention_days
        require_head(self.engine)
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # -- Keyring protocol ----------------------------------------------------------------------
    def active_kek_id(self) -> str:
        """The base keyring's active KEK (the one that wraps new and rotated scope keys)."""
        return self.base.active_kek_id()

    def wrap(self, dek: bytes, context: bytes) -> tuple[str, bytes]:
        """Wrap a data key under the active key of the scope named in ``context``.

        Creates the scope key on first use (and a new generation after a destruction). Returns
        ``(scope key id, nonce(12) || AES-256-GCM(scope key, nonce, dek, aad))`` with
        ``aad = "custody/dek-wrap/v1|" || key_id || "|" || context``. Counts the data key on the
        scope key (``data_keys``) for destruction certificates.
        """
        scope = _parse_context(context)["scope"]
        for _ in range(5):
            key_id, key = self._active("scope", scope)
            with self.engine.begin() as conn:
                counted = conn.execute(
                    sa.update(crypto_key)
                    .where(crypto_key.c.key_id == key_id, crypto_key.c.state == "active")
                    .values(data_keys=crypto_key.c.data_keys + 1)
                ).rowcount
            if counted == 1:
                nonce = secrets.token_bytes(12)
                aad = WRAP_PREFIX + key_id.encode() + b"|" + context
                return key_id, nonce + AESGCM(key).encrypt(nonce, dek, aad)
            self._forget(key_id)  # destroyed between lookup and use: take the next generation
        raise KeyringError(f"scope {scope!r}: could not obtain an active scope key")

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        """Open a data key wrapped by ``wrap`` (``kek_id`` = scope key id) or by the base keyring.

        Raises ``ScopeDestroyedError`` (scope crypto-shredded), ``UnknownKeyError`` (key not in this
        key store), ``WrongKeyError`` (wrap or context altered, or a key of another scope).
        """
        if not kek_id.startswith(PURPOSES["scope"] + "-"):
            return self.base.unwrap(kek_id, wrapped, context)
        ctx = _parse_context(context)
        scope, object_id = ctx["scope"], ctx.get("object_id", "?")
        key = self._material(kek_id, purpose="scope", scope=scope, object_id=object_id)
        aad = WRAP_PREFIX + kek_id.encode() + b"|" + context
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], aad)
        except InvalidTag:
            raise WrongKeyError(
                f"data key of object {object_id} does not open under scope key {kek_id} (scope {scope})"
            ) from None

    def mac(self, data: bytes) -> tuple[str, str]:
        """HMAC-SHA256 (RFC 2104) of ``data`` under the seal key; returns ``(seal key id, hex)``."""
        key_id, key = self._active("seal", SEAL_SCOPE)
        return key_id, hmac.new(key, data, hashlib.sha256).hexdigest()

    def verify_mac(self, kek_id: str, data: bytes, tag: str) -> bool:
        """Constant-time check of a seal; seals made by the base keyring are checked by it."""
        if not kek_id.startswith(PURPOSES["seal"] + "-"):
            return self.base.verify_mac(kek_id, data, tag)
        key = self._material(kek_id, purpose="seal", scope=SEAL_SCOPE)
        return hmac.compare_digest(hmac.new(key, data, hashlib.sha256).hexdigest(), tag)

    # -- deal keys -----------------------------------------------------------------------------
    def deal_key(self, deal_id: str) -> tuple[str, bytes]:
        """The 32-byte key of a deal (created on first use), for ``Pseudonymizer``: ``(key id, key)``.

        Held in the key store wrapped by the KEK, like a scope key; ``destroy_deal_key`` shreds it.
        """
        if not deal_id or len(deal_id) > 255:
            raise ValueError("deal_id must be 1..255 characters")
        return self._active("deal", deal_id)

    def signing_key(self, name: str) -> tuple[str, bytes]:
        """The 32-byte Ed25519 seed (RFC 8032) of the audit log's signing key ``name``: ``(key id, seed)``.

        Created on first use and kept like a scope key (purpose ``signing``, id ``ak-…``, wrapped by
        the KEK), so it travels in key-store backups and survives KEK rotation (``custody.audit.signing``).
        """
        return self._active("signing", name)

    # -- key store internals -------------------------------------------------------------------
    def _forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    def _active(self, purpose: str, scope: str) -> tuple[str, bytes]:
        for _ in range(5):
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(crypto_key.c.key_id)
                    .where(crypto_key.c.purpose == purpose, crypto_key.c.scope == scope, crypto_key.c.state == "active")
                    .order_by(crypto_key.c.generation.desc())
                    .limit(1)
                ).first()
            if row is not None:
                try:
                    return row.key_id, self._material(row.key_id, purpose=purpose, scope=scope)
                except ScopeDestroyedError:
                    continue  # destroyed since the lookup
            self._create(purpose, scope)
        raise KeyringError(f"{purpose} key for {scope!r}: could not create or load it")

    def _create(self, purpose: str, scope: str) -> None:
        now = datetime.now(UTC)
        key_id = f"{PURPOSES[purpose]}-{now:%Y%m%d}-{secrets.token_hex(6)}"
        material = secrets.token_bytes(KEY_BYTES)
        # The KEK call (possibly KMS over the network) happens outside the database transaction.
        kek_id, wrapped = self.base.wrap(material, key_context(key_id, purpose, scope))
        try:
            with self.engine.begin() as conn:
                top = conn.execute(
                    sa.select(sa.func.max(crypto_key.c.generation)).where(
                        crypto_key.c.purpose == purpose, crypto_key.c.scope == scope
                    )
                ).scalar()
                conn.execute(
                    sa.insert(crypto_key).values(
                        key_id=key_id, purpose=purpose, scope=scope, generation=(top or 0) + 1, state="active",
                        created_at=now, data_keys=0,
                    )
                )
                conn.execute(
                    sa.insert(crypto_key_wrap).values(
                        key_id=key_id, kek_id=kek_id, keyring=self.base.kind, wrapped=_b64(wrapped), created_at=now
                    )
                )
        except sa.exc.IntegrityError:
            return  # another process created this generation first; the caller reads it
        with self._lock:
            self._cache[key_id] = material

    def _material(self, key_id: str, *, purpose: str, scope: str, object_id: str | None = None,
                  allow_revoked: bool = False) -> bytes:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(crypto_key).where(crypto_key.c.key_id == key_id)).first()
            wraps = [] if row is None or key_id in self._cache else conn.execute(
                sa.select(crypto_key_wrap).where(crypto_key_wrap.c.key_id == key_id)
            ).all()
        what = f"object {object_id}" if object_id else f"{purpose} key {key_id}"
        if row is None:
            raise UnknownKeyError(
                f"scope {scope!r}: key {key_id} is not in the key store (destroyed and its tombstone lost, "
                f"or a key store of another deployment); {what} cannot be decrypted"
            )
        if row.state == "destroyed":
            self._forget(key_id)
            raise ScopeDestroyedError(
                f"scope {row.scope!r} was crypto-shredded: key {key_id} destroyed at {_iso(row.destroyed_at)}; "
                f"{what} cannot be decrypted"
            )
        if row.state == "revoked" and not allow_revoked:
            self._forget(key_id)
            raise ScopeRevokedError(f"scope {row.scope!r} is revoked (incident response): key {key_id}; {what} "
                                    "cannot be decrypted until the scope is enabled again")
        if row.purpose != purpose or row.scope != scope:
            raise WrongKeyError(f"key {key_id} belongs to {row.purpose} {row.scope!r}, not to {purpose} {scope!r}")
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        material = self._open(row, wraps)
        with self._lock:
            self._cache[key_id] = material
        return material

    def _open(self, row: Any, wraps: list[Any]) -> bytes:
        active = self.base.active_kek_id()
        ctx = key_context(row.key_id, row.purpose, row.scope)
        errors = []
        for w in sorted(wraps, key=lambda w: w.kek_id != active):
            try:
                material = self.base.unwrap(w.kek_id, base64.b64decode(w.wrapped), ctx)
            except (UnknownKeyError, WrongKeyError) as exc:
                errors.append(type(exc).__name__)
                continue
            if len(material) != KEY_BYTES:
                raise KeyringError(f"key {row.key_id}: unwrapped key has {len(material)} bytes, expected {KEY_BYTES}")
            return material
        keks = ", ".join(w.kek_id for w in wraps) or "none"
        raise UnknownKeyError(
            f"scope {row.scope!r}: key {row.key_id} is wrapped only under key-encryption key(s) {keks}, "
            f"none of which opens in this keyring ({', '.join(errors) or 'no wraps'})"
        )

    # -- rotation ------------------------------------------------------------------------------
    def rotate(self, *, drop_other_wraps: bool = True) -> dict[str, Any]:
        """Re-wrap every live key-store key under the base keyring's active KEK; no object changes.

        Procedure (``docs/format.md`` section 1.6): add a KEK to the base keyring (or open a
        ``KmsKeyring`` with the new KMS key active and the old one retired), call ``rotate``, back
        up the key store, then destroy the old KEK. With ``drop_other_wraps`` the wraps under other
        KEKs are deleted once the new wrap exists, so the old KEK protects nothing.
        Returns ``{"kek_id", "keys", "rewrapped", "wraps_dropped", "retired_kek_ids"}`` (counts, ids).
        Raises the base keyring's errors if a key cannot be opened (nothing is dropped then).
        """
        active = self.base.active_kek_id()
        with self.engine.connect() as conn:
            keys = conn.execute(sa.select(crypto_key).where(crypto_key.c.state != "destroyed")).all()
            wraps = conn.execute(sa.select(crypto_key_wrap)).all()
        by_key: dict[str, list[Any]] = {}
        for w in wraps:
            by_key.setdefault(w.key_id, []).append(w)
        rewrapped = 0
        for k in keys:
            if any(w.kek_id == active for w in by_key.get(k.key_id, [])):
                continue
            material = self._material(k.key_id, purpose=k.purpose, scope=k.scope, allow_revoked=True)
            kek_id, wrapped = self.base.wrap(material, key_context(k.key_id, k.purpose, k.scope))
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(crypto_key_wrap).values(
                        key_id=k.key_id, kek_id=kek_id, keyring=self.base.kind, wrapped=_b64(wrapped),
                        created_at=datetime.now(UTC),
                    )
                )
            rewrapped += 1
        dropped = 0
        retired: set[str] = set()
        if drop_other_wraps:
            ids = [k.key_id for k in keys]
            with self.engine.begin() as conn:
                old = conn.execute(
                    sa.select(crypto_key_wrap.c.kek_id).where(
                        crypto_key_wrap.c.key_id.in_(ids), crypto_key_wrap.c.kek_id != active
                    )
                ).all()
                retired = {r.kek_id for r in old}
                dropped = conn.execute(
                    sa.delete(crypto_key_wrap).where(
                        crypto_key_wrap.c.key_id.in_(ids), crypto_key_wrap.c.kek_id != active
                    )
                ).rowcount
        return {"kek_id": active, "keys": len(keys), "rewrapped": rewrapped, "wraps_dropped": dropped,
                "retired_kek_ids": sorted(retired)}

    # -- crypto-shredding ----------------------------------------------------------------------
    def destroy_scope(self, scope: str, who: str, why: str) -> dict[str, Any]:
        """Crypto-shred a scope: delete every wrapped copy of its key(s), keep a tombstone.

        Every object of ``scope`` in staging and in every backup becomes unreadable at once
        (``ScopeDestroyedError``); other scopes are untouched. Copies of the key survive only in
        key-store backups made earlier, wrapped under a KEK, and those expire within
        ``key_store_retention_days`` (or at once if the KEK is rotated and the old KEK destroyed).
        ``who`` / ``why``: operator and reason (free text, ≤ 128 characters for ``who``; no PI).
        Returns a sealed certificate (counts, ids, times; no values); see ``docs/format.md``
        section 1.5. Raises ``UnknownKeyError`` if the scope never had a key. PIPL Art 19, 47;
        GDPR Art 17.
        """
        return self._destroy("scope", scope, who, why)

    def destroy_deal_key(self, deal_id: str, who: str, why: str) -> dict[str, Any]:
        """Destroy a deal's pseudonymisation key (same certificate as ``destroy_scope``)."""
        return self._destroy("deal", deal_id, who, why)

    def _destroy(self, purpose: str, scope: str, who: str, why: str) -> dict[str, Any]:
        if not who or not why or len(who) > 128:
            raise ValueError("destroy needs who (1..128 characters) and why")
        now = datetime.now(UTC).replace(microsecond=0)
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(crypto_key).where(crypto_key.c.purpose == purpose, crypto_key.c.scope == scope)
            ).all()
            if not rows:
                raise UnknownKeyError(f"{purpose} {scope!r} has no key in the key store; nothing to destroy")
            live = [r for r in rows if r.state == "active"]
            ids = [r.key_id for r in live]
            wraps = conn.execute(sa.select(crypto_key_wrap).where(crypto_key_wrap.c.key_id.in_(ids))).all()
            conn.execute(sa.delete(crypto_key_wrap).where(crypto_key_wrap.c.key_id.in_(ids)))
            conn.execute(
                sa.update(crypto_key)
                .where(crypto_key.c.key_id.in_(ids))
                .values(state="destroyed", destroyed_at=now, destroyed_by=who, destroy_reason=why)
            )
        for key_id in ids:
            self._forget(key_id)
        body = {
            "format": CERTIFICATE_FORMAT,
            "version": 1,
            "certificate_id": uuid.uuid4().hex,
            "purpose": purpose,
            "scope": scope,
            "destroyed_at": _iso(now),
            "destroyed_by": who,
            "reason": why,
            "key_ids": ids,
            "kek_ids": sorted({w.kek_id for w in wraps}),
            "counts": {
                "keys_destroyed": len(ids),
                "wrapped_copies_erased": len(wraps),
                "data_keys": sum(int(r.data_keys) for r in live),
                "keys_destroyed_earlier": len(rows) - len(live),
            },
            "key_store_backup_retention_days": self.key_store_retention_days,
            "residual_copies_expire_by": _iso(now + timedelta(days=self.key_store_retention_days)),
            "rule": "PIPL Art 19, 47; GDPR Art 17: deletion by crypto-shredding (docs/format.md 1.5)",
        }
        kek_id, tag = self.mac(_canonical(body))
        return {**body, "seal": {"kek_id": kek_id, "hmac_sha256": tag}}

    def verify_certificate(self, certificate: dict[str, Any]) -> bool:
        """True if a destruction certificate's seal verifies (it was issued by this key store)."""
        seal = certificate.get("seal") or {}
        body = {k: v for k, v in certificate.items() if k != "seal"}
        try:
            return self.verify_mac(seal["kek_id"], _canonical(body), seal["hmac_sha256"])
        except (KeyError, TypeError):
            return False

    # -- inventory -----------------------------------------------------------------------------
    def inventory(self, purpose: str | None = None) -> list[dict[str, Any]]:
        """Key-store inventory without material: one dict per key with ``key_id``, ``purpose``,
        ``scope``, ``generation``, ``state``, ``created_at``, ``data_keys``, ``kek_ids``,
        ``destroyed_at``, ``destroyed_by``, ``destroy_reason``; ordered by purpose, scope, generation.
        """
        stmt = sa.select(crypto_key).order_by(crypto_key.c.purpose, crypto_key.c.scope, crypto_key.c.generation)
        if purpose:
            stmt = stmt.where(crypto_key.c.purpose == purpose)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            wraps = conn.execute(sa.select(crypto_key_wrap.c.key_id, crypto_key_wrap.c.kek_id)).all()
        keks: dict[str, list[str]] = {}
        for w in wraps:
            keks.setdefault(w.key_id, []).append(w.kek_id)
        return [
            {"key_id": r.key_id, "purpose": r.purpose, "scope": r.scope, "generation": r.generation,
             "state": r.state, "created_at": _iso(r.created_at), "data_keys": int(r.data_keys),
             "kek_ids": sorted(keks.get(r.key_id, [])), "destroyed_at": _iso(r.destroyed_at),
             "destroyed_by": r.destroyed_by, "destroy_reason": r.destroy_reason}
            for r in rows
        ]

    def last_destruction(self) -> datetime | None:
        """Time (UTC) of the most recent key destruction, or None."""
        with self.engine.connect() as conn:
            return _utc(conn.execute(sa.select(sa.func.max(crypto_key.c.destroyed_at))).scalar())

    # -- export / import (for key-store backups, custody.crypto.keystore) ----------------------
    def export_document(self) -> dict[str, Any]:
        """The key store as a JSON document: every key (destroyed ones as tombstones) and its wraps.

        Key material appears only wrapped by KEKs (base64). Shape in ``docs/format.md`` 1.7.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(crypto_key).order_by(crypto_key.c.key_id)).all()
            wraps = conn.execute(sa.select(crypto_key_wrap).order_by(crypto_key_wrap.c.kek_id)).all()
        by_key: dict[str, list[dict[str, Any]]] = {}
        for w in wraps:
            by_key.setdefault(w.key_id, []).append(
                {"kek_id": w.kek_id, "keyring": w.keyring, "wrapped": w.wrapped, "created_at": _iso(w.created_at)}
            )
        return {
            "format": KEY_STORE_FORMAT,
            "version": 1,
            "keys": [
                {"key_id": r.key_id, "purpose": r.purpose, "scope": r.scope, "generation": r.generation,
                 "state": r.state, "created_at": _iso(r.created_at), "data_keys": int(r.data_keys),
                 "destroyed_at": _iso(r.destroyed_at), "destroyed_by": r.destroyed_by,
                 "destroy_reason": r.destroy_reason,
                 "wraps": by_key.get(r.key_id, []) if r.state != "destroyed" else []}
                for r in rows
            ],
        }

    def import_document(self, doc: dict[str, Any], *, certificates: Iterable[dict[str, Any]] = ()) -> dict[str, int]:
        """Add the keys of an exported key store that this key store lacks (disaster recovery).

        Keys already present are left alone (a live tombstone wins over a backed-up key). Keys named
        by any destruction ``certificates`` (their ``key_ids``) are imported as tombstones without
        wraps, and destroyed if they are live here, so restoring a key-store backup made before a
        destruction does not bring the key back: deletions are re-applied after a restore (PIPL
        Art 47). Returns counts ``imported``, ``tombstones``, ``present``, ``reapplied``. Raises
        ``KeyringError`` for a document of another format.
        """
        if doc.get("format") != KEY_STORE_FORMAT or doc.get("version") != 1:
            raise KeyringError("not a Custody key-store document (format/version)")
        shredded = {k: c for c in certificates for k in c.get("key_ids", [])}
        counts = {"imported": 0, "tombstones": 0, "present": 0, "reapplied": 0}
        with self.engine.begin() as conn:
            present = {r.key_id: r.state for r in conn.execute(sa.select(crypto_key.c.key_id, crypto_key.c.state))}
            for key_id, cert in shredded.items():
                if present.get(key_id) == "active":  # a live key that a certificate says is destroyed
                    conn.execute(sa.delete(crypto_key_wrap).where(crypto_key_wrap.c.key_id == key_id))
                    conn.execute(
                        sa.update(crypto_key).where(crypto_key.c.key_id == key_id).values(
                            state="destroyed", destroyed_at=_parse_time(cert["destroyed_at"]),
                            destroyed_by=cert["destroyed_by"], destroy_reason=cert["reason"],
                        )
                    )
                    self._forget(key_id)
                    counts["reapplied"] += 1
            gens = {
                (r.purpose, r.scope, r.generation)
                for r in conn.execute(sa.select(crypto_key.c.purpose, crypto_key.c.scope, crypto_key.c.generation))
            }
            for k in doc["keys"]:
                if k["key_id"] in present:
                    counts["present"] += 1
                    continue
                gen = int(k["generation"])
                while (k["purpose"], k["scope"], gen) in gens:
                    gen += 1
                gens.add((k["purpose"], k["scope"], gen))
                cert = shredded.get(k["key_id"])
                dead = cert is not None or k["state"] == "destroyed"
                row = {
                    "key_id": k["key_id"], "purpose": k["purpose"], "scope": k["scope"], "generation": gen,
                    "state": "destroyed" if dead else k["state"], "created_at": _parse_time(k["created_at"]),
                    "data_keys": int(k.get("data_keys", 0)),
                    "destroyed_at": _parse_time(cert["destroyed_at"] if cert else k.get("destroyed_at")),
                    "destroyed_by": cert["destroyed_by"] if cert else k.get("destroyed_by"),
                    "destroy_reason": cert["reason"] if cert else k.get("destroy_reason"),
                }
                if dead and row["destroyed_at"] is None:
                    row["destroyed_at"] = datetime.now(UTC)
                conn.execute(sa.insert(crypto_key).values(**row))
                if dead:
                    counts["tombstones"] += 1
                    continue
                for w in k["wraps"]:
                    conn.execute(
                        sa.insert(crypto_key_wrap).values(
                            key_id=k["key_id"], kek_id=w["kek_id"], keyring=w["keyring"], wrapped=w["wrapped"],
                            created_at=_parse_time(w["created_at"]),
                        )
                    )
                counts["imported"] += 1
        return counts


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
