"""Checkpoints: the note, where it goes in each store, the leaves beside it, and what the writer refuses."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from custody.audit.checkpoints import (
    CheckpointError,
    catalog_notes,
    parse_checkpoint,
    read_store_checkpoints,
    store_checkpoint_keys,
    store_leaves,
    write_checkpoint,
)
from custody.audit.merkle import root
from custody.audit.signing import Ed25519Signer, NoteError
from custody.store import S3Store

from .conftest import ORIGIN, fill


def test_a_checkpoint_states_size_root_and_time_and_goes_to_the_catalog_and_each_store(log, signer, store):
    fill(log, 7)
    cp = write_checkpoint(log, signer, [store], origin=ORIGIN, reason="cli")
    lines = cp.note.split("\n")
    assert lines[:2] == [ORIGIN, "7"] and base64.b64decode(lines[2]) == root(log.leaf_hashes()) == cp.root
    assert lines[3] == f"time {cp.signed_at}" and lines[4] == ""
    assert [n for n, _ in catalog_notes(log)] == [cp.note]
    assert [k for _, k in store_checkpoint_keys(store)] == [
        f"audit/checkpoints/000000000007-{cp.signed_at.replace('-', '').replace(':', '')}-{cp.digest[:8]}.note"]
    assert store.get_bytes(f"audit/keys/{signer.key_id.hex()}.vkey").decode().strip() == signer.verifier().vkey()
    good, bad = read_store_checkpoints(store, [signer.verifier()], origin=ORIGIN)
    assert [(c.size, c.root) for c in good] == [(7, cp.root)] and bad == []


def test_leaves_tile_the_log_across_checkpoints(log, signer, store):
    for n in (3, 5, 0, 9):
        fill(log, n, start=log.size())
        write_checkpoint(log, signer, [store], origin=ORIGIN)
    keys = store.list_keys("audit/leaves/")
    assert keys == ["audit/leaves/000000000000-000000000003.bin", "audit/leaves/000000000003-000000000008.bin",
                    "audit/leaves/000000000008-000000000017.bin"]
    leaves, problems = store_leaves(store)
    assert leaves == log.leaf_hashes() and problems == []


def test_parse_refuses_other_origins_untrusted_keys_and_malformed_bodies(log, signer, store):
    fill(log, 2)
    cp = write_checkpoint(log, signer, [store], origin=ORIGIN)
    with pytest.raises(CheckpointError, match="origin"):
        parse_checkpoint(cp.note, [signer.verifier()], origin="someone.else/log")
    with pytest.raises(NoteError, match="trusted"):
        parse_checkpoint(cp.note, [Ed25519Signer(ORIGIN, bytes(32)).verifier()])
    from custody.audit.signing import sign_note

    with pytest.raises(CheckpointError, match="malformed"):
        parse_checkpoint(sign_note(f"{ORIGIN}\n2\nnot-base64\ntime x\n", [signer]), [signer.verifier()])


def test_the_writer_refuses_a_head_out_of_step_with_the_entries(log, signer, store):
    fill(log, 4)
    with log.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_head SET size = 3"))
    with pytest.raises(CheckpointError, match="head"):
        write_checkpoint(log, signer, [store], origin=ORIGIN)
    assert catalog_notes(log) == [] and store.list_keys("audit/") == []


def test_the_same_tree_signed_twice_in_a_second_is_one_checkpoint(log, signer, store, monkeypatch):
    from datetime import UTC, datetime

    from custody.audit import checkpoints

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)

    monkeypatch.setattr(checkpoints, "datetime", Frozen)
    fill(log, 2)
    a = write_checkpoint(log, signer, [store], origin=ORIGIN)
    b = write_checkpoint(log, signer, [store], origin=ORIGIN)
    assert a.note == b.note and len(catalog_notes(log)) == 1  # Ed25519 is deterministic
    assert len(store_checkpoint_keys(store)) == 1


def test_an_s3_bucket_without_object_lock_gets_plain_objects(log, signer, s3_client):
    import random

    bucket = f"plain-{random.randrange(16**8):08x}"
    s3_client.create_bucket(Bucket=bucket)
    s3 = S3Store(s3_client, bucket, "custody")
    assert not s3.object_lock_enabled()
    fill(log, 3)
    write_checkpoint(log, signer, [s3], origin=ORIGIN)
    objects = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(objects) == 3
    assert all("ObjectLockMode" not in s3_client.head_object(Bucket=bucket, Key=o["Key"]) for o in objects)
    assert store_leaves(s3) == (log.leaf_hashes(), [])
