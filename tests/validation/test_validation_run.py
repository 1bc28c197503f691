"""validate_chunk end to end through GX: checks, quarantine, uniqueness across chunks, counts,
privacy of everything returned, thresholds."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from decimal import Decimal

import pyarrow as pa
import pytest
from custody.validation import (
    QUARANTINE_REASONS_COLUMN,
    ChunkSummary,
    ColumnCheck,
    ColumnNotFoundError,
    KeyTracker,
    TableRules,
    ValidationEngineError,
    ValidationThresholdExceeded,
    enforce_threshold,
    summarize,
    validate_chunk,
)

CONTACT_RULES = TableRules(
    table="contacts",
    key_columns=["contact_id"],
    checks=[
        ColumnCheck(column="email", check="not_null"),
        ColumnCheck(column="email", check="email"),
        ColumnCheck(column="mobile", check="cn_mobile"),
        ColumnCheck(column="resident_id", check="cn_resident_id"),
        ColumnCheck(column="postal_code", check="regex", args={"pattern": r"^[0-9]{6}$"}),
        ColumnCheck(column="credit", check="between", args={"min": "0.01", "max": "1000.00"}),
    ],
)


@pytest.fixture
def contacts(data) -> pa.Table:
    """Ten hand-made rows; the expected reasons are in EXPECTED_REASONS."""
    rid = data.resident_id
    good = rid("110101", "19800101", "123")
    rows = [
        # contact_id, email, mobile, resident_id, postal_code, credit
        (1, "zhang.wei@example.cn", "13800138000", good, "100010", Decimal("10.00")),
        (
            2,
            "李娜@例子.中国",
            "+86 139-1234-5678",
            rid("110103", "20150101", "124"),
            "200000",
            Decimal("0.01"),
        ),
        (
            3,
            "wang@163.com",
            "１３７００１３７０００",
            data.resident_id_with_x()[:-1] + "x",
            "300000",
            Decimal("1000.00"),
        ),
        (4, None, "0086 13600136000", None, None, None),
        (
            5,
            "no-at-sign",
            "12800128000",
            data.wrong_check(rid("310104", "19900202", "555")),
            "10001",
            Decimal("1000.01"),
        ),
        (6, "liu@qq.com", "1380013800", "110101800101123", "ABCDEF", Decimal("0.00")),
        (
            1,
            "dup.first.id@example.cn",
            "13500135000",
            rid("440305", "19751231", "001"),
            "518000",
            Decimal("5.50"),
        ),
        (8, "chen@126.com", "+8615000150000", rid("990101", "19991231", "999"), "610000", Decimal("999.99")),
        (9, "zhao@sina.com", None, rid("110101", "19800230", "123"), "610041", Decimal("1.10")),
        (1, "third@example.cn", "15900159000", good, "610042", Decimal("2.00")),
    ]
    cols = list(zip(*rows))
    schema = pa.schema(
        [
            ("contact_id", pa.int64()),
            ("email", pa.string()),
            ("mobile", pa.string()),
            ("resident_id", pa.string()),
            ("postal_code", pa.string()),
            ("credit", pa.decimal128(12, 2)),
        ],
        metadata={b"source": b"crm"},
    )
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(cols, schema)], schema=schema)


EXPECTED_REASONS = {
    # row position -> reasons (rule order: checks in order, then the key uniqueness)
    3: ["not_null:email"],
    4: [
        "email:email",
        "cn_mobile:mobile",
        "cn_resident_id:resident_id",
        "regex:postal_code",
        "between:credit",
    ],
    5: ["cn_mobile:mobile", "cn_resident_id:resident_id", "regex:postal_code", "between:credit"],
    6: ["unique:contact_id"],
    8: ["cn_resident_id:resident_id"],
    9: ["unique:contact_id"],
}


def _reasons_by_position(table: pa.Table, result) -> dict[int, list[str]]:
    """Map quarantined rows back to input positions through the (unique per row) e-mail/ids."""
    positions = {}
    originals = table.to_pylist()
    for row in result.quarantine.to_pylist():
        reasons = row.pop(QUARANTINE_REASONS_COLUMN)
        matches = [i for i, orig in enumerate(originals) if orig == row and i not in positions]
        positions[matches[0]] = reasons
    return positions


def test_every_check_pass_fail_and_reasons(contacts):
    result = validate_chunk(contacts, CONTACT_RULES)
    assert _reasons_by_position(contacts, result) == EXPECTED_REASONS
    assert (result.rows_in, result.rows_valid, result.rows_quarantined) == (10, 4, 6)
    assert result.valid.column("contact_id").to_pylist() == [1, 2, 3, 8]
    by_reason = {r.reason: r for r in result.results}
    assert {k: (v.unexpected, v.missing, v.gx_unexpected) for k, v in by_reason.items()} == {
        "not_null:email": (1, 0, 1),
        "email:email": (1, 1, 1),
        "cn_mobile:mobile": (2, 1, 2),
        "cn_resident_id:resident_id": (3, 1, 3),
        "regex:postal_code": (2, 1, 2),
        "between:credit": (2, 1, 2),
        # GX flags all three rows with id 1; Custody keeps the first
        "unique:contact_id": (2, 0, 3),
    }
    assert by_reason["unique:contact_id"].expectation == "expect_column_values_to_be_unique"
    assert (
        by_reason["cn_resident_id:resident_id"].expectation
        == "expect_column_values_to_be_custody_cn_resident_id"
    )
    assert by_reason["email:email"].expectation == "expect_column_values_to_be_custody_email"
    assert by_reason["cn_mobile:mobile"].expectation == "expect_column_values_to_be_custody_cn_mobile"
    assert all(r.evaluated == 10 and r.success is (r.unexpected == 0) for r in result.results)


def test_counts_reconcile_exactly(contacts):
    result = validate_chunk(contacts, CONTACT_RULES)
    assert result.rows_in == result.rows_valid + result.rows_quarantined == contacts.num_rows
    per_reason = Counter(
        r for rs in result.quarantine.column(QUARANTINE_REASONS_COLUMN).to_pylist() for r in rs
    )
    assert dict(per_reason) == {r.reason: r.unexpected for r in result.results if r.unexpected}
    assert all(len(rs) >= 1 for rs in result.quarantine.column(QUARANTINE_REASONS_COLUMN).to_pylist())


def test_schema_and_values_round_trip(contacts):
    result = validate_chunk(contacts, CONTACT_RULES)
    assert result.valid.schema == contacts.schema
    assert result.valid.schema.metadata == {b"source": b"crm"}
    reasons_field = result.quarantine.schema.field(QUARANTINE_REASONS_COLUMN)
    assert reasons_field.type == pa.list_(pa.string()) and reasons_field.nullable is False
    assert result.quarantine.drop_columns([QUARANTINE_REASONS_COLUMN]).schema == contacts.schema
    rebuilt = pa.concat_tables([result.valid, result.quarantine.drop_columns([QUARANTINE_REASONS_COLUMN])])
    key = lambda r: (r["contact_id"], r["email"] or "")  # noqa: E731
    assert sorted(rebuilt.to_pylist(), key=key) == sorted(contacts.to_pylist(), key=key)
    assert result.valid.column("credit").to_pylist()[2] == Decimal("1000.00")  # boundary kept, exact


def test_types_round_trip_and_boundaries():
    utc = dt.timezone.utc
    table = pa.table(
        {
            "id": pa.array([2**60, 2**60 + 1, 3, None], pa.int64()),  # distinct only as exact int64
            "amount": pa.array(
                [Decimal("1.10"), Decimal("1.09"), None, Decimal("2.00")], pa.decimal128(38, 10)
            ),
            "day": pa.array(
                [dt.date(2000, 1, 1), dt.date(1999, 12, 31), None, dt.date(2024, 2, 29)], pa.date32()
            ),
            "at": pa.array(
                [
                    dt.datetime(2020, 1, 1, tzinfo=utc),
                    dt.datetime(2019, 12, 31, 23, 59, 59, 999999, tzinfo=utc),
                    None,
                    dt.datetime(2020, 1, 1, 0, 0, 0, 1, tzinfo=utc),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "score": pa.array([1.0, float("nan"), 2.0, None], pa.float64()),
        }
    )
    rules = TableRules(
        table="t",
        key_columns=["id"],
        checks=[
            ColumnCheck(column="amount", check="between", args={"min": "1.10"}),
            ColumnCheck(column="day", check="between", args={"min": "2000-01-01", "max": "2024-02-29"}),
            ColumnCheck(
                column="at",
                check="between",
                args={"min": "2020-01-01T00:00:00Z", "max": "2020-01-01 00:00:00.000001"},
            ),
            ColumnCheck(column="score", check="not_null"),
        ],
    )
    result = validate_chunk(table, rules)
    reasons = dict(
        zip(
            result.quarantine.column("id").to_pylist(),
            result.quarantine.column(QUARANTINE_REASONS_COLUMN).to_pylist(),
        )
    )
    # NaN counts as null; 2**60 and 2**60+1 are different keys; Decimal 1.10 >= "1.10"
    assert reasons == {
        2**60 + 1: ["between:amount", "between:day", "between:at", "not_null:score"],
        None: ["not_null:score"],
    }
    assert result.valid.to_pylist() == [table.slice(0, 1).to_pylist()[0], table.slice(2, 1).to_pylist()[0]]
    assert result.valid.schema == table.schema


def test_uniqueness_across_chunks_keeps_first_occurrence(data):
    base = data.customers(12, seed=3)
    ids = [1, 2, 3, 4, 2, 5, 6, 1, 7, 8, 3, 9]  # 2, 1 and 3 repeat; 1 and 3 only in later chunks
    table = base.set_column(0, "customer_id", pa.array(ids, pa.int64()))
    rules = TableRules(table="customer", key_columns=["customer_id"])
    tracker = KeyTracker()
    chunks = [validate_chunk(table.slice(o, 4), rules, tracker=tracker) for o in (0, 4, 8)]
    flagged = [c.quarantine.column("customer_id").to_pylist() for c in chunks]
    assert flagged == [[], [2, 1], [3]]
    unique = [next(r for r in c.results if r.check == "unique") for c in chunks]
    assert [(u.unexpected, u.gx_unexpected) for u in unique] == [(0, 0), (2, 0), (1, 0)]
    assert tracker.table == "customer" and tracker.count("unique:customer_id") == 9

    whole = validate_chunk(table, rules)
    assert whole.quarantine.column("customer_id").to_pylist() == [2, 1, 3]
    assert [r.gx_unexpected for r in whole.results] == [6]  # GX flags every occurrence
    report = summarize(chunks)
    assert (report.rows_in, report.rows_valid, report.rows_quarantined) == (12, 9, 3)
    assert report.checks[0].unexpected == 3


def test_result_does_not_depend_on_chunking(data):
    table = data.customers(60, seed=11)
    ids = [i % 41 for i in range(60)]
    emails = table.column("email").to_pylist()
    emails[5] = emails[17] = "broken"
    table = table.set_column(0, "customer_id", pa.array(ids, pa.int64()))
    table = table.set_column(2, "email", pa.array(emails, pa.string()))
    rules = TableRules(
        table="customer",
        key_columns=["customer_id"],
        checks=[ColumnCheck(column="email", check="email"), ColumnCheck(column="email", check="unique")],
    )

    def outcome(size: int) -> list:
        tracker = KeyTracker()
        parts = [validate_chunk(table.slice(o, size), rules, tracker=tracker) for o in range(0, 60, size)]
        rows = [r for p in parts for r in p.quarantine.to_pylist()]
        return sorted((r["customer_id"], r["email"], tuple(r[QUARANTINE_REASONS_COLUMN])) for r in rows)

    single = outcome(60)
    assert len(single) == 19 + 2  # 19 repeated ids, plus rows 5 and 17 with a broken e-mail
    assert outcome(7) == single == outcome(13)
    assert (5 % 41, "broken", ("email:email",)) in single
    assert (17 % 41, "broken", ("email:email", "unique:email")) in single


def test_compound_key_and_null_key_parts():
    table = pa.table(
        {
            "order_id": pa.array([1, 1, 1, None, None, 2], pa.int64()),
            "line": pa.array([1, 2, 1, 1, 1, None], pa.int64()),
        }
    )
    rules = TableRules(table="order_line", key_columns=["order_id", "line"])
    tracker = KeyTracker()
    first = validate_chunk(table, rules, tracker=tracker)
    assert first.quarantine.to_pylist() == [
        {"order_id": 1, "line": 1, QUARANTINE_REASONS_COLUMN: ["unique:order_id+line"]}
    ]
    assert first.results[0].expectation == "expect_compound_columns_to_be_unique"
    second = validate_chunk(
        pa.table({"order_id": pa.array([1, 3], pa.int64()), "line": pa.array([2, 1], pa.int64())}),
        rules,
        tracker=tracker,
    )
    assert second.quarantine.column("order_id").to_pylist() == [1]
    assert tracker.count("unique:order_id+line") == 3


def test_camel_and_snake_case_data_give_the_same_outcome(data):
    rules = TableRules(
        table="customer",
        key_columns=["customer_id"],
        checks=[
            ColumnCheck(column="full_name", check="not_null"),
            ColumnCheck(column="email", check="email"),
            ColumnCheck(column="phone", check="cn_mobile"),
            ColumnCheck(column="resident_id", check="cn_resident_id"),
            ColumnCheck(column="credit_limit", check="between", args={"min": 0, "max": 100000}),
            ColumnCheck(column="birth_date", check="between", args={"min": "1900-01-01"}),
            ColumnCheck(column="created_at", check="between", args={"min": "2019-01-01"}),
        ],
    )
    snake = validate_chunk(data.customers(50, seed=5), rules)
    camel = validate_chunk(data.customers(50, seed=5, camel=True), rules)
    assert snake.rows_quarantined == camel.rows_quarantined == 0
    assert [r.reason for r in camel.results][:3] == ["not_null:FullName", "email:Email", "cn_mobile:Phone"]
    assert [r.reason for r in snake.results][:3] == ["not_null:full_name", "email:email", "cn_mobile:phone"]
    assert [(r.check, r.unexpected, r.evaluated) for r in snake.results] == [
        (r.check, r.unexpected, r.evaluated) for r in camel.results
    ]


def test_unknown_column_error_and_tracker_untouched(data):
    rules = TableRules(
        table="customer",
        key_columns=["customer_id"],
        checks=[ColumnCheck(column="wechat_id", check="not_null")],
    )
    tracker = KeyTracker()
    with pytest.raises(ColumnNotFoundError) as err:
        validate_chunk(data.customers(5), rules, tracker=tracker)
    assert (err.value.table, err.value.column) == ("customer", "wechat_id")
    assert "table 'customer': column 'wechat_id'" in str(err.value)
    assert tracker.rules() == [] and tracker.table is None


def test_tracker_belongs_to_one_table(data):
    tracker = KeyTracker("customer")
    with pytest.raises(ValueError, match="belongs to table 'customer'"):
        validate_chunk(
            data.customers(3), TableRules(table="invoice", key_columns=["customer_id"]), tracker=tracker
        )


def test_empty_chunk_record_batch_and_no_rules(data):
    empty = data.customers(0)
    result = validate_chunk(
        empty,
        CONTACT_RULES.model_copy(
            update={
                "table": "customer",
                "checks": [ColumnCheck(column="email", check="email")],
                "key_columns": ["customer_id"],
            }
        ),
    )
    assert (result.rows_in, result.rows_valid, result.rows_quarantined) == (0, 0, 0)
    assert [(r.reason, r.unexpected, r.success) for r in result.results] == [
        ("email:email", 0, True),
        ("unique:customer_id", 0, True),
    ]
    assert result.quarantine.num_columns == empty.num_columns + 1

    batch = data.customers(4).to_batches()[0]
    result = validate_chunk(batch, TableRules(table="customer"))
    assert (result.rows_valid, result.results) == (4, [])
    assert result.valid.schema == batch.schema


# ------------------------------------------------------------------------------ privacy


def _cell_strings(table: pa.Table) -> set[str]:
    """Every text cell (4+ chars) and every decimal cell long enough not to occur by chance in a
    count or percentage (``0.00`` is part of ``60.00%``)."""
    out = set()
    for column in table.columns:
        for value in column.to_pylist():
            if isinstance(value, str) and len(value) >= 4:
                out.add(value)
            elif isinstance(value, Decimal) and len(str(value)) >= 6:
                out.add(str(value))
    return out


def test_privacy_no_value_in_any_summary_error_or_log(contacts, data, caplog):
    caplog.set_level(logging.DEBUG)
    tracker = KeyTracker()
    chunks = [validate_chunk(contacts.slice(o, 5), CONTACT_RULES, tracker=tracker) for o in (0, 5)]
    report = summarize(chunks)
    texts = [
        json.dumps([r.model_dump(mode="json") for c in chunks for r in c.results], ensure_ascii=False),
        json.dumps([c.summary().model_dump(mode="json") for c in chunks], ensure_ascii=False),
        report.model_dump_json(),
        repr(chunks[0].results),
        repr(tracker),
    ]
    with pytest.raises(ValidationThresholdExceeded) as err:
        enforce_threshold(report, CONTACT_RULES)
    texts.append(str(err.value))
    with pytest.raises(ColumnNotFoundError) as err2:
        validate_chunk(
            contacts,
            CONTACT_RULES.model_copy(update={"checks": [ColumnCheck(column="nope", check="unique")]}),
        )
    texts.append(str(err2.value))
    texts += [r.getMessage() for r in caplog.records]
    blob = "\n".join(texts)
    values = _cell_strings(contacts)
    assert len(values) > 30
    leaked = sorted(v for v in values if v in blob)
    assert leaked == []
    # and the summaries carry exactly the documented, value-free fields
    assert set(chunks[0].results[0].model_dump()) == {
        "expectation",
        "column",
        "check",
        "reason",
        "evaluated",
        "missing",
        "unexpected",
        "gx_unexpected",
        "success",
        "origin",
        "args",
    }


def test_gx_failure_is_reported_without_values(contacts, monkeypatch, caplog):
    from custody.validation import checks

    def exploding(column):
        raise ValueError(f"cannot parse {list(column)!r}")

    monkeypatch.setattr(checks, "email_column", exploding)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ValidationEngineError) as err:
        validate_chunk(contacts, CONTACT_RULES)
    assert str(err.value) == (
        "table 'contacts': GX could not evaluate 'email:email' (details withheld: they may quote data values)"
    )
    assert err.value.reason == "email:email"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "zhang.wei@example.cn" not in logged and "cannot parse" not in logged


def test_gx_loggers_that_quote_exceptions_are_redacted(caplog):
    from custody.validation.expectations import gx_runtime

    gx_runtime()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("great_expectations.validator.validation_graph").error(
        "Caught exception %s while resolving", "invalid literal: '13800138000'"
    )
    logging.getLogger("great_expectations.validator.validation_graph").debug("resolving %d metrics", 3)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "GX reported a problem while validating; message withheld (may quote data values)"
    assert messages[1] == "resolving 3 metrics"
    assert "13800138000" not in "\n".join(messages)


# ---------------------------------------------------------------------------- threshold


def test_threshold_enforcement(contacts):
    result = validate_chunk(contacts, CONTACT_RULES)
    report = summarize([result])
    assert report.failing_share == pytest.approx(0.6)
    with pytest.raises(ValidationThresholdExceeded) as err:
        enforce_threshold(report, CONTACT_RULES)
    exc = err.value
    assert (exc.table, exc.share, exc.limit, exc.rows_in, exc.rows_quarantined) == (
        "contacts",
        0.6,
        0.05,
        10,
        6,
    )
    assert str(exc) == "table 'contacts': 60.00% of rows failed validation (6 of 10), limit 5.00%"
    at_limit = CONTACT_RULES.model_copy(update={"max_failing_share": 0.6})
    assert enforce_threshold(report, at_limit) is report
    with pytest.raises(ValueError, match="rules for 'other'"):
        enforce_threshold(report, CONTACT_RULES.model_copy(update={"table": "other"}))


def test_summarize_sums_chunks_and_accepts_summaries(contacts):
    tracker = KeyTracker()
    parts = [validate_chunk(contacts.slice(o, 4), CONTACT_RULES, tracker=tracker) for o in (0, 4, 8)]
    from_objects = summarize(parts)
    from_json = summarize([ChunkSummary.model_validate_json(p.summary().model_dump_json()) for p in parts])
    assert from_objects == from_json
    assert (from_objects.chunks, from_objects.rows_in, from_objects.rows_quarantined) == (3, 10, 6)
    totals = {c.reason: (c.evaluated, c.unexpected) for c in from_objects.checks}
    assert totals["unique:contact_id"] == (10, 2)
    assert totals["cn_resident_id:resident_id"] == (10, 3)
    assert summarize([], table="contacts").failing_share == 0.0
    with pytest.raises(ValueError, match="exactly one table"):
        summarize([])
    other = validate_chunk(contacts, CONTACT_RULES.model_copy(update={"table": "x"}))
    with pytest.raises(ValueError, match="contacts, x"):
        summarize([parts[0], other])


# ---------------------------------------------------------------------------- scale


def test_ten_thousand_rows_eight_columns(data, capsys):
    table = data.customers(10_000, seed=99)
    emails = table.column("email").to_pylist()
    for i in range(0, 10_000, 500):
        emails[i] = f"broken{i}"
    ids = table.column("customer_id").to_pylist()
    ids[9_999] = ids[0]
    table = table.set_column(2, "email", pa.array(emails, pa.string()))
    table = table.set_column(0, "customer_id", pa.array(ids, pa.int64()))
    rules = TableRules(
        table="customer",
        key_columns=["customer_id"],
        checks=[
            ColumnCheck(column="full_name", check="not_null"),
            ColumnCheck(column="email", check="email"),
            ColumnCheck(column="phone", check="cn_mobile"),
            ColumnCheck(column="resident_id", check="cn_resident_id"),
            ColumnCheck(column="credit_limit", check="between", args={"min": 0, "max": 100000}),
            ColumnCheck(column="birth_date", check="between", args={"min": "1900-01-01"}),
            ColumnCheck(column="created_at", check="between", args={"min": "2019-01-01"}),
        ],
    )
    validate_chunk(table.slice(0, 10), rules)  # warm-up: GX import and context
    started = time.perf_counter()
    result = validate_chunk(table, rules, tracker=KeyTracker())
    elapsed = time.perf_counter() - started
    assert (result.rows_in, result.rows_valid, result.rows_quarantined) == (10_000, 9_979, 21)
    assert {r.reason: r.unexpected for r in result.results if r.unexpected} == {
        "email:email": 20,
        "unique:customer_id": 1,
    }
    with capsys.disabled():
        print(f"\n[validation] 10,000 rows x 8 columns, 8 checks: {elapsed:.2f}s")
    assert elapsed < 30


def test_chinese_headers_integer_phones_and_dictionary_columns(data):
    good = data.resident_id("110101", "19800101", "123")
    table = pa.table(
        {
            "Customer ID": pa.array([1, 2, 3], pa.int64()),
            "身份证号": pa.array([good, "123", None], pa.string()),
            "手机": pa.array([13800138000, 12800138000, None], pa.int64()),
            "segment": pa.array(["A", "B", "zz"], pa.string()).dictionary_encode(),
        }
    )
    rules = TableRules(
        table="客户",
        key_columns=["customer_id"],
        checks=[
            ColumnCheck(column="身份证号", check="cn_resident_id"),
            ColumnCheck(column="手机", check="cn_mobile"),
            ColumnCheck(column="segment", check="regex", args={"pattern": "^[A-Z]$"}),
        ],
    )
    result = validate_chunk(table, rules)
    assert result.quarantine.column("Customer ID").to_pylist() == [2, 3]
    assert result.quarantine.column(QUARANTINE_REASONS_COLUMN).to_pylist() == [
        ["cn_resident_id:身份证号", "cn_mobile:手机"],
        ["regex:segment"],
    ]
    assert result.valid.schema == table.schema  # dictionary type kept on the Arrow side


def test_errors_pickle_and_validation_makes_no_network_call(contacts, monkeypatch):
    import pickle
    import socket

    errors = [
        ColumnNotFoundError("customer", "wechat_id", "not_null", ["a", "b"]),
        ValidationThresholdExceeded("customer", 0.5, 0.05, 10, 5),
        ValidationEngineError("customer", "email:email"),
    ]
    for exc in errors:
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is type(exc) and str(again) == str(exc)

    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    result = validate_chunk(contacts, CONTACT_RULES)
    assert result.rows_quarantined == 6 and attempts == []


def test_gx_import_noise_stays_out_of_task_logs():
    # GX logs 200+ INFO lines about its own API registry on import; the package keeps only its
    # warnings. (A fresh interpreter, so GX is imported here for the first time.)
    import subprocess
    import sys

    code = ("import logging; logging.basicConfig(level=logging.INFO)\n"
            "import custody.validation.runner as r; import great_expectations")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "great_expectations._docs_decorators" not in res.stderr
    assert "Skipping registering function" not in res.stderr


def test_identifier_expectations_compute_column_conditions(monkeypatch):
    """The custom expectations evaluate their condition over the whole column: plain values never
    reach the per-value rules (one Python call per value); only the values the column path cannot
    read exactly (here an internationalised address) go to the library."""
    from custody.identifiers import bank_card, email_address, mobile, resident_id, uscc

    calls: list[str] = []
    for module in (bank_card, email_address, mobile, resident_id, uscc):
        real = module.is_valid

        def spy(value, *args, _real=real, _name=module.__name__, **kwargs):
            calls.append(_name)
            return _real(value, *args, **kwargs)

        monkeypatch.setattr(module, "is_valid", spy)
    n = 2000
    table = pa.table({
        "email": [f"user{i}@example.cn" for i in range(n - 1)] + ["张三@例子.中国"],
        "mobile": [f"138{i:08d}" for i in range(n)],
        "resident_id": ["110101198001011232"] * (n - 1) + ["110101198001011233"],
        "card": ["4111111111111111"] * n,
        "uscc": ["91110000600037341L"] * n,
    })
    rules = TableRules(table="t", checks=[
        ColumnCheck(column="email", check="email"),
        ColumnCheck(column="mobile", check="cn_mobile"),
        ColumnCheck(column="resident_id", check="cn_resident_id"),
        ColumnCheck(column="card", check="cn_bank_card"),
        ColumnCheck(column="uscc", check="uscc"),
    ])
    result = validate_chunk(table, rules)
    assert calls == ["custody.identifiers.email_address"]
    assert result.rows_valid == n - 1 and result.rows_quarantined == 1
    assert result.quarantine.column("_quarantine_reasons").to_pylist() == [["cn_resident_id:resident_id"]]


def test_gx_batches_are_not_fingerprinted(contacts, monkeypatch):
    """GX's pandas engine would MD5 every whole batch for a marker Custody never reads
    (custody.validation._gx): switched off, and the outcome is the same."""
    from custody.validation._gx import NO_FINGERPRINT
    from great_expectations.execution_engine import pandas_execution_engine

    assert pandas_execution_engine.HASH_THRESHOLD == NO_FINGERPRINT == 0
    calls: list[int] = []
    original = pandas_execution_engine.hash_pandas_dataframe

    def counting(df):
        calls.append(len(df))
        return original(df)

    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", counting)
    result = validate_chunk(contacts, CONTACT_RULES)
    assert calls == []
    assert _reasons_by_position(contacts, result) == EXPECTED_REASONS
    monkeypatch.setattr(pandas_execution_engine, "HASH_THRESHOLD", 1e9)  # GX's own setting
    fingerprinted = validate_chunk(contacts, CONTACT_RULES)
    assert calls and all(n == contacts.num_rows for n in calls)
    assert _reasons_by_position(contacts, fingerprinted) == EXPECTED_REASONS
    assert (fingerprinted.rows_valid, fingerprinted.rows_quarantined) == (result.rows_valid, result.rows_quarantined)
