"""Column decisions: negatives, free-text full scan, streaming, sampling, evidence hygiene."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pyarrow as pa
import pytest
from custody.classification import ColumnClassification, TableClassifier, classify_table
from faker import Faker

from ._gen import crm_contacts, make_bank_card, make_mobile, make_resident_id


def _by_column(results: list[ColumnClassification]) -> dict[str, ColumnClassification]:
    return {r.column: r for r in results}


# ---------------------------------------------------------------- negatives: headers alone never decide
def test_non_pi_columns_that_look_like_pi(policy):
    rng = random.Random(1)
    fake_en, fake_zh = Faker("en_US"), Faker("zh_CN")
    fake_en.seed_instance(1)
    fake_zh.seed_instance(1)
    n = 400
    table = pa.table(
        {
            "customer_id": pa.array(range(1, n + 1), pa.int64()),
            "SupportRepId": pa.array([rng.randint(1, 8) for _ in range(n)], pa.int64()),
            "phone_verified": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
            "email_verified": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
            "mobile_confirmed": pa.array([rng.random() < 0.5 for _ in range(n)], pa.bool_()),
            "scenario_code": [f"SC-{rng.randrange(1000):03d}" for _ in range(n)],
            "academic_year_code": [f"{y}-{y + 1}" for y in (rng.randint(2015, 2025) for _ in range(n))],
            "academic_year": pa.array(
                [int(f"{y}{y + 1}") for y in (rng.randint(2015, 2025) for _ in range(n))]
            ),
            "amount": pa.array(
                [Decimal(rng.randrange(100, 10**7)) / 100 for _ in range(n)], pa.decimal128(12, 2)
            ),
            "unit_price": pa.array([rng.random() * 100 for _ in range(n)], pa.float64()),
            "country": [fake_en.country() for _ in range(n)],
            "国家": [fake_zh.country() for _ in range(n)],
            "currency": [rng.choice(["CNY", "USD", "EUR", "HKD", "JPY"]) for _ in range(n)],
            "status": [rng.choice(["active", "closed", "pending"]) for _ in range(n)],
            "order_no": [f"{rng.randrange(10**15):015d}" for _ in range(n)],
            "bytes": pa.array([rng.randrange(10**5, 10**8) for _ in range(n)], pa.int64()),
            "created_at": pa.array(
                [rng.randrange(10**15, 2 * 10**15) for _ in range(n)], pa.timestamp("us", "UTC")
            ),
        }
    )
    results = _by_column(classify_table(table, policy))
    for name, r in results.items():
        assert r.pi_type is None, (name, r.evidence)
        assert r.level == "internal", name  # public must be earned
    assert results["phone_verified"].evidence.reason.startswith("not_pi:header_without_value_support")
    assert results["phone_verified"].evidence.header_rule is not None  # the header was seen, and doubted
    assert results["email_verified"].evidence.header_rule == "email/en"
    assert results["customer_id"].evidence.reason == "not_pi:surrogate_key"
    assert results["country"].evidence.reason == "not_pi:country_reference"
    assert results["amount"].evidence.reason.startswith("not_pi:type:decimal")


def test_empty_column_with_strong_header_is_classified_conservatively(policy):
    table = pa.table(
        {
            "身份证号": pa.array([None] * 5, pa.string()),
            "phone_verified": pa.array([None] * 5, pa.int64()),
            "all_null": pa.array([None] * 5, pa.null()),
        }
    )
    r = _by_column(classify_table(table, policy))
    assert (r["身份证号"].pi_type, r["身份证号"].level) == ("resident_id", "sensitive")
    assert r["身份证号"].confidence == 0.3 and r["身份证号"].evidence.reason == "header_only:no_values"
    assert r["phone_verified"].pi_type is None  # qualifier: weak header, never enough alone
    assert r["all_null"].pi_type is None


# ---------------------------------------------------------------- Faker-generated columns
def test_faker_en_us_customer_table(policy):
    fake = Faker("en_US")
    fake.seed_instance(2)
    n = 300
    table = pa.table(
        {
            "customer_id": pa.array(range(n), pa.int64()),
            "first_name": [fake.first_name() for _ in range(n)],
            "last_name": [fake.last_name() for _ in range(n)],
            "name": [fake.name() for _ in range(n)],
            "email": [fake.email() for _ in range(n)],
            "phone": [fake.phone_number() for _ in range(n)],
            "street": [fake.street_address() for _ in range(n)],
            "city": [fake.city() for _ in range(n)],
            "state": [fake.state_abbr() for _ in range(n)],
            "zip_code": [fake.postcode() for _ in range(n)],
            "country": ["United States"] * n,
            "company": [fake.company() for _ in range(n)],
            "dob": pa.array([fake.date_of_birth() for _ in range(n)], pa.date32()),
            "ip_address": [fake.ipv4() for _ in range(n)],
            "card_number": [fake.credit_card_number() for _ in range(n)],
        }
    )
    r = _by_column(classify_table(table, policy, table_name="customers"))
    expected = {
        "customer_id": (None, "internal"),
        "first_name": ("person_name", "internal"),
        "last_name": ("person_name", "internal"),
        "name": ("person_name", "internal"),
        "email": ("email", "internal"),
        "phone": ("phone", "internal"),
        "street": ("postal_address", "internal"),
        "city": ("postal_address", "internal"),
        "state": ("postal_address", "internal"),
        "zip_code": ("postal_address", "internal"),
        "country": (None, "internal"),
        "company": ("org_name", "internal"),  # a person's employer, in a table about people
        "dob": ("birth_date", "internal"),
        "ip_address": ("ip_address", "internal"),
        "card_number": ("bank_account", "sensitive"),
    }
    assert {c: (x.pi_type, x.level) for c, x in r.items()} == expected
    assert r["city"].evidence.reason == "context:postal_address:street"
    assert r["company"].evidence.table_context == "people:first_name"
    assert r["company"].evidence.public_basis is None


def test_faker_zh_cn_contacts_chinese_and_english_headers(policy):
    for english in (False, True):
        table, _ = crm_contacts(n=600, seed=3, english_headers=english)
        got = [(x.pi_type, x.level) for x in classify_table(table, policy)]
        # A contacts table is about people: the employer and its code relate to the person.
        assert got == [
            (None, "internal"),
            ("person_name", "internal"),
            ("resident_id", "sensitive"),
            ("mobile_phone", "internal"),
            ("email", "internal"),
            ("postal_address", "internal"),
            ("birth_date", "internal"),
            ("org_name", "internal"),
            ("uscc", "internal"),
            ("bank_account", "sensitive"),
            ("free_text", "sensitive"),
            (None, "internal"),
        ], english


# ---------------------------------------------------------------- free text: full scan
def _notes_table(n: int, seed: int) -> tuple[pa.Table, dict[str, int]]:
    """Chinese notes; returns the table and, per PI type, how many non-null notes embed one."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    notes: list[str | None] = []
    counts = {"resident_id": 0, "mobile_phone": 0, "bank_account": 0, "email": 0}
    wide = str.maketrans("0123456789", "０１２３４５６７８９")
    for i in range(n):
        text = fake.text(max_nb_chars=80).replace("\n", "")
        roll, label = rng.random(), None
        if roll < 0.01:
            text, label = text + f"身份证号{make_resident_id(rng)}", "resident_id"
        elif roll < 0.02:
            text, label = f"新号码{make_mobile(rng).translate(wide)}，" + text, "mobile_phone"  # full-width
        elif roll < 0.025:
            card = make_bank_card(rng, "62", 19)
            text, label = (
                text + f"退款至 {card[:4]} {card[4:8]} {card[8:12]} {card[12:16]} {card[16:]}",
                "bank_account",
            )
        elif roll < 0.03:
            text, label = text + f"邮件发 user{i}@example.com", "email"
        elif roll < 0.06:
            # Numbers that are none of the above: tickets, cards failing Luhn, waybills.
            text += rng.choice(
                [
                    f"工单号{20230000000 + i}",
                    f"单号{make_bank_card(rng, '62', 19, valid=False)}",
                    f"SF{i:012d}",
                ]
            )
        if rng.random() < 0.1:
            notes.append(None)
            continue
        notes.append(text)
        if label:
            counts[label] += 1
    return pa.table({"row_id": pa.array(range(n), pa.int64()), "备注": notes}), counts


@pytest.mark.parametrize("method", ["head", "random"])
def test_free_text_is_scanned_in_full_across_chunks(policy, method):
    table, expected = _notes_table(6000, seed=4)
    assert all(expected.values())
    clf = TableClassifier(policy, sample_size=200, sample_method=method, seed=9)
    for batch in table.to_batches(max_chunksize=700):
        clf.observe(batch)
    r = _by_column(clf.result())["备注"]
    assert (r.pi_type, r.level) == ("free_text", "sensitive")
    assert r.evidence.scanned_rows == table.num_rows - table.column("备注").null_count
    assert r.evidence.embedded_counts == expected
    assert r.evidence.sample_size == 200
    assert r.evidence.reason == "free_text:embedded_identifiers"
    assert r.policy_ref.startswith("PIPL Art 28")


def test_free_text_without_identifiers_is_internal(policy):
    fake = Faker("en_US")
    fake.seed_instance(5)
    table = pa.table({"comments": [fake.paragraph() for _ in range(300)]})
    r = classify_table(table, policy)[0]
    assert (r.pi_type, r.level, r.evidence.embedded_counts) == ("free_text", "internal", {})
    assert r.evidence.scanned_rows == 300


def test_short_lookup_values_are_not_free_text(policy):
    values = ["MPEG audio file", "Protected AAC audio file", "AAC audio file", "Purchased AAC audio file"]
    assert classify_table(pa.table({"kind": values * 3}), policy)[0].pi_type is None


# ---------------------------------------------------------------- streaming and sampling
def test_streaming_equals_single_chunk_and_handles_late_columns(policy):
    table, _ = crm_contacts(n=900, seed=6)
    one = classify_table(table, policy, chunk_rows=10_000)
    many = classify_table(table, policy, chunk_rows=97)
    assert [r.model_dump() for r in one] == [r.model_dump() for r in many]

    clf = TableClassifier(policy, sample_size=50)
    clf.observe(pa.table({"a": pa.array([1, 2], pa.int64())}))
    clf.observe(pa.RecordBatch.from_pydict({"a": pa.array([3], pa.int64()), "邮箱": ["a@b.cn"]}))
    first = clf.result()
    assert [r.column for r in first] == ["a", "邮箱"] and clf.rows_observed == 3
    assert [r.model_dump() for r in clf.result()] == [r.model_dump() for r in first]  # idempotent


def test_sampling_is_bounded_and_reproducible(policy):
    rng = random.Random(7)
    # The first 2,000 rows hold no PI; a head sample misses the mobiles, a random one finds them.
    values = [f"SC-{i:04d}" for i in range(2000)] + [make_mobile(rng) for _ in range(18000)]
    table = pa.table({"value": values})
    head = classify_table(table, policy, sample_size=500, chunk_rows=3000)[0]
    assert head.pi_type is None and head.evidence.sample_size == 500
    runs = [
        classify_table(table, policy, sample_size=500, sample_method="random", seed=s, chunk_rows=3000)[0]
        for s in (1, 1, 2)
    ]
    assert runs[0].pi_type == "mobile_phone" and runs[0].evidence.sample_size == 500
    assert runs[0].model_dump() == runs[1].model_dump()
    assert runs[2].pi_type == "mobile_phone"


def test_bad_sampling_arguments(policy):
    with pytest.raises(ValueError):
        TableClassifier(policy, sample_size=0)
    with pytest.raises(ValueError):
        TableClassifier(policy, sample_method="tail")  # type: ignore[arg-type]


# ---------------------------------------------------------------- evidence hygiene
def test_results_are_json_and_never_contain_values(policy):
    table, _ = crm_contacts(n=400, seed=8)
    results = classify_table(table, policy)
    dumped = json.dumps([r.model_dump(mode="json") for r in results], ensure_ascii=False)
    for col in table.columns:
        for v in col.to_pylist():
            if v is None:
                continue
            s = str(v)
            if len(s) >= 4 and not s.isdigit() or len(s) >= 6:
                assert s not in dumped
    for r in results:
        assert set(r.evidence.model_dump()) == {
            "header_rule",
            "detector",
            "match_rate",
            "validated_rate",
            "sample_size",
            "embedded_counts",
            "scanned_rows",
            "reason",
            "override",
            "table_context",
            "public_basis",
        }
        assert 0.0 <= r.confidence <= 1.0
        assert r.policy_version == "2026.1" and r.policy_standard == "PIPL + GB/T 35273-2020"


# ---------------------------------------------------------------- numeric and code negatives
def test_numeric_and_code_negatives_stay_internal(policy):
    """Codes, integer flags and plain amounts in every Arrow type a source gives them."""
    rng = random.Random(40)
    n = 300
    years = [rng.randint(2015, 2025) for _ in range(n)]
    table = pa.table(
        {
            "scenario_code": [f"SC-{rng.randrange(1000):03d}" for _ in range(n)],
            "academic_year_code": [f"{y}-{y + 1}" for y in years],
            "academic_year_code_int": pa.array([int(f"{y}{y + 1}") for y in years], pa.int64()),
            "email_verified": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int8()),
            "is_mobile_bound": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
            "id_card_verified": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int32()),
            "amount": pa.array([rng.randrange(100, 10**7) for _ in range(n)], pa.int64()),
            "amount_yuan": pa.array(
                [Decimal(rng.randrange(1, 10**6)) for _ in range(n)], pa.decimal128(12, 0)
            ),
            "amount_text": [f"{rng.randrange(1, 10**5)}.{rng.randrange(100):02d}" for _ in range(n)],
            "price": [f"¥{rng.randrange(1, 10**4):,}.00" for _ in range(n)],
            "total_cents": pa.array([rng.randrange(10**9, 10**10) for _ in range(n)], pa.int64()),
            "quantity": pa.array([rng.randint(1, 50) for _ in range(n)], pa.int16()),
            "ticket_no": [f"{rng.randint(2022, 2026)}{rng.randrange(10**7):07d}" for _ in range(n)],
            "tracking_no": [make_bank_card(rng, "9", 16) for _ in range(n)],
            "isbn": [f"978{rng.randrange(10**10):010d}" for _ in range(n)],
            "学年代码": [f"{y}{y + 1}" for y in years],
        }
    )
    results = _by_column(classify_table(table, policy))
    for name, r in results.items():
        assert (r.pi_type, r.level) == (None, "internal"), (name, r.evidence)
    # The header was seen and doubted, which the evidence says.
    assert results["email_verified"].evidence.reason.startswith("not_pi:header_without_value_support")
    assert results["id_card_verified"].evidence.header_rule is not None


def test_free_text_needs_words(policy):
    """Long, unique values without words (UUIDs, hashes, host names) and short labels are not text."""
    import hashlib
    import uuid

    rng = random.Random(41)
    fake = Faker("en_US")
    fake.seed_instance(41)
    n = 200
    table = pa.table(
        {
            "request_uuid": [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)],
            "content_md5": [hashlib.md5(str(i).encode()).hexdigest() for i in range(n)],
            "hostname": [f"{rng.choice(['web', 'db', 'api'])}-{i:03d}.prod.internal" for i in range(n)],
            "job": [fake.job() for _ in range(n)],
            "comments": [fake.paragraph(nb_sentences=3) for _ in range(n)],
        }
    )
    got = {r.column: r.pi_type for r in classify_table(table, policy)}
    assert got == {
        "request_uuid": None,
        "content_md5": None,
        "hostname": None,
        "job": None,
        "comments": "free_text",
    }
    # Chinese notes have no spaces: Han characters count as words, and a notes header lowers the bar.
    short = pa.table(
        {"备注": [f"客户{rng.choice(['已回访', '要求开票', '暂缓续约'])}第{i}次" for i in range(n)]}
    )
    assert classify_table(short, policy)[0].pi_type == "free_text"
