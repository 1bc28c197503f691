"""Unit tests per identifier module: what the agreement table does not show."""

from __future__ import annotations

import ast
import datetime
import logging
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from custody import identifiers
from custody.identifiers import (
    bank_card,
    birth_date,
    email_address,
    mobile,
    passport,
    phone,
    resident_id,
    travel_permit,
    uscc,
)
from custody.identifiers._text import as_text, clean, document_form, plain_text
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc

MODULES = [bank_card, birth_date, email_address, mobile, passport, phone, resident_id, travel_permit, uscc]
ODD_INPUTS = [None, True, False, 3.5, b"110101198001011232", object(), [], "", "   ", "\x00", "=\"\"", "ｘ" * 500]


def rid(area: str, born: str, seq: str = "123") -> str:
    body = f"{area}{born}{seq}"
    return body + ric.calc_check_digit(body + "0")


# ------------------------------------------------------------------ the package as a whole
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_rule_states_its_source_and_decides_four_things(module):
    assert isinstance(module.SOURCE, str) and module.SOURCE
    for name in ("normalise", "recognise", "is_valid", "canonical") if module is not birth_date else (
        "recognise", "is_valid", "canonical", "parse"
    ):
        fn = getattr(module, name)
        assert fn.__doc__ and fn.__doc__.strip(), f"{module.__name__}.{name} needs a docstring"
    assert "Decision" in module.__doc__ or "Decisions" in module.__doc__


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_rules_never_raise_or_log_on_odd_input(module, caplog):
    caplog.set_level(logging.DEBUG)
    for value in ODD_INPUTS:
        assert 0.0 <= module.recognise(value) <= 1.0
        assert module.is_valid(value) in (True, False)
        out = module.canonical(value) if value is not None else None
        assert out is None or isinstance(out, str)
    assert caplog.records == []


def test_identifiers_import_nothing_from_their_users():
    root = pathlib.Path(identifiers.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith(("custody.classification", "custody.validation", "custody.crypto")), (
                    path.name,
                    name,
                )
                assert not name.startswith("airflow"), path.name


def test_importing_the_rules_loads_no_library():
    code = (
        "import sys, custody.identifiers; "
        "print(sorted(m for m in ('stdnum', 'phonenumbers', 'email_validator') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ shared text preparation
def test_as_text_reads_strings_and_integers_only():
    assert as_text("x") == "x" and as_text(110) == "110" and as_text(np.int64(13800138000)) == "13800138000"
    for value in (True, np.bool_(True), 1.0, None, b"1", datetime.date(2020, 1, 1)):
        assert as_text(value) is None


def test_clean_nfkc_trim_and_excel_form():
    assert clean("  １２３\t") == "123"
    assert clean('="0123"') == "0123" and clean('=" 0123 "') == "0123"
    assert clean('="a"b"') == 'a"b'  # only a value wholly in the form is unwrapped
    assert clean('x="1"') == 'x="1"'
    assert document_form(" ab-12 34 ") == "AB1234" and document_form("  ") is None
    assert plain_text("  a \u3000 b ") == "a b" and plain_text(None) is None


# ------------------------------------------------------------------ resident ID
class TestResidentId:
    def test_region_quality_grades(self):
        assert resident_id.region_quality("110101", 1980) == 1.0
        assert resident_id.region_quality("110103", 2012) == 0.8  # Chongwen, merged 2010
        assert resident_id.region_quality("990101", 1980) == 0.6

    def test_today_bounds_the_birth_date(self):
        number = rid("110101", "20300101")
        assert not resident_id.is_valid(number, today=datetime.date(2026, 1, 1))
        assert resident_id.is_valid(number, today=datetime.date(2031, 1, 1))
        assert resident_id.recognise(number, today=datetime.date(2031, 1, 1)) == 1.0

    def test_first_generation_unknown_region_is_weak(self):
        assert resident_id.recognise("990101800101123") == 0.3
        assert not resident_id.is_valid("990101800101123")

    def test_canonical_keeps_15_digits(self):
        assert resident_id.canonical(" 110101-800101-123 ") == "110101800101123"

    def test_letters_elsewhere_than_the_check_character(self):
        number = rid("110101", "19800101")
        assert resident_id.recognise("X" + number[1:]) == 0.0 and not resident_id.is_valid("X" + number[1:])


# ------------------------------------------------------------------ USCC
def test_uscc_alphabet_and_positions():
    assert uscc.ALPHABET == "0123456789ABCDEFGHJKLMNPQRTUWXY" and len(uscc.ALPHABET) == 31
    code = "91110000600037341L"
    assert uscc.is_valid(code) and uscc.normalise(" 9111 0000-6000 3734 1l ") == code
    shifted = code[:2] + "A" + code[3:]  # a letter in the division code
    assert not uscc.is_valid(shifted[:17] + stdnum_uscc.calc_check_digit(shifted))


# ------------------------------------------------------------------ mobile and phone
class TestPhones:
    def test_national_form(self):
        assert mobile.national("+86 (138) 0013-8000") == "13800138000"
        assert mobile.national("0086 138 0013 8000") == "13800138000"
        assert mobile.national("+8613800138000x12") is None

    def test_mobile_canonical_is_plus_86_whatever_the_region(self):
        assert mobile.canonical("13800138000", region="US") == "+8613800138000"
        assert phone.canonical("13800138000", region="CN") == "+8613800138000"

    def test_phone_recognise_grades(self):
        assert phone.recognise("+17804289482") == 1.0
        assert phone.recognise("01012345678") == 1.0
        assert phone.recognise("2062690743x9150") > 0  # a US number read with its extension
        assert phone.recognise("12") == 0.0

    def test_phone_validity_depends_on_the_region(self):
        assert phone.is_valid("010 6552 9988") and not phone.is_valid("010 6552 9988", region="US")
        assert phone.is_valid("+1 780 428 9482", region="CN")

    def test_phone_canonical_fallbacks(self):
        assert phone.canonical("+999 12") == "+99912"  # not possible anywhere: digits, + kept
        assert phone.canonical("n/a") == "n/a" and phone.canonical("n/a") != phone.canonical("none")
        assert phone.canonical(" ") is None


# ------------------------------------------------------------------ bank card
def test_bank_card_longest_digit_run():
    card = "4111111111111111"
    assert bank_card.recognise(f"{card}(工行)") == 1.0
    assert not bank_card.is_valid(f"{card}(工行)")  # the whole value must be the number
    assert bank_card.recognise("6222-abcd-1234-5678") == 0.0


# ------------------------------------------------------------------ e-mail
def test_email_canonical_and_types():
    assert email_address.canonical("Li.Si@QQ.COM") == "li.si@qq.com"
    assert email_address.canonical("not an address") == "notanaddress"
    assert not email_address.is_valid(5) and email_address.normalise(5) is None


# ------------------------------------------------------------------ documents
def test_passport_and_permit_shapes():
    assert passport.recognise("DE1234567") == 1.0 and passport.is_valid("DE1234567")
    assert passport.recognise("123456789012345678") == 0.0  # 18 characters: not a passport shape
    assert travel_permit.is_valid("M1234567801") and travel_permit.recognise("T12345678") == 1.0
    assert not travel_permit.is_valid("CI12345678")


# ------------------------------------------------------------------ birth date
class TestBirthDate:
    @pytest.mark.parametrize(
        "text", ["1990-01-02", "1990/1/2", "1990.01.02", "1990年1月2日", "19900102", "1990-01-02 08:00:00"]
    )
    def test_written_forms(self, text):
        assert birth_date.parse(text) == datetime.date(1990, 1, 2)
        assert birth_date.canonical(text) == "1990-01-02" and birth_date.recognise(text) == 1.0

    def test_range(self):
        assert birth_date.EARLIEST == datetime.date(1880, 1, 1)
        assert not birth_date.is_valid("1879-12-31") and birth_date.is_valid("1880-01-01")
        assert not birth_date.is_valid("2999-01-01")
        assert birth_date.is_valid("2030-01-01", today=datetime.date(2031, 1, 1))
        assert birth_date.parse("1990-02-30") is None and birth_date.parse(datetime.date(2000, 1, 1))
        assert birth_date.parse(19900102) == datetime.date(1990, 1, 2)

