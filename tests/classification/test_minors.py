"""Record-level escalation: rows of minors under 14 counted over every chunk (PIPL Art 28, 31)."""

from __future__ import annotations

import datetime as dt
import json
import random

import numpy as np
import pyarrow as pa
import pytest
from custody.classification import TableClassifier, load_policy
from custody.classification import minors as m
from custody.classification.policy import Override
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from .conftest import CONFIG_DIR

AS_OF = dt.date(2026, 11, 30)


def _rid(born: dt.date, area: str = "110101", seq: int = 123) -> str:
    body = f"{area}{born:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def _count(policy, data: pa.Table, *, chunk: int = 1000, as_of=AS_OF, **kw):
    clf = TableClassifier(policy, as_of=as_of, **kw)
    for batch in data.to_batches(max_chunksize=chunk):
        clf.observe(batch)
    return clf, clf.minors()


def _people(n: int, seed: int, minor_share: float = 0.05) -> tuple[list[dt.date], int]:
    rng = random.Random(seed)
    births, minors = [], 0
    for _ in range(n):
        if rng.random() < minor_share:
            born = AS_OF - dt.timedelta(days=rng.randrange(1, 13 * 365))
            minors += 1
        else:
            born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 50 * 365))
        births.append(born)
    return births, minors


def test_age_rule_boundaries():
    cut = m.cutoff_ymd(AS_OF, 14)
    assert cut == 20121130
    births = np.array([20121130, 20121201, 20261130, 20261201, 20150229, 0, 20151340], dtype=np.int64)
    # 14th birthday today: not a minor; born tomorrow 14 years ago: a minor; born today: a minor;
    # born after the run date or with an impossible month: not counted.
    assert m.minor_positions(births, AS_OF, 14).tolist() == [1, 2, 4]
    # 29 February: the 14th birthday falls on 1 March in a non-leap year.
    assert m.minor_positions(np.array([20120229]), dt.date(2026, 2, 28), 14).tolist() == [0]
    assert m.minor_positions(np.array([20120229]), dt.date(2026, 3, 1), 14).tolist() == []


def test_birth_dates_in_every_representation():
    dates = pa.array([dt.date(2015, 3, 1), None, dt.date(1990, 1, 1)], pa.date32())
    assert m.birth_ymd_from_dates(dates).tolist() == [20150301, 0, 19900101]
    ts = pa.array([dt.datetime(2015, 3, 1, 12, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC"))
    assert m.birth_ymd_from_dates(ts).tolist() == [20150301]
    text = pa.array(["2015-03-01", "2015年3月1日", "2015/3/1", "20150301", "２０１５-03-01", "x", None])
    assert m.birth_ymd_from_dates(text).tolist() == [20150301] * 5 + [0, 0]
    assert m.birth_ymd_from_dates(pa.array([20150301, 7], pa.int64())).tolist() == [20150301, 0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.from_regex(r"[0-9]{17}[0-9Xx]", fullmatch=True),  # stored as the rules read them
    st.from_regex(r"[0-9０-９ xX\-]{14,22}", fullmatch=True),  # spaced, full-width, separated, short
    st.from_regex(r"[0-9]{15}", fullmatch=True),
    st.text(max_size=24),
    st.none()), max_size=40))
def test_resident_ids_stored_canonically_read_as_the_preparation_reads_them(values):
    """The shortcut for numbers stored as 18 ASCII characters gives what the shared preparation
    gives: the same values behind a leading space (trimmed away) all take the prepared path."""
    spaced = [None if v is None else " " + v for v in values]
    assert (m.birth_ymd_from_resident_ids(pa.array(values, pa.string())).tolist()
            == m.birth_ymd_from_resident_ids(pa.array(spaced, pa.string())).tolist())


def test_resident_id_digits_7_to_14():
    rid = _rid(dt.date(2015, 3, 1))
    wide = rid.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    x_lower = _rid(dt.date(2015, 3, 1), seq=0)
    values = pa.array(
        [rid, f"{rid[:6]} {rid[6:14]} {rid[14:]}", wide, x_lower.lower(), "110101150301123", "张三", None]
    )
    assert m.birth_ymd_from_resident_ids(values).tolist() == [20150301] * 4 + [19150301, 0, 0]
    ints = pa.array([int(rid[:17] + "0"), 42], pa.int64())
    assert m.birth_ymd_from_resident_ids(ints).tolist() == [20150301, 0]


@pytest.mark.parametrize("method", ["head", "random"])
def test_counts_every_row_across_chunks_each_row_once(policy, method):
    """Minors past the sample are counted: the count is a full scan, not a sample estimate."""
    n = 5000
    births, minors = _people(n, seed=1)
    rng = random.Random(2)
    # Minors only after the first 2,000 rows, far past a 200-value head sample.
    births[:2000] = [dt.date(1980, 1, 1)] * 2000
    minors = sum(1 for b in births if m.ymd(b) > m.cutoff_ymd(AS_OF, 14))
    rids = [_rid(b, seq=rng.randrange(1000)) for b in births]
    rids[2500] = None  # a row with a birth date and no ID still counts once
    table = pa.table(
        {
            "contact_id": pa.array(range(n), pa.int64()),
            "出生日期": pa.array(births, pa.date32()),
            "身份证号": rids,
            "name": [f"row {i}" for i in range(n)],
        }
    )
    clf, got = _count(policy, table, chunk=700, sample_size=200, sample_method=method, seed=3)
    assert got.rows == minors > 0
    assert got.rows_scanned == n and got.counted and got.as_of == "2026-11-30" and got.under_age == 14
    assert {b.column: (b.pi_type, b.rows) for b in got.basis} == {
        "出生日期": ("birth_date", minors),
        "身份证号": ("resident_id", minors - (1 if m.ymd(births[2500]) > m.cutoff_ymd(AS_OF, 14) else 0)),
    }
    assert got.level == "sensitive" and "Art 28" in got.ref
    doc = got.document()
    assert doc["minors_under_14"] == minors and doc["minors"]["rows"] == minors
    json.dumps(doc)


def test_ids_and_dates_disagreeing_count_the_union(policy):
    kid, adult = dt.date(2016, 5, 5), dt.date(1980, 5, 5)
    table = pa.table(
        {
            "birth_date": pa.array([kid, adult, adult, kid], pa.date32()),
            "resident_id": [_rid(adult), _rid(kid), _rid(adult), _rid(kid)],
        }
    )
    _, got = _count(policy, table)
    assert got.rows == 3
    assert {b.column: b.rows for b in got.basis} == {"birth_date": 2, "resident_id": 2}


def test_resident_ids_alone_late_columns_and_chunks(policy):
    births, minors = _people(1200, seed=4, minor_share=0.1)
    rids = [_rid(b, seq=i % 1000) for i, b in enumerate(births)]
    clf = TableClassifier(policy, as_of=AS_OF)
    clf.observe(pa.table({"k": pa.array(range(100), pa.int64())}))  # the ID column arrives later
    clf.observe(pa.table({"k": pa.array(range(1200), pa.int64()), "id_number": rids}))
    got = clf.minors()
    expected = sum(1 for b in births if m.ymd(b) > m.cutoff_ymd(AS_OF, 14))
    assert got.rows == expected == minors
    assert got.rows_scanned == 1300


def test_no_basis_column_means_not_counted(policy):
    table = pa.table(
        {"name": ["张三", "李四"] * 20, "created_at": pa.array([dt.date(2020, 1, 1)] * 40, pa.date32())}
    )
    _, got = _count(policy, table)
    assert (got.rows, got.counted, got.basis) == (0, False, [])
    # A date column without a birth header is never read as a birth date.
    recent = pa.table({"signed_on": pa.array([dt.date(2020, 1, 1)] * 40, pa.date32())})
    assert _count(policy, recent)[1].counted is False


def test_override_makes_a_column_a_basis(policy):
    kid = dt.date(2018, 1, 1)
    table = pa.table({"col_x": pa.array([kid] * 10 + [dt.date(1970, 1, 1)] * 30, pa.date32())})
    assert _count(policy, table, source="crm", table="t")[1].counted is False
    ov = Override(
        source="crm",
        table="t",
        column="col_x",
        level="internal",
        pi_type="birth_date",
        who="dpo@example.com",
        why="birth dates in a legacy column",
    )
    _, got = _count(policy.model_copy(update={"overrides": [ov]}), table, source="crm", table="t")
    assert (got.rows, [b.column for b in got.basis]) == (10, ["col_x"])


def test_policy_without_rule_and_gdpr_age(policy):
    table = pa.table(
        {"dob": pa.array([dt.date(2011, 6, 1), dt.date(2014, 6, 1), dt.date(1990, 6, 1)], pa.date32())}
    )
    assert TableClassifier(policy.model_copy(update={"minors": None})).minors() is None
    assert _count(policy, table)[1].rows == 1
    gdpr = load_policy(CONFIG_DIR / "policy.gdpr.yaml")
    got = _count(gdpr, table)[1]
    assert (got.under_age, got.rows) == (16, 2)
    assert "minors_under_16" in got.document()


def test_minors_output_carries_no_values(policy):
    births, _ = _people(300, seed=5, minor_share=0.2)
    rids = [_rid(b, seq=i % 1000) for i, b in enumerate(births)]
    _, got = _count(policy, pa.table({"身份证号": rids, "birth_date": pa.array(births, pa.date32())}))
    dumped = json.dumps(got.document(), ensure_ascii=False)
    assert not any(r in dumped for r in rids)
    assert not any(b.isoformat() in dumped for b in births if b != AS_OF)
