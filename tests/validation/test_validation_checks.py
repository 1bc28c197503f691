"""Value predicates behind the custom GX expectations (no GX involved)."""

from __future__ import annotations

import datetime as dt

import pytest
from custody.validation.checks import is_cn_mobile, is_cn_resident_id, is_email, normalise_cn_mobile
from stdnum.cn import ric


def _stdnum_accepts(number: str) -> bool:
    try:
        return ric.is_valid(number)
    except Exception:  # stdnum raises KeyError for some province-only codes
        return False


# ------------------------------------------------------------------------ resident ID


def test_resident_id_valid_and_check_character(data):
    good = data.resident_id("110101", "19800101", "123")
    assert good == "110101198001011232"
    assert is_cn_resident_id(good) is True
    assert is_cn_resident_id(data.wrong_check(good)) is False


def test_resident_id_x_check_character_any_case_and_full_width(data):
    with_x = data.resident_id_with_x()
    assert with_x.endswith("X")
    assert is_cn_resident_id(with_x) is True
    assert is_cn_resident_id(with_x[:-1] + "x") is True  # lower-case x accepted (decision)
    full_width = with_x.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    assert is_cn_resident_id(full_width) is True  # NFKC
    assert is_cn_resident_id(f"  {with_x}\t") is True  # surrounding whitespace ignored


@pytest.mark.parametrize(
    ("area", "born"),
    [
        ("110103", "20150101"),  # 崇文区, abolished 2010: stdnum rejects for births after 2010
        ("320102", "19700101"),  # 玄武区 code assigned 1983: stdnum rejects earlier births
        ("990101", "19800101"),  # unknown code
    ],
)
def test_resident_id_address_code_is_not_checked(data, area, born):
    number = data.resident_id(area, born, "123")
    assert _stdnum_accepts(number) is False  # proves stdnum.validate would have rejected it
    assert is_cn_resident_id(number) is True


@pytest.mark.parametrize(
    "born",
    ["19800230", "19801301", "19800000", "18791231"],  # not a date / month 13 / day 0 / before 1880
)
def test_resident_id_bad_birth_date(data, born):
    assert is_cn_resident_id(data.resident_id("110101", born, "123")) is False


@pytest.mark.parametrize("born", ["18800101", "18991231", "19000101"])
def test_resident_id_birth_years_from_1880(data, born):
    # Decision (custody.identifiers.birth_date): cards issued from 1984 carry births in the 1880s
    # and 1890s; the floor is 1880-01-01 for classification and validation alike.
    assert is_cn_resident_id(data.resident_id("110101", born, "123")) is True


def test_resident_id_future_birth_date(data):
    number = data.resident_id("110101", "20300101", "123")
    assert is_cn_resident_id(number, today=dt.date(2026, 1, 1)) is False
    assert is_cn_resident_id(number, today=dt.date(2031, 1, 1)) is True


@pytest.mark.parametrize(
    "value",
    [
        "110101800101123",  # 15-digit first-generation number: rejected (decision)
        "11010119800101123",  # 17 characters
        "1101011980010112320",  # 19 characters
        "110101 1980010112321",  # separators do not rescue a wrong number
        "11010119800101123A",  # bad check character
        "X10101198001011232",
        "",
        None,
        3.5,
        True,
    ],
)
def test_resident_id_malformed(value):
    assert is_cn_resident_id(value) is False


def test_resident_id_group_separators_and_excel_text(data):
    # Decision (custody.identifiers): one normalisation for every use; spaces and dashes between
    # digit groups and Excel's ="..." wrapper are formatting, not part of the number.
    number = data.resident_id("110101", "19800101", "123")
    for written in (f"{number[:6]} {number[6:14]} {number[14:]}", f"{number[:6]}-{number[6:14]}-{number[14:]}",
                    f'="{number}"'):
        assert is_cn_resident_id(written) is True


def test_resident_id_as_integer(data):
    number = data.resident_id("110101", "19800101", "123")
    assert is_cn_resident_id(int(number)) is True


def test_faker_zh_cn_ids_all_pass(fake):
    ids = [fake.ssn() for _ in range(300)]
    assert sum(map(is_cn_resident_id, ids)) == 300
    # stdnum's full validate (with the address table) rejects a good share of the same numbers
    assert sum(map(_stdnum_accepts, ids)) < 250


# ----------------------------------------------------------------------------- mobile


@pytest.mark.parametrize(
    ("value", "national"),
    [
        ("13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086-138-0013-8000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),  # full-width digits
        ("＋８６　１３８－００１３－８０００", "13800138000"),  # full-width plus, space, dash
        ("19912345678", "19912345678"),
        ("138\u20140013\u20148000", "13800138000"),  # em dashes
        (13800138000, "13800138000"),  # stored as an integer
        ("8613800138000", "13800138000"),  # country code without + (decision: unambiguous)
        ("(138)00138000", "13800138000"),  # RFC 3966 visual separators
        ("138.0013.8000", "13800138000"),
    ],
)
def test_mobile_accepted_forms(value, national):
    assert normalise_cn_mobile(value) == national
    assert is_cn_mobile(value) is True


@pytest.mark.parametrize(
    "value",
    [
        "12800138000",  # second digit 2
        "23800138000",
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "861380013800",  # 86 + 10 digits
        "+85213800138000",  # Hong Kong prefix
        "010-12345678",  # Beijing landline
        "013800138000",  # trunk 0 before a mobile: not how a mobile number is written
        "138/0013/8000",  # a slash joins alternative numbers, it is no separator
        "1380013800O",  # letter O
        "",
        None,
        13.8,
    ],
)
def test_mobile_rejected(value):
    assert is_cn_mobile(value) is False


def test_mobile_strict_uses_phonenumbers_ranges():
    assert is_cn_mobile("14012345678") is True  # structurally fine
    assert is_cn_mobile("14012345678", strict=True) is False  # 140 is not an allocated mobile range
    assert is_cn_mobile("+86 138 0013 8000", strict=True) is True


def test_faker_zh_cn_phones_pass_structural_check(fake):
    phones = [fake.phone_number() for _ in range(300)]
    assert sum(map(is_cn_mobile, phones)) == 300


# ------------------------------------------------------------------------------ email


@pytest.mark.parametrize(
    "value", ["a@b.cn", "zhang.san+crm@mail.example.com.cn", "USER@QQ.COM", "张三@例子.中国", "li_si@163.com"]
)
def test_email_valid(value):
    assert is_email(value) is True


@pytest.mark.parametrize(
    "value",
    [
        "plainaddress",
        "a@b",
        "a..b@c.cn",
        "a@localhost",
        "a @b.cn",  # whitespace inside the address
        "a@@b.cn",
        "@b.cn",
        "a@",
        "",
        None,
        5,
    ],
)
def test_email_invalid(value):
    assert is_email(value) is False


@pytest.mark.parametrize("value", [" a@b.cn", "a@b.cn ", "ａ@ｂ.cn", '="a@b.cn"'])
def test_email_normalised_before_checking(value):
    # Decision (custody.identifiers.email_address): surrounding white space is not part of an
    # addr-spec (RFC 5322 section 3.2.3), full-width letters are NFKC-normalised.
    assert is_email(value) is True
