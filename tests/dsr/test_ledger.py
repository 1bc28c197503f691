"""The erasure filter on its own: direct matches by pseudonym in any spelling, the key cascade into
tables without identifiers, no cascade into tables that identify their own subjects, and the
ledger table (idempotent, per source)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from custody.dsr.ledger import DeletionLedger, ErasureFilter, ledger_filter
from custody.dsr.subjects import pseudonymise

RID = "11010519491231002X"


@dataclass
class Col:
    column: str
    pi_type: str | None


class Classification:
    def __init__(self, types: dict[str, dict[str, str | None]]) -> None:
        self.types = types

    def columns_of(self, table: str) -> list[Col]:
        return [Col(c, t) for c, t in self.types.get(table, {}).items()]


TABLES = {
    "companies": pa.table({"company_id": [1, 2], "phone": ["+86 138-1234-5678", "010 6666 7777"]}),
    "contacts": pa.table({"contact_id": [10, 11, 12], "company_id": [1, 1, 2],
                          "resident_id": ["110105194912310021", "11010519491231002x", None],
                          "mobile": ["13900000000", "13900000001", "１３８１２３４５６７８"]}),
    "accounts": pa.table({"account_id": [100, 101, 102], "contact_id": [11, 12, 10]}),
    "lines": pa.table({"line_id": [7, 8], "account_id": [101, 102]}),
    "keyed_by_id": pa.table({"id": [1, 2], "note": ["a", "b"]}),
}
PKS = {"companies": ["company_id"], "contacts": ["contact_id"], "accounts": ["account_id"], "lines": ["line_id"],
       "keyed_by_id": ["id"]}
TYPES = {"companies": {"company_id": None, "phone": "phone"},
         "contacts": {"contact_id": None, "company_id": None, "resident_id": "resident_id", "mobile": "mobile_phone"},
         "accounts": {"account_id": None, "contact_id": None}, "lines": {"line_id": None, "account_id": None},
         "keyed_by_id": {"id": None, "note": None}}


def _run(keyring, pseudonyms, classification):
    f = ErasureFilter(pseudonyms, keyring)
    f.prepare([(n, t.schema, PKS[n]) for n, t in TABLES.items()], classification, lambda n: iter([TABLES[n]]))
    kept = {n: f.apply(n, t)[0] for n, t in TABLES.items()}
    return f, kept


def test_direct_matches_cascade_and_its_limits(scoped):
    _, keyring = scoped
    subject = pseudonymise(keyring, {"resident_id": RID.lower(), "mobile_phone": "13812345678"})
    f, kept = _run(keyring, {k: {v} for k, v in subject.pseudonyms.items()}, Classification(TYPES))
    # contact 11 by resident ID (lower-case x), contact 12 by a full-width mobile; company 1 by phone
    assert kept["contacts"]["contact_id"].to_pylist() == [10]
    assert kept["companies"]["company_id"].to_pylist() == [2]
    # the cascade: accounts of contacts 11 and 12, then the lines of those accounts
    assert kept["accounts"]["account_id"].to_pylist() == [102]
    assert kept["lines"]["line_id"].to_pylist() == [8]
    # company 1 matched, but contact 10 (another person of that company) is judged by its own IDs
    assert f.dropped == {"contacts": 2, "companies": 1, "accounts": 2, "lines": 1}
    assert kept["keyed_by_id"].num_rows == 2  # a bare `id` never cascades


def test_without_classification_every_text_column_is_compared(scoped):
    _, keyring = scoped
    subject = pseudonymise(keyring, {"resident_id": RID})
    f, kept = _run(keyring, {k: {v} for k, v in subject.pseudonyms.items()}, None)
    assert kept["contacts"]["contact_id"].to_pylist() == [10, 12]
    assert kept["accounts"]["account_id"].to_pylist() == [101, 102]


def test_nobody_in_the_ledger_drops_nothing(scoped):
    _, keyring = scoped
    other = pseudonymise(keyring, {"email": "nobody@example.com"})
    f, kept = _run(keyring, {k: {v} for k, v in other.pseudonyms.items()}, Classification(TYPES))
    assert {n: t.num_rows for n, t in kept.items()} == {n: t.num_rows for n, t in TABLES.items()}
    assert f.dropped == {}


def test_ledger_is_idempotent_and_scoped_by_source(scoped):
    url, keyring = scoped
    ledger = DeletionLedger(url)
    assert ledger_filter(keyring, "crm") is None  # empty ledger: restores read as before
    assert ledger.record("dsr-1", {"email": "a" * 32}, source="crm") == 1
    assert ledger.record("dsr-1", {"email": "a" * 32}, source="crm") == 0
    ledger.record("dsr-2", {"resident_id": "b" * 32})
    assert ledger.pseudonyms("crm") == {"email": {"a" * 32}, "resident_id": {"b" * 32}}
    assert ledger.pseudonyms("chinook") == {"resident_id": {"b" * 32}}
    assert ledger.size() == 2
    assert ledger_filter(keyring, "chinook").pseudonyms == {"resident_id": {"b" * 32}}


def test_restores_fail_closed_when_the_ledger_cannot_be_read_or_would_be_bypassed(scoped, tmp_path):
    import pytest
    import sqlalchemy as sa

    from custody.catalog import CatalogNotMigrated
    from custody.documents import ObjectEntry
    from custody.restore import RestoreError, restore_object

    class KeyringOnAnOldCatalog:
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")

    with pytest.raises(CatalogNotMigrated):
        ledger_filter(KeyringOnAnOldCatalog(), "crm")
    url, keyring = scoped
    DeletionLedger(url).record("dsr-1", {"email": "c" * 32}, source="crm")
    entry = ObjectEntry(object_id="crm/r1/tables/contacts/p0000/chunk-00000", key="x.cdy", kind="chunk",
                        source="crm", run_key="r1", table="contacts", chunk=0, rows=1, content_hash="0" * 64,
                        sha256="1" * 64)
    with pytest.raises(RestoreError, match="restore its table instead"):
        restore_object(None, entry, keyring, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
