"""Rules model and binding rules to a chunk schema (no GX run)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from custody.validation import (
    ColumnCheck,
    ColumnNotFoundError,
    RulesError,
    TableRules,
    bind_rules,
)
from pydantic import ValidationError


def test_rules_from_yaml_shape():
    rules = TableRules.model_validate(
        {
            "table": "customer",
            "key_columns": ["customer_id"],
            "checks": [
                {"column": "email", "check": "email"},
                {"column": "postal_code", "check": "regex", "args": {"pattern": "^[0-9]{6}$"}},
                {"column": "credit_limit", "check": "between", "args": {"min": 0, "max": 100}},
                {"column": "phone", "check": "cn_mobile", "args": {"strict": True}},
            ],
        }
    )
    assert rules.max_failing_share == 0.05
    assert [c.check for c in rules.checks] == ["email", "regex", "between", "cn_mobile"]
    assert rules.checks[0].key == "email"
    assert ColumnCheck(column="CustomerId", check="unique").key == "customerid"


@pytest.mark.parametrize(
    ("check", "args", "fragment"),
    [
        ("regex", {}, "needs args.pattern"),
        ("regex", {"pattern": "("}, "does not compile"),
        ("between", {}, "needs args.min"),
        ("between", {"min": 5, "max": 1}, "greater than"),
        ("between", {"min": True}, "must be a number"),
        ("not_null", {"pattern": "x"}, "does not take args"),
        ("cn_mobile", {"strict": "yes"}, "boolean"),
        ("email", {"check_deliverability": True}, "does not take args"),
    ],
)
def test_bad_check_args(check, args, fragment):
    with pytest.raises(ValidationError) as err:
        ColumnCheck(column="c", check=check, args=args)
    assert fragment in str(err.value)


def test_unknown_check_and_share_bounds():
    with pytest.raises(ValidationError):
        ColumnCheck(column="c", check="luhn")
    with pytest.raises(ValidationError):
        TableRules(table="t", max_failing_share=1.5)


def test_duplicate_checks_are_rejected_across_spellings():
    with pytest.raises(ValidationError) as err:
        TableRules(
            table="t",
            checks=[
                ColumnCheck(column="customer_id", check="unique"),
                ColumnCheck(column="CustomerId", check="unique"),
            ],
        )
    assert "duplicate check 'unique'" in str(err.value)
    with pytest.raises(ValidationError, match="duplicate check 'regex' on column 'Code'"):
        TableRules(
            table="t",
            checks=[
                ColumnCheck(column="code", check="regex", args={"pattern": "^A"}),
                ColumnCheck(column="Code", check="regex", args={"pattern": "Z$"}),
            ],
        )
    with pytest.raises(ValidationError):
        TableRules(table="t", key_columns=["customer_id", "CustomerId"])


SCHEMA = pa.schema(
    [
        ("CustomerId", pa.int64()),
        ("Email", pa.string()),
        ("Phone", pa.large_string()),
        ("CreditLimit", pa.decimal128(10, 2)),
        ("BirthDate", pa.date32()),
        ("CreatedAt", pa.timestamp("us", tz="UTC")),
        ("Tags", pa.list_(pa.string())),
        ("Segment", pa.dictionary(pa.int32(), pa.string())),
    ]
)


def test_snake_case_rules_bind_to_camel_case_columns():
    rules = TableRules(
        table="customer",
        key_columns=["customer_id"],
        checks=[
            ColumnCheck(column="email", check="email"),
            ColumnCheck(column="phone", check="cn_mobile"),
            ColumnCheck(column="credit_limit", check="between", args={"min": "0.50", "max": 10}),
            ColumnCheck(column="segment", check="regex", args={"pattern": "^[A-Z]$"}),
        ],
    )
    bound = bind_rules(rules, SCHEMA)
    assert [(b.check, b.columns, b.reason) for b in bound] == [
        ("email", ("Email",), "email:Email"),
        ("cn_mobile", ("Phone",), "cn_mobile:Phone"),
        ("between", ("CreditLimit",), "between:CreditLimit"),
        ("regex", ("Segment",), "regex:Segment"),
        ("unique", ("CustomerId",), "unique:CustomerId"),
    ]
    assert bound[2].args == {"min": 0.5, "max": 10.0}
    assert bound[-1].from_key is True


def test_key_unique_merges_with_explicit_unique_and_compound_keys():
    rules = TableRules(
        table="t", key_columns=["CustomerId"], checks=[ColumnCheck(column="customer_id", check="unique")]
    )
    bound = bind_rules(rules, SCHEMA)
    assert [(b.reason, b.from_key) for b in bound] == [("unique:CustomerId", False)]
    compound = bind_rules(TableRules(table="t", key_columns=["customer_id", "email"]), SCHEMA)
    assert [(b.reason, b.columns) for b in compound] == [("unique:CustomerId+Email", ("CustomerId", "Email"))]


def test_missing_column_error_names_table_and_column():
    rules = TableRules(table="customer", checks=[ColumnCheck(column="resident_id", check="cn_resident_id")])
    with pytest.raises(ColumnNotFoundError) as err:
        bind_rules(rules, SCHEMA)
    exc = err.value
    assert (exc.table, exc.column, exc.check) == ("customer", "resident_id", "cn_resident_id")
    assert str(exc).startswith("table 'customer': column 'resident_id' (check 'cn_resident_id'")
    assert "CustomerId, Email, Phone" in str(exc)
    assert isinstance(exc, RulesError)
    with pytest.raises(ColumnNotFoundError) as err:
        bind_rules(TableRules(table="customer", key_columns=["id"]), SCHEMA)
    assert err.value.column == "id"


def test_ambiguous_column_is_an_error():
    schema = pa.schema([("customer_id", pa.int64()), ("CustomerId", pa.int64())])
    with pytest.raises(RulesError) as err:
        bind_rules(
            TableRules(table="t", checks=[ColumnCheck(column="customer_id", check="not_null")]), schema
        )
    assert "matches several data columns: customer_id, CustomerId" in str(err.value)


@pytest.mark.parametrize(
    ("column", "check", "args"),
    [
        ("birth_date", "regex", {"pattern": "x"}),
        ("credit_limit", "email", {}),
        ("email", "between", {"min": 1}),
        ("tags", "unique", {}),
        ("customer_id", "email", {}),
    ],
)
def test_check_unsuitable_for_type(column, check, args):
    rules = TableRules(table="t", checks=[ColumnCheck(column=column, check=check, args=args)])
    with pytest.raises(RulesError) as err:
        bind_rules(rules, SCHEMA)
    assert f"check {check!r} does not apply to column" in str(err.value)


def test_between_bounds_follow_column_type():
    rules = TableRules(
        table="t",
        checks=[
            ColumnCheck(
                column="birth_date", check="between", args={"min": "1900-01-01", "max": dt.date(2020, 1, 1)}
            ),
            ColumnCheck(
                column="created_at",
                check="between",
                args={"min": "2020-01-01T08:00:00+08:00", "max": dt.date(2030, 1, 1)},
            ),
            ColumnCheck(column="customer_id", check="between", args={"min": 1}),
        ],
    )
    b_date, b_ts, b_int = bind_rules(rules, SCHEMA)
    assert b_date.args == {"min": dt.date(1900, 1, 1), "max": dt.date(2020, 1, 1)}
    assert b_ts.args["min"] == dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    assert b_ts.args["max"] == dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    assert b_ts.args["max"].tzinfo is not None  # naive bound localised to the column zone
    assert b_int.args == {"min": 1.0, "max": None}

    bad = TableRules(table="t", checks=[ColumnCheck(column="birth_date", check="between", args={"min": 5})])
    with pytest.raises(RulesError, match="needs date bounds"):
        bind_rules(bad, SCHEMA)
    bad = TableRules(
        table="t", checks=[ColumnCheck(column="credit_limit", check="between", args={"max": "lots"})]
    )
    with pytest.raises(RulesError, match="needs numeric bounds"):
        bind_rules(bad, SCHEMA)


def test_reserved_reasons_column():
    schema = pa.schema([("_quarantine_reasons", pa.string())])
    with pytest.raises(RulesError, match="already has"):
        bind_rules(TableRules(table="t"), schema)
