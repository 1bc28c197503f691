"""Acceptance: a deletion request for one subject; restoring a snapshot taken BEFORE the request
returns the data without that subject, to files and into the machine's PostgreSQL.

The run is a real one: the demo CRM loaded into SQLite, extracted, classified and validated,
backed up to the local store by the stage functions. The subject is a contact named by resident
ID; their contact row and their bank accounts (which hold no identifier, only the contact's key)
must be gone from every restore, counted, and everything else restored unchanged. Staging loses
the subject at once, and its documents stay consistent (seals, row counts, content hashes).
"""

from __future__ import annotations

import os
import stat

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from custody import hashing
from custody.audit.entries import Actor
from custody.demo.loaders import drop_database, ensure_database
from custody.catalog.schema import metadata
from custody.dsr.execute import execute_deletion
from custody.dsr.requests import RequestBook
from custody.identifiers import resident_id
from custody.restore import restore_snapshot, restore_to_sql
from custody.stages import Runtime
from custody.store import LocalStore
from dsr._runs import subject_of

DB = f"custody_dsr_accept_{os.getpid()}"


def _delete(rt: Runtime, rid: str) -> dict:
    book = RequestBook(rt.settings.catalog_url, rt.keyring)
    req = book.receive("deletion", {"resident_id": rid}, actor=Actor(kind="cli", user="clerk", host="h"))
    book.verify(req.request_id, actor=Actor(kind="cli", user="clerk", host="h"))
    book.approve(req.request_id, approver="dpo")
    out = execute_deletion(book, req.request_id, rt.staging)
    assert book.get(req.request_id).state == "executed"
    return out


def _canon(values) -> set:
    return {resident_id.canonical(v) for v in values if v}


def test_restore_of_an_earlier_snapshot_drops_the_erased_subject_to_files(backed_up, tmp_path):
    rt, snapshot, crm, run_key = backed_up
    rid, contact_id, accounts = subject_of(crm)
    store = LocalStore(rt.settings.backup_dir)
    before = restore_snapshot(store, snapshot, rt.keyring, tmp_path / "before")
    assert before["contacts"]["erased_rows"] == 0
    assert rid in pq.read_table(before["contacts"]["path"])["resident_id"].to_pylist()

    done = _delete(rt, rid)
    assert done["rows"] == 1 + len(accounts) and done["tables"] == {"crm/contacts": 1,
                                                                    "crm/bank_accounts": len(accounts)}

    after = restore_snapshot(store, snapshot, rt.keyring, tmp_path / "after")
    contacts = pq.read_table(after["contacts"]["path"])
    assert _canon([rid]) & _canon(contacts["resident_id"].to_pylist()) == set()
    assert contact_id not in contacts["contact_id"].to_pylist()
    banks = pq.read_table(after["bank_accounts"]["path"])
    assert contact_id not in banks["contact_id"].to_pylist()
    assert accounts.isdisjoint(banks["account_id"].to_pylist())
    assert (after["contacts"]["erased_rows"], after["bank_accounts"]["erased_rows"]) == (1, len(accounts))
    assert after["contacts"]["rows"] == before["contacts"]["rows"] - 1
    assert after["enterprise_customers"]["erased_rows"] == 0 and after["contracts"]["erased_rows"] == 0
    # Everything else is exactly what was backed up.
    expected = pq.read_table(before["contacts"]["path"])
    expected = expected.filter(pc.invert(pc.equal(expected["contact_id"], contact_id)))
    assert hashing.table_hash(contacts) == hashing.table_hash(expected)
    assert after["contacts"]["content_hash"] == hashing.to_hex(hashing.table_hash(expected))
    assert stat.S_IMODE(os.stat(tmp_path / "after" / "crm").st_mode) == 0o700


@pytest.fixture
def pg_target(pg_server_url):
    url = ensure_database(pg_server_url, DB)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True)
    yield engine
    engine.dispose()
    drop_database(pg_server_url, DB)


def test_restore_of_an_earlier_snapshot_drops_the_erased_subject_in_postgresql(backed_up, pg_target):
    rt, snapshot, crm, run_key = backed_up
    rid, contact_id, accounts = subject_of(crm)
    _delete(rt, rid)
    store = LocalStore(rt.settings.backup_dir)
    res = restore_to_sql(store, snapshot, rt.keyring, pg_target)
    assert (res["contacts"]["erased_rows"], res["bank_accounts"]["erased_rows"]) == (1, len(accounts))
    with pg_target.connect() as conn:
        ids = conn.execute(sa.text("SELECT resident_id FROM contacts")).scalars().all()
        n_contacts = conn.execute(sa.text("SELECT count(*) FROM contacts")).scalar_one()
        hit = conn.execute(sa.text("SELECT count(*) FROM contacts WHERE contact_id = :c"), {"c": contact_id}).scalar()
        banks = conn.execute(sa.text("SELECT count(*) FROM bank_accounts WHERE contact_id = :c"),
                             {"c": contact_id}).scalar()
        n_banks = conn.execute(sa.text("SELECT count(*) FROM bank_accounts")).scalar_one()
    assert _canon([rid]) & _canon(ids) == set() and hit == 0 and banks == 0
    assert n_contacts == crm["contacts"].num_rows - 1 - _quarantined(rt, run_key, "contacts")
    assert n_banks == crm["bank_accounts"].num_rows - len(accounts) - _quarantined(rt, run_key, "bank_accounts")


def _quarantined(rt, run_key, table) -> int:
    return rt.manifest("crm", run_key).table(table).quarantined_at_extract


def test_staging_loses_the_subject_at_once_and_stays_consistent(backed_up):
    rt, snapshot, crm, run_key = backed_up
    rid, contact_id, accounts = subject_of(crm)
    before = rt.manifest("crm", run_key)
    _delete(rt, rid)
    manifest = rt.manifest("crm", run_key)  # seal checked
    for table, gone in (("contacts", 1), ("bank_accounts", len(accounts))):
        tm, old = manifest.table(table), before.table(table)
        assert (tm.extracted_rows, tm.erased_rows) == (old.extracted_rows - gone, gone)
        assert tm.source_rows == tm.extracted_rows + tm.quarantined_at_extract + tm.erased_rows
        digest, rows = 0, []
        for entry in tm.chunks:  # every chunk opens and matches its (new) entry
            chunk = rt.staging.get_table(entry)
            digest = hashing.combine(digest, hashing.table_hash(chunk))
            rows.append(chunk)
        data = pa.concat_tables(rows)
        assert hashing.to_hex(digest) == tm.content_hash and data.num_rows == tm.extracted_rows
        assert contact_id not in data["contact_id"].to_pylist()
        # contacts stage row keys (row_keys: true), bank_accounts do not (a full snapshot): the
        # erasure cuts the paired row-key objects, and works without them.
        paired = [c.chunk for c in tm.chunks] if table == "contacts" else []
        assert [rk.chunk for rk in tm.row_keys] == paired and len(tm.chunks) > 1
        for rk in tm.row_keys:
            assert rt.staging.get_table(rk).column("rows")[0].as_py() == next(
                c.rows for c in tm.chunks if c.chunk == rk.chunk)
    assert manifest.table("contracts") == before.table("contracts")
    # The replaced objects are gone from disk.
    for entry in before.table("contacts").chunks:
        if entry not in manifest.table("contacts").chunks:
            assert not rt.staging.path(entry.key).exists()
    # A backup taken now holds no trace of the subject, even read without the ledger.
    from custody.restore import restore_table
    from custody.stages import stage_backup

    later = stage_backup(rt, "crm", run_key)["snapshot_key"]
    store = LocalStore(rt.settings.backup_dir)
    contacts = restore_table(store, later, "contacts", rt.keyring, ledger=None)
    assert contact_id not in contacts["contact_id"].to_pylist() and contacts.num_rows == manifest.table(
        "contacts").extracted_rows
    banks = restore_table(store, later, "bank_accounts", rt.keyring, ledger=None)
    assert accounts.isdisjoint(banks["account_id"].to_pylist())
    # Canary: the identifier is in no table of the catalog (requests, ledger, audit log, inventory).
    engine = sa.create_engine(rt.settings.catalog_url)
    with engine.connect() as conn:
        dump = "\n".join(str(list(row)) for t in metadata.sorted_tables for row in conn.execute(sa.select(t)))
    engine.dispose()
    assert "dsr.transition" in dump and rid not in dump and rid.lower() not in dump
    # Running it again erases nothing more.
    book = RequestBook(rt.settings.catalog_url, rt.keyring)
    from custody.dsr.staging import erase_from_staging

    again = erase_from_staging(rt.staging, {"resident_id": {book.list()[0].pseudonyms["resident_id"]}}, rt.keyring,
                               source="crm", tag="again")
    assert again["rows"] == 0 and again["objects"] == 0


def test_restore_drill_expects_the_erased_subject_gone(backed_up, pg_target):
    import random

    from custody.drill import run_drill

    rt, snapshot, crm, run_key = backed_up
    rid, contact_id, accounts = subject_of(crm)
    _delete(rt, rid)
    result = run_drill(LocalStore(rt.settings.backup_dir), rt.keyring, pg_target, rng=random.Random(5),
                       rto_limit_s=600, rpo_limit_s=10**9)
    assert result.passed, result.problems
    contacts = result.tables["contacts"]
    assert (contacts["erased_rows"], contacts["content_hash_ok"]) == (1, True)
    assert contacts["rows"] == contacts["expected_rows"] == rt.manifest("crm", run_key).table("contacts").extracted_rows
    assert result.tables["bank_accounts"]["erased_rows"] == len(accounts)


def test_a_run_extracted_after_the_deletion_loses_the_subject_when_the_ledger_is_reapplied(backed_up):
    from custody.dsr.ledger import DeletionLedger
    from custody.dsr.staging import reapply_ledger
    from custody.stages import stage_extract

    rt, snapshot, crm, run_key = backed_up
    rid, contact_id, accounts = subject_of(crm)
    _delete(rt, rid)
    source = sa.create_engine(f"sqlite:///{rt.settings.home.parent / 'crm.sqlite'}")
    later = stage_extract(rt, source, "crm", "manual__after")["run_key"]  # the source still has them

    def contact_ids(rk):
        return [v for e in rt.manifest("crm", rk).table("contacts").chunks
                for v in rt.staging.get_table(e)["contact_id"].to_pylist()]

    assert contact_id in contact_ids(later)
    done = reapply_ledger(rt.staging, DeletionLedger(rt.settings.catalog_url), rt.keyring)
    assert done["rows"] == 1 + len(accounts) and done["runs"] == 2  # the earlier run had nothing left
    assert contact_id not in contact_ids(later) and contact_id not in contact_ids(run_key)
    assert reapply_ledger(rt.staging, DeletionLedger(rt.settings.catalog_url), rt.keyring)["rows"] == 0
