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


def _rid(n: int) -> str:
    from stdnum.iso7064 import mod_11_2

    body = f"11010519{80 + n % 20:02d}0101{n % 1000:03d}"
    return body + mod_11_2.calc_check_digit(body)


def _spell_mobile(digits: str, style: int) -> str:
    return [digits, f"{digits[:3]} {digits[3:7]} {digits[7:]}", f"+86-{digits}", "".join(
        chr(ord(c) + 0xFEE0) for c in digits)][style % 4]


def test_property_no_erased_identifier_survives_and_nothing_else_goes(scoped):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from custody.identifiers import mobile as mobile_rule
    from custody.identifiers import resident_id as rid_rule

    _, keyring = scoped
    rids = [_rid(i) for i in range(6)]
    mobiles = [f"1380013{i:04d}" for i in range(6)]
    row = st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 3), st.booleans())
    # Every spelling is the same identifier, so a survivor would be a real miss, not a new value.
    assert {mobile_rule.canonical(_spell_mobile(mobiles[0], s)) for s in range(4)} == {"+8613800130000"}
    assert all(rid_rule.recognise(r) > 0 and rid_rule.canonical(r.lower()) == r for r in rids)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(row, min_size=1, max_size=25), erased=st.lists(
        st.tuples(st.sampled_from(["resident_id", "mobile_phone"]), st.integers(0, 5)), min_size=1, max_size=3),
        accounts=st.lists(st.integers(0, 24), max_size=20))
    def check(rows, erased, accounts):
        contacts = pa.table({
            "contact_id": list(range(len(rows))),
            "resident_id": [rids[r].lower() if low else rids[r] for r, _, _, low in rows],
            "mobile": [_spell_mobile(mobiles[m], s) for _, m, s, _ in rows],
        })
        banks = pa.table({"account_id": list(range(len(accounts))), "contact_id": accounts})
        values = {("resident_id" if k == "resident_id" else "mobile_phone",
                   rids[i] if k == "resident_id" else mobiles[i]) for k, i in erased}
        wanted: dict[str, set[str]] = {}
        for kind, value in values:
            wanted.setdefault(kind, set()).update(pseudonymise(keyring, {kind: value}).pseudonyms.values())
        cls = Classification({"contacts": {"contact_id": None, "resident_id": "resident_id", "mobile": "mobile_phone"},
                              "accounts": {"account_id": None, "contact_id": None}})
        f = ErasureFilter(wanted, keyring)
        data = {"contacts": contacts, "accounts": banks}
        f.prepare([("contacts", contacts.schema, ["contact_id"]), ("accounts", banks.schema, ["account_id"])], cls,
                  lambda n: iter([data[n]]))
        kept_c, n_c = f.apply("contacts", contacts)
        kept_b, n_b = f.apply("accounts", banks)
        gone_rids = {rid_rule.canonical(v) for k, v in values if k == "resident_id"}
        gone_mob = {mobile_rule.canonical(v) for k, v in values if k == "mobile_phone"}

        def erased_row(r) -> bool:
            return rid_rule.canonical(r["resident_id"]) in gone_rids or mobile_rule.canonical(r["mobile"]) in gone_mob

        expect_gone = {r["contact_id"] for r in contacts.to_pylist() if erased_row(r)}
        assert set(kept_c["contact_id"].to_pylist()) == set(range(len(rows))) - expect_gone
        assert n_c == len(expect_gone) and kept_c.num_rows + n_c == contacts.num_rows
        assert set(kept_b["contact_id"].to_pylist()).isdisjoint(expect_gone)
        assert n_b == sum(c in expect_gone for c in accounts) and kept_b.num_rows + n_b == banks.num_rows

    check()
