"""Checks derived from the inventory, the bank-card and USCC predicates, and their GX expectations."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest
from custody.validation import (
    ColumnCheck,
    ColumnNotFoundError,
    KeyTracker,
    TableRules,
    bind_rules,
    derive_rules,
    derived_checks,
    validate_chunk,
)
from custody.validation.checks import is_cn_bank_card, is_uscc
from stdnum import luhn
from stdnum.cn import uscc as stdnum_uscc

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def card(rng: random.Random, prefix: str = "62", length: int = 19, valid: bool = True) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    check = luhn.calc_check_digit(body)
    return body + (check if valid else str((int(check) + 1) % 10))


def uscc(rng: random.Random) -> str:
    body = "91110108" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + stdnum_uscc.calc_check_digit(body)


# --------------------------------------------------------------------------- predicates
def test_bank_card_valid_invalid_and_tricky():
    rng = random.Random(1)
    union_pay = card(rng, "62", 19)
    assert len(union_pay) == 19 and is_cn_bank_card(union_pay)
    assert is_cn_bank_card(card(rng, "4", 16)) and is_cn_bank_card(card(rng, "5", 16))
    assert not is_cn_bank_card(card(rng, "62", 19, valid=False))  # Luhn failure: a quality finding
    grouped = f"{union_pay[:4]} {union_pay[4:8]} {union_pay[8:12]} {union_pay[12:16]} {union_pay[16:]}"
    assert is_cn_bank_card(grouped) and is_cn_bank_card(union_pay.replace("6", "６"))  # spaces, full width
    assert is_cn_bank_card(int(union_pay))
    assert not is_cn_bank_card(card(rng, "62", 15))  # too short for a card
    assert not is_cn_bank_card(card(rng, "62", 20))  # too long
    assert (
        not is_cn_bank_card("6222-abcd-1234-5678") and not is_cn_bank_card(None) and not is_cn_bank_card(True)
    )


def test_uscc_valid_invalid_and_tricky():
    rng = random.Random(2)
    code = uscc(rng)
    assert is_uscc(code) and is_uscc(code.lower()) and is_uscc(f" {code} ")
    wrong = code[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(code[17]) + 1) % 31]
    assert not is_uscc(wrong)
    assert not is_uscc(code[:10] + "O" + code[11:])  # O, I, S, V, Z never occur
    assert is_uscc(code[:9] + " " + code[9:])  # separators are formatting (custody.identifiers.uscc)
    assert not is_uscc(code[:17]) and not is_uscc(12345)


# --------------------------------------------------------------------------- derive_rules
def _col(column, pi_type, *, detector=None, confidence=0.95, validated=1.0, override=None, level="internal"):
    ev = {"detector": detector, "validated_rate": validated, "reason": "values", "override": override}
    return {"column": column, "pi_type": pi_type, "level": level, "confidence": confidence, "evidence": ev}


INVENTORY = [
    _col("contact_id", None),
    _col("resident_id", "resident_id", detector="cn_resident_id", level="sensitive"),
    _col("mobile", "mobile_phone", detector="cn_mobile"),
    _col("email", "email", detector="email"),
    _col("card_no", "bank_account", detector="bank_card", level="sensitive"),
    _col("uscc", "uscc", detector="cn_uscc", level="public"),
    _col("name", "person_name", detector="person_name"),
]


def test_derive_merges_config_first_without_duplicates():
    cfg = [
        {"column": "contact_id", "check": "not_null"},
        {"column": "Email", "check": "email"},  # same column by key: the derived one is dropped
        {"column": "resident_id", "check": "not_null"},
    ]
    rules = derive_rules(cfg, INVENTORY, ["contact_id"], 0.05, table="contacts")
    got = [(c.column, c.check, c.origin) for c in rules.checks]
    assert got == [
        ("contact_id", "not_null", "config"),
        ("Email", "email", "config"),
        ("resident_id", "not_null", "config"),
        ("resident_id", "cn_resident_id", "inventory"),
        ("mobile", "cn_mobile", "inventory"),
        ("card_no", "cn_bank_card", "inventory"),
        ("uscc", "uscc", "inventory"),
    ]
    assert rules.key_columns == ["contact_id"] and rules.max_failing_share == 0.05
    assert len({c.identity() for c in rules.checks}) == len(rules.checks)
    # Derived checks only: the same without config.
    assert [c.check for c in derive_rules([], INVENTORY, None, 0.1, table="contacts").checks] == [
        "cn_resident_id",
        "cn_mobile",
        "email",
        "cn_bank_card",
        "uscc",
    ]


def test_untrustworthy_classifications_get_no_check():
    cols = [
        _col("account_no", "bank_account", detector="bank_card", validated=0.2),  # account numbers, not cards
        _col("iban", "bank_account", detector="iban"),  # not a card number
        _col(
            "id_empty", "resident_id", detector=None, confidence=0.3, validated=None
        ),  # header only, no values
        _col("mob", "mobile_phone", detector="cn_mobile", confidence=0.4),
        _col(
            "ov",
            "resident_id",
            detector=None,
            confidence=1.0,
            validated=None,
            override={"who": "dpo", "why": "x"},
        ),
    ]
    assert [(c.column, c.check) for c in derived_checks(cols)] == [("ov", "cn_resident_id")]


def test_catalog_inventory_rows_are_accepted_and_filtered_by_table():
    rows = [
        {
            "table_name": "contacts",
            "column_name": "mobile",
            "pi_type": "mobile_phone",
            "confidence": 0.9,
            "evidence": json.dumps({"detector": "cn_mobile", "validated_rate": 1.0}),
        },
        {
            "table_name": "bank_accounts",
            "column_name": "account_number",
            "pi_type": "bank_account",
            "confidence": 0.9,
            "evidence": json.dumps({"detector": "bank_card", "validated_rate": 1.0}),
        },
    ]
    rules = derive_rules([], rows, [], 0.05, table="bank_accounts")
    assert [(c.column, c.check) for c in rules.checks] == [("account_number", "cn_bank_card")]


def test_inventory_checks_skip_vanished_or_unsuitable_columns_config_checks_do_not():
    schema = pa.schema([("contact_id", pa.int64()), ("uscc", pa.int64()), ("email", pa.string())])
    rules = TableRules(
        table="contacts",
        checks=[
            ColumnCheck(column="mobile", check="cn_mobile", origin="inventory"),  # vanished since
            ColumnCheck(column="uscc", check="uscc", origin="inventory"),  # integer column: not applicable
            ColumnCheck(column="email", check="email", origin="inventory"),
        ],
    )
    assert [(b.check, b.columns, b.origin) for b in bind_rules(rules, schema)] == [
        ("email", ("email",), "inventory")
    ]
    with pytest.raises(ColumnNotFoundError):
        bind_rules(
            rules.model_copy(update={"checks": [ColumnCheck(column="mobile", check="cn_mobile")]}), schema
        )


def test_derived_checks_run_through_gx_and_quarantine_with_reasons():
    rng = random.Random(3)
    cards = [card(rng) for _ in range(8)] + [card(rng, valid=False), None]
    codes = [uscc(rng) for _ in range(9)] + ["91110108MA00000000"]
    table = pa.table({"account_id": pa.array(range(10), pa.int64()), "card_no": cards, "uscc": codes})
    inventory = [
        _col("card_no", "bank_account", detector="bank_card"),
        _col("uscc", "uscc", detector="cn_uscc"),
    ]
    rules = derive_rules(
        [{"column": "account_id", "check": "not_null"}], inventory, ["account_id"], 0.5, table="t"
    )
    out = validate_chunk(table, rules, tracker=KeyTracker("t"))
    assert out.rows_quarantined == 2
    reasons = sorted(r for rs in out.quarantine.column("_quarantine_reasons").to_pylist() for r in rs)
    assert reasons == ["cn_bank_card:card_no", "uscc:uscc"]
    by_check = {r.check: r for r in out.results}
    assert by_check["cn_bank_card"].expectation == "expect_column_values_to_be_custody_cn_bank_card"
    assert by_check["cn_bank_card"].missing == 1 and by_check["cn_bank_card"].origin == "inventory"
    assert by_check["uscc"].expectation == "expect_column_values_to_be_custody_uscc"
    assert by_check["not_null"].origin == "config"
