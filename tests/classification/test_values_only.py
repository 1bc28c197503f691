"""Classification that does not lean on headers (issue 17): the header lexicon, the values-only
models (Chinese names, birth dates, gender), table context and identifiers in short text, each
with positives and hard negatives."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pyarrow as pa
import pytest
from custody.classification import TableClassifier, classify_table
from custody.classification.names import name_quality
from custody.demo.reference import PRODUCTS, load_regions
from faker import Faker
from faker.providers.job.zh_CN import Provider as Jobs

from ._gen import make_mobile, make_resident_id

AS_OF = dt.date(2026, 11, 30)


def _by_column(table: pa.Table, policy) -> dict:
    clf = TableClassifier(policy, as_of=AS_OF, table="t")
    clf.observe(table)
    return {r.column: r for r in clf.result()}


def _one(values, header: str, policy):
    return _by_column(pa.table({header: values}), policy)[header]


# ------------------------------------------------------------------------ Chinese names
def test_name_statistics_separate_names_from_other_short_han_strings():
    fake = Faker("zh_CN")
    fake.seed_instance(3)
    names = [fake.name() for _ in range(500)]
    assert float(np.mean(name_quality(pa.array(names)))) > 0.85
    regions = load_regions()
    cities = sorted({r.city for r in regions})
    counties = sorted({r.county for r in regions})
    company_short = ["华为", "腾讯", "阿里巴巴", "百度", "京东", "美团", "小米", "网易", "联想", "海尔", "格力",
                     "华信科技", "鼎晟数据", "东方网络", "博创智能", "恒瑞软件"]
    for label, negatives, ceiling in [
        ("cities", cities, 0.1),
        ("counties", counties, 0.2),
        ("job titles", list(Jobs.jobs), 0.05),
        ("products", PRODUCTS, 0.05),
        ("company short names", company_short, 0.25),
    ]:
        assert float(np.mean(name_quality(pa.array(negatives)))) < ceiling, label
    assert list(name_quality(pa.array(["张伟", "张3", "Zhang Wei", "数据中台系统平台"]))[1:]) == [0.0, 0.0, 0.0]


def test_names_without_header_and_hard_negatives(policy):
    fake = Faker("zh_CN")
    fake.seed_instance(5)
    r = _one([fake.name() for _ in range(300)], "col7", policy)
    assert (r.pi_type, r.evidence.reason, r.evidence.detector) == ("person_name", "values", "person_name")
    rng = random.Random(5)
    cities = sorted({x.city for x in load_regions()})
    for values in (
        [rng.choice(cities) for _ in range(300)],
        [rng.choice(list(Jobs.jobs)) for _ in range(300)],
        [rng.choice(["华信科技", "鼎晟数据", "东方网络", "博创智能", "恒瑞软件", "腾讯", "百度"]) for _ in range(300)],
        [rng.choice(PRODUCTS) for _ in range(300)],
    ):
        assert _one(values, "attr_03", policy).pi_type is None


# ------------------------------------------------------------------------ birth dates
def _dates(rng: random.Random, lo: dt.date, hi: dt.date, n: int) -> pa.Array:
    span = (hi - lo).days
    return pa.array([lo + dt.timedelta(days=rng.randrange(span)) for _ in range(n)], pa.date32())


def test_birth_dates_from_the_distribution(policy):
    rng = random.Random(7)
    births = _dates(rng, dt.date(1950, 1, 1), dt.date(2005, 1, 1), 400)
    r = _one(births, "ext1", policy)
    assert (r.pi_type, r.evidence.reason) == ("birth_date", "values")
    # The same dates as text, and as YYYYMMDD integers.
    assert _one([d.isoformat() for d in births.to_pylist()], "ext2", policy).pi_type == "birth_date"
    assert _one(pa.array([int(d.strftime("%Y%m%d")) for d in births.to_pylist()]), "ext3", policy).pi_type == (
        "birth_date"
    )
    # Event dates: orders and log-ins of recent years, contract ends in the future, one hiring cohort.
    for events in (
        _dates(rng, dt.date(2019, 1, 1), dt.date(2026, 11, 29), 400),
        _dates(rng, dt.date(2025, 1, 1), dt.date(2026, 11, 29), 400),
        _dates(rng, dt.date(2024, 1, 1), dt.date(2029, 1, 1), 400),
        _dates(rng, dt.date(2002, 1, 1), dt.date(2004, 12, 31), 400),
        _dates(rng, dt.date(2005, 1, 1), dt.date(2026, 11, 29), 400),  # accounts opened over 20 years
    ):
        assert _one(events, "ext1", policy).pi_type is None


def test_birth_dates_of_a_person_table_lift_and_count_minors(policy):
    rng = random.Random(8)
    n = 400
    # Mostly children and young people: the median age alone is too low without a person table.
    births = _dates(rng, dt.date(2008, 1, 1), dt.date(2024, 1, 1), n * 7 // 10).to_pylist() + _dates(
        rng, dt.date(1960, 1, 1), dt.date(2000, 1, 1), n * 3 // 10
    ).to_pylist()
    rng.shuffle(births)
    alone = _one(pa.array(births, pa.date32()), "c02", policy)
    assert alone.pi_type is None
    table = pa.table(
        {"c01": [make_resident_id(rng) for _ in range(n)], "c02": pa.array(births, pa.date32())}
    )
    clf = TableClassifier(policy, as_of=AS_OF, table="t")
    for batch in table.to_batches(max_chunksize=100):
        clf.observe(batch)
    got = {r.column: r for r in clf.result()}
    r = got["c02"]
    assert (r.pi_type, r.evidence.reason, r.evidence.table_context) == ("birth_date", "values+context", "people:c01")
    minors = clf.minors()
    cutoff = dt.date(2012, 11, 30)
    from_births = {i for i, b in enumerate(births) if cutoff < b <= AS_OF}
    assert {b.column for b in minors.basis} == {"c01", "c02"}
    assert minors.rows >= len(from_births) > 0


# ------------------------------------------------------------------------ gender
def test_gender_vocabulary_and_codes(policy):
    rng = random.Random(9)
    words = [rng.choice(["男", "女"]) for _ in range(200)]
    assert _one(words, "col3", policy).pi_type == "gender"
    assert _one([rng.choice(["M", "F"]) for _ in range(200)], "col3", policy).pi_type == "gender"
    codes = [rng.choice(["1", "2"]) for _ in range(200)]
    # Codes 1/2 are gender only in a table about people ...
    assert _one(codes, "col3", policy).pi_type is None
    people = pa.table({"c1": [make_mobile(rng) for _ in range(200)], "c2": codes})
    r = _by_column(people, policy)["c2"]
    assert (r.pi_type, r.evidence.table_context) == ("gender", "people:c1")
    # ... and never a status column, nor codes of an unbalanced status, nor sizes.
    status = [("1" if rng.random() < 0.92 else "2") for _ in range(200)]
    assert _by_column(pa.table({"c1": people["c1"], "c2": status}), policy)["c2"].pi_type is None
    assert _by_column(pa.table({"c1": people["c1"], "status": codes}), policy)["status"].pi_type is None
    assert _by_column(pa.table({"c1": people["c1"], "zt": codes}), policy)["zt"].pi_type is None
    assert _one([rng.choice(["S", "M", "L", "XL"]) for _ in range(200)], "col3", policy).pi_type is None


# ------------------------------------------------------------------------ header lexicon
@pytest.mark.parametrize(
    "header, values, expected",
    [
        ("xm", "names", "person_name"),
        ("khxm", "names", "person_name"),
        ("cust_nm", "names", "person_name"),
        ("CustNm", "names", "person_name"),
        ("sfzh", "ids", "resident_id"),
        ("lxdh", "mobiles", "mobile_phone"),
        ("mob_no", "mobiles", "mobile_phone"),
        ("csrq", "births", "birth_date"),
        ("brth_dt", "births", "birth_date"),
        ("xb", "genders", "gender"),
        ("xm", "projects", None),  # xm is also 项目: values must support the header
    ],
)
def test_pinyin_and_abbreviated_headers(policy, header, values, expected):
    fake = Faker("zh_CN")
    fake.seed_instance(11)
    rng = random.Random(11)
    data = {
        "names": [fake.name() for _ in range(200)],
        "ids": [make_resident_id(rng) for _ in range(200)],
        "mobiles": [make_mobile(rng) for _ in range(200)],
        "births": _dates(rng, dt.date(1950, 1, 1), dt.date(2000, 1, 1), 200),
        "genders": [rng.choice(["男", "女"]) for _ in range(200)],
        "projects": [rng.choice(["智慧城市平台", "数据中台建设", "ERP升级", "机房改造"]) for _ in range(200)],
    }[values]
    r = _one(data, header, policy)
    assert r.pi_type == expected, r.evidence
    if expected is not None and r.evidence.header_rule and "lexicon" in r.evidence.header_rule:
        full = _one(data, {"person_name": "姓名", "resident_id": "身份证号", "mobile_phone": "手机",
                           "birth_date": "出生日期", "gender": "性别"}[expected], policy)
        assert r.confidence < full.confidence  # an abbreviation weighs less than the word


def test_pinyin_notes_header_is_free_text(policy):
    fake = Faker("zh_CN")
    fake.seed_instance(12)
    notes = [fake.sentence(nb_words=4) for _ in range(200)]
    r = _one(notes, "bz", policy)
    assert (r.pi_type, r.evidence.header_rule) == ("free_text", "free_text/lexicon_pinyin")


# ------------------------------------------------------------------------ identifiers in short text
def test_share_of_rows_with_a_mobile_makes_short_text_pi(policy):
    rng = random.Random(13)
    plain = ["已联系", "待回访", "无人接听", "客户在外地", "已发报价", "下周再约"]
    values = [
        f"请回电{make_mobile(rng)}" if rng.random() < 0.25 else rng.choice(plain) for _ in range(400)
    ]
    r = _one(values, "col7", policy)
    assert (r.pi_type, r.level) == ("free_text", "sensitive")
    assert r.evidence.reason.startswith("free_text:embedded") and r.evidence.embedded_counts["mobile_phone"] > 50
    # One stray number in 400 short notes is not a meaningful share ...
    few = [rng.choice(plain) for _ in range(399)] + [f"请回电{make_mobile(rng)}"]
    assert _one(few, "col7", policy).pi_type is None
    # ... and a code column whose numbers pass Luhn is not text.
    from ._gen import make_bank_card

    assert _one([make_bank_card(rng, "9", 16) for _ in range(200)], "col8", policy).pi_type is None


def test_excel_text_form_is_the_identifier_it_wraps(policy):
    rng = random.Random(14)
    r = _one([f'="{make_resident_id(rng)}"' for _ in range(200)], "证件", policy)
    assert (r.pi_type, r.level) == ("resident_id", "sensitive")
    r = _one([f'="{make_mobile(rng)}"' for _ in range(200)], "c5", policy)
    assert (r.pi_type, r.level) == ("mobile_phone", "internal")


def test_mobile_in_a_floating_point_column_is_not_public(policy):
    rng = random.Random(15)
    mobiles = pa.array([float(make_mobile(rng)) for _ in range(200)], pa.float64())
    r = classify_table(pa.table({"sj": mobiles}), policy)[0]
    assert r.level != "public" and r.evidence.public_basis is None
