"""Scope keys: rotation without rewriting objects, crypto-shredding, key-store backups."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from custody.crypto import (
    KeyringError,
    LocalKeyring,
    UnknownKeyError,
    WrongKeyError,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    open_keyring,
    read_header,
)
from custody.crypto.keystore import (
    backup_key_store,
    list_key_store_backups,
    prune_key_store_backups,
    restore_key_store,
)
from custody.crypto.scopes import ScopeDestroyedError, ScopedKeyring, crypto_key, crypto_key_wrap
from custody.documents import seal, verify_seal
from custody.restore import restore_table
from custody.staging import StagingStore
from custody.store import LocalStore, S3Store, create_snapshot, list_snapshots, verify_snapshot

CONTACTS = "crm/customer_contract"
INVOICES = "crm/tax_record"


def _two_scope_run(make_run, staging, run_key="r1"):
    return make_run(staging, run_key, {
        "contacts": (CONTACTS, [(0, 30), (30, 12)]),
        "invoices": (INVOICES, [(100, 20)]),
    })


def test_data_keys_are_wrapped_by_per_scope_keys(scoped):
    a, _ = encrypt_bytes(b"a", object_id="o-a", binding={}, keyring=scoped, scope=CONTACTS)
    b, _ = encrypt_bytes(b"b", object_id="o-b", binding={}, keyring=scoped, scope=INVOICES)
    ha, hb = read_header(io.BytesIO(a)), read_header(io.BytesIO(b))
    assert ha.keyring == "scoped" and ha.kek_id.startswith("sk-") and ha.kek_id != hb.kek_id
    keys = {k["scope"]: k for k in scoped.inventory("scope")}
    assert keys[CONTACTS]["key_id"] == ha.kek_id and keys[CONTACTS]["data_keys"] == 1
    assert keys[CONTACTS]["kek_ids"] == [scoped.base.active_kek_id()]
    assert decrypt_bytes(a, keyring=scoped) == b"a" and decrypt_bytes(b, keyring=scoped) == b"b"
    # a data key wrapped for one scope/object does not open as another's
    with pytest.raises(WrongKeyError, match="does not open under scope key"):
        scoped.unwrap(ha.kek_id, ha.wrapped_dek, hb.wrap_context.replace(INVOICES.encode(), CONTACTS.encode()))
    with pytest.raises(WrongKeyError, match="belongs to scope"):
        scoped.unwrap(hb.kek_id, hb.wrapped_dek, ha.wrap_context)


def test_objects_and_seals_of_the_bare_keyring_still_open(scoped, base_keyring):
    blob, _ = encrypt_bytes(b"older object", object_id="o", binding={}, keyring=base_keyring, scope=CONTACTS)
    assert decrypt_bytes(blob, keyring=scoped) == b"older object"
    doc = seal({"n": 1}, base_keyring)
    verify_seal(doc, scoped, name="old")
    resealed = seal({"n": 1}, scoped)
    assert resealed["seal"]["kek_id"].startswith("mk-")
    verify_seal(resealed, ScopedKeyring(LocalKeyring(base_keyring.path), scoped.engine), name="new")


def test_rotation_rewraps_scope_keys_only_and_every_snapshot_still_restores(
    tmp_path, base_keyring, catalog_url, make_run
):
    scoped = ScopedKeyring(base_keyring, catalog_url)
    staging = StagingStore(tmp_path / "staging", scoped)
    store = LocalStore(tmp_path / "backups")
    manifests = [_two_scope_run(make_run, staging, f"r{i}") for i in (1, 2)]
    for m in manifests:
        create_snapshot([store], staging, m, None, scoped)
    objects = {p: p.read_bytes() for p in (tmp_path / "backups" / "objects").rglob("*.cdy")}
    expected = {(m.run_key, t.table): staging.get_table(t.chunks[0]) for m in manifests for t in m.tables}

    old = base_keyring.active_kek_id()
    new = base_keyring.add_key()
    report = scoped.rotate()
    assert report["kek_id"] == new and report["retired_kek_ids"] == [old]
    assert report["rewrapped"] == report["keys"] == 3  # two scope keys and the seal key; no object
    base_keyring.destroy_key(old)

    # a fresh process: no cached keys, only the key file (new KEK) and the key store
    fresh = ScopedKeyring(LocalKeyring(base_keyring.path), catalog_url)
    assert old not in fresh.base.kek_ids
    keys = list_snapshots(store)
    assert len(keys) == 2
    for key in keys:
        assert verify_snapshot(store, key, fresh).checked == 3
        run_key = key.rsplit("/", 1)[1].removesuffix(".json")
        for table in ("contacts", "invoices"):
            restored = restore_table(store, key, table, fresh)
            first = expected[(run_key, table)]
            assert restored.slice(0, first.num_rows).equals(first)
    # rotation rewrote no object: same files, same bytes
    assert {p: p.read_bytes() for p in objects} == objects
    assert all(k["kek_ids"] == [new] for k in fresh.inventory())


def test_destroying_the_old_kek_without_rotation_names_the_scope(tmp_path, base_keyring, catalog_url):
    scoped = ScopedKeyring(base_keyring, catalog_url)
    blob, _ = encrypt_bytes(b"x", object_id="o", binding={}, keyring=scoped, scope=CONTACTS)
    old = base_keyring.active_kek_id()
    base_keyring.add_key()
    base_keyring.destroy_key(old)
    fresh = ScopedKeyring(LocalKeyring(base_keyring.path), catalog_url)
    with pytest.raises(UnknownKeyError, match=f"scope '{CONTACTS}'.*{old}"):
        decrypt_bytes(blob, keyring=fresh)


def test_destroyed_scope_is_unreadable_in_every_backup_while_other_scopes_restore(
    tmp_path, scoped, catalog_url, make_run, s3_client
):
    staging = StagingStore(tmp_path / "staging", scoped)
    manifest = _two_scope_run(make_run, staging)
    s3 = S3Store(s3_client, f"shred-{uuid.uuid4().hex[:8]}", "custody")
    s3.ensure_bucket()
    stores = [LocalStore(tmp_path / "backups"), s3]
    create_snapshot(stores, staging, manifest, None, scoped)
    contacts = manifest.table("contacts")

    cert = scoped.destroy_scope(CONTACTS, who="dpo@buyer", why="retention class expired")

    assert cert["scope"] == CONTACTS and cert["counts"] == {
        "keys_destroyed": 1, "wrapped_copies_erased": 1, "data_keys": 2, "keys_destroyed_earlier": 0}
    assert cert["key_ids"][0].startswith("sk-") and scoped.verify_certificate(cert)
    assert not scoped.verify_certificate({**cert, "counts": {**cert["counts"], "data_keys": 1}})
    text = json.dumps(cert, ensure_ascii=False)
    # counts and ids, no values (the full phone numbers: "138" alone also occurs in random hex ids)
    assert "客户" not in text and not any(f"138{i:08d}" in text for i in range(42))
    datetime.fromisoformat(cert["destroyed_at"])

    fresh = ScopedKeyring(LocalKeyring(scoped.base.path), catalog_url)  # another process
    for store in stores:
        key = list_snapshots(store)[0]
        for keyring in (scoped, fresh):
            assert restore_table(store, key, "invoices", keyring).num_rows == 20
            with pytest.raises(ScopeDestroyedError, match=f"scope '{CONTACTS}' was crypto-shredded"):
                restore_table(store, key, "contacts", keyring)
        report = verify_snapshot(store, key, fresh, raise_on_failure=False)
        assert sorted(oid for oid, _ in report.failures) == [c.object_id for c in contacts.chunks]
    # the staging copy is gone too, and nothing is written to the destination
    out = io.BytesIO()
    with pytest.raises(ScopeDestroyedError, match=contacts.chunks[0].object_id):
        decrypt_stream(io.BytesIO(staging.read_object(contacts.chunks[0])), out, keyring=fresh)
    assert out.getvalue() == b""
    # the tombstone stays; new data of that scope gets a new key
    states = {k["key_id"]: k["state"] for k in scoped.inventory("scope")}
    assert states[cert["key_ids"][0]] == "destroyed"
    blob, info = encrypt_bytes(b"new", object_id="later", binding={}, keyring=scoped, scope=CONTACTS)
    assert info.kek_id not in cert["key_ids"] and decrypt_bytes(blob, keyring=fresh) == b"new"
    with sa.create_engine(catalog_url).connect() as conn:
        assert conn.execute(
            sa.select(sa.func.count()).select_from(crypto_key_wrap)
            .where(crypto_key_wrap.c.key_id == cert["key_ids"][0])
        ).scalar() == 0
    with pytest.raises(UnknownKeyError, match="nothing to destroy"):
        scoped.destroy_scope("crm/never_used", who="dpo", why="test")


def test_key_store_backup_restores_keys_but_not_destroyed_ones(
    tmp_path, base_keyring, make_run, deletable_store, new_catalog
):
    first = ScopedKeyring(base_keyring, new_catalog(tmp_path / "a.db"))
    staging = StagingStore(tmp_path / "staging", first)
    manifest = _two_scope_run(make_run, staging)
    create_snapshot([deletable_store], staging, manifest, None, first)
    summary = backup_key_store([deletable_store], first)
    blob = deletable_store.get_bytes(summary["key"])
    assert summary["keys"] == 3 and summary["key"].startswith("keystore/")
    assert read_header(io.BytesIO(blob)).keyring == "local"  # opened by the KEK alone
    for material in first._cache.values():
        assert material not in blob and material.hex().encode() not in blob
    cert = first.destroy_scope(CONTACTS, who="dpo", why="erasure")

    # the key store is lost: a new, empty (migrated) one restored from the backup plus the certificate
    second = ScopedKeyring(LocalKeyring(base_keyring.path), new_catalog(tmp_path / "b.db"))
    counts = restore_key_store(deletable_store, summary["key"], second, certificates=[cert])
    assert counts == {"imported": 2, "tombstones": 1, "present": 0, "reapplied": 0}
    key = list_snapshots(deletable_store)[0]
    assert restore_table(deletable_store, key, "invoices", second).num_rows == 20
    with pytest.raises(ScopeDestroyedError, match=CONTACTS):
        restore_table(deletable_store, key, "contacts", second)
    # without the certificate the old backup would bring the key back: that is why it expires
    third = ScopedKeyring(LocalKeyring(base_keyring.path), new_catalog(tmp_path / "c.db"))
    restore_key_store(deletable_store, summary["key"], third)
    assert restore_table(deletable_store, key, "contacts", third).num_rows == 42
    # re-applying the certificate destroys the revived key again
    again = restore_key_store(deletable_store, summary["key"], third, certificates=[cert])
    assert again == {"imported": 0, "tombstones": 0, "present": 3, "reapplied": 1}
    with pytest.raises(ScopeDestroyedError, match=CONTACTS):
        restore_table(deletable_store, key, "contacts", third)


def test_key_store_backups_expire_before_the_data(tmp_path, scoped, deletable_store):
    now = datetime.now(UTC)
    encrypt_bytes(b"x", object_id="o", binding={}, keyring=scoped, scope=CONTACTS)
    old = backup_key_store([deletable_store], scoped, now=now - timedelta(days=10))
    scoped.destroy_scope(CONTACTS, who="dpo", why="erasure")
    after = backup_key_store([deletable_store], scoped, now=now + timedelta(minutes=1))
    listed = list_key_store_backups(deletable_store)
    assert [b["key"] for b in listed] == [old["key"], after["key"]]
    assert listed[0]["expires_at"] - listed[0]["exported_at"] == timedelta(days=scoped.key_store_retention_days)

    assert prune_key_store_backups(deletable_store, scoped, now=now)["expired"] == []
    later = now + timedelta(days=60)
    result = prune_key_store_backups(deletable_store, scoped, now=later)
    # the pre-destruction backup (it still holds the destroyed key, wrapped) is gone; the newest,
    # made after the destruction, stays although expired so the live keys remain recoverable
    assert result["deleted"] == [old["key"]] and result["kept"] == [after["key"]]
    assert deletable_store.size(old["key"]) is None

    # once a later destruction makes the newest backup hold a destroyed key, it expires too
    encrypt_bytes(b"y", object_id="p", binding={}, keyring=scoped, scope=INVOICES)
    scoped.destroy_scope(INVOICES, who="dpo", why="erasure")
    with scoped.engine.begin() as conn:  # the backups above carry made-up times: keep the order real
        conn.execute(sa.update(crypto_key).where(crypto_key.c.scope == INVOICES)
                     .values(destroyed_at=now + timedelta(minutes=2)))
    assert prune_key_store_backups(deletable_store, scoped, now=later)["deleted"] == [after["key"]]


class _AppendOnly:
    """A store without delete, optionally under a long Object Lock."""

    def __init__(self, inner, lock_days=None):
        self.inner, self.location = inner, inner.location
        self.options = SimpleNamespace(object_lock_days=lock_days)

    def put_bytes(self, key, data):
        self.inner.put_bytes(key, data)

    def get_bytes(self, key):
        return self.inner.get_bytes(key)

    def list_keys(self, prefix):
        return self.inner.list_keys(prefix)


def test_prune_refuses_a_store_that_cannot_delete(tmp_path, scoped):
    store = _AppendOnly(LocalStore(tmp_path / "plain"))
    backup_key_store([store], scoped, now=datetime.now(UTC) - timedelta(days=90))
    backup_key_store([store], scoped, now=datetime.now(UTC) - timedelta(days=80))
    encrypt_bytes(b"x", object_id="o", binding={}, keyring=scoped, scope=CONTACTS)
    scoped.destroy_scope(CONTACTS, who="dpo", why="erasure")
    with pytest.raises(KeyringError, match="2 key-store backups have expired but this store cannot delete"):
        prune_key_store_backups(store, scoped)


def test_key_store_backup_refuses_an_object_lock_longer_than_its_retention(tmp_path, scoped):
    locked = _AppendOnly(LocalStore(tmp_path / "locked"), lock_days=2555)
    with pytest.raises(KeyringError, match="Object Lock keeps objects 2555 days"):
        backup_key_store([locked], scoped)
    assert locked.list_keys("keystore/") == []
    assert backup_key_store([_AppendOnly(LocalStore(tmp_path / "short"), lock_days=7)], scoped)["keys"] == 0


def test_open_keyring_with_key_store(tmp_path, catalog_url):
    LocalKeyring.create(tmp_path / "k" / "kek.json")
    keyring = open_keyring(f"local:{tmp_path / 'k' / 'kek.json'}", key_store=catalog_url)
    assert isinstance(keyring, ScopedKeyring)
    blob, _ = encrypt_bytes(b"z", object_id="o", binding={}, keyring=keyring, scope=CONTACTS)
    assert decrypt_bytes(blob, keyring=keyring) == b"z"


def test_processes_sharing_a_key_store_share_the_scope_key(base_keyring, catalog_url):
    a = ScopedKeyring(base_keyring, catalog_url)
    b = ScopedKeyring(LocalKeyring(base_keyring.path), catalog_url)
    blobs = [encrypt_bytes(bytes([i]), object_id=f"o{i}", binding={}, keyring=k, scope=CONTACTS)[0]
             for i, k in enumerate((a, b, a, b))]
    for i, blob in enumerate(blobs):
        assert decrypt_bytes(blob, keyring=a if i % 2 else b) == bytes([i])
    (key,) = a.inventory("scope")
    assert key["data_keys"] == 4
