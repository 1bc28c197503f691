"""The vectorised column path of each identifier rule (``is_valid_column``) against the per-value
rule, whose libraries (python-stdnum, phonenumbers, email-validator) are the reference oracle.

Property tests (hypothesis) per identifier draw whole columns mixing valid values, near-valid ones
(one character changed, added or dropped), formatted spellings (separators, full-width forms,
padding, Excel's ``="…"``), random junk and arbitrary Unicode, and require the column result to
equal the oracle value by value. Plus unit tests of the check-character arithmetic and of the
routing (which values the column path hands to the library).
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from custody.identifiers import _columns, bank_card, email_address, mobile, resident_id, uscc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc

FULL_WIDTH = str.maketrans(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-@. ",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"
    "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ＋－＠．\u3000",
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _agree(module, values, **kwargs):
    """Column path == per-value oracle, for a list, an Arrow array and a pandas Series."""
    want = np.array([module.is_valid(v, **kwargs) for v in values], dtype=bool)
    got = module.is_valid_column(values, **kwargs)
    assert got.dtype == bool and got.shape == want.shape
    mismatch = [(repr(v), bool(g), bool(w)) for v, g, w in zip(values, got, want, strict=True) if g != w]
    assert mismatch == []
    arr = _columns.as_arrow(values)
    if arr is not None:
        assert (module.is_valid_column(arr, **kwargs) == want).all()
        assert (module.is_valid_column(pd.Series(arr.to_pylist(), dtype=object), **kwargs) == want).all()
    return want


# ----------------------------------------------------------------------------- strategies


def _mutations(draw, value: str) -> str:
    """One of: unchanged, a character replaced, inserted or dropped."""
    kind = draw(st.sampled_from(["same", "replace", "insert", "drop"]))
    if kind == "same" or not value:
        return value
    i = draw(st.integers(0, len(value) - 1))
    ch = draw(st.sampled_from("0123456789X-x @.Ａ１"))
    if kind == "replace":
        return value[:i] + ch + value[i + 1 :]
    if kind == "insert":
        return value[:i] + ch + value[i:]
    return value[:i] + value[i + 1 :]


def _spelling(draw, value: str, seps: str = " -") -> str:
    """A formatted spelling of ``value``: groups separated, full-width, padded or Excel-wrapped."""
    form = draw(st.sampled_from(["plain", "groups", "full", "pad", "excel", "lower", "unicode_sep"]))
    if form == "groups":
        sep = draw(st.sampled_from(list(seps)))
        return sep.join(value[i : i + 4] for i in range(0, len(value), 4))
    if form == "full":
        return value.translate(FULL_WIDTH)
    if form == "pad":
        return draw(st.sampled_from([" ", "\t", "\x1c", "\u3000", "\xa0", "\n"])) + value + " "
    if form == "excel":
        return f'="{value}"'
    if form == "lower":
        return value.lower()
    if form == "unicode_sep":
        return value[:6] + draw(st.sampled_from(["\u2013", "\u2212", "\u2010", "\u00a0"])) + value[6:]
    return value


JUNK = st.one_of(
    st.text(max_size=25),
    st.text(alphabet="0123456789Xx -+().@", max_size=24),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.from_regex(r"[0-9]{14,20}", fullmatch=True),
)


@st.composite
def resident_ids(draw):
    born = draw(st.dates(datetime.date(1870, 1, 1), datetime.date(2035, 12, 31)))
    area = draw(st.sampled_from(["110101", "110103", "440305", "990101", "000000"]))
    body = f"{area}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    value = body + ric.calc_check_digit(body + "0")
    if draw(st.booleans()):
        value = value[:6] + f"{draw(st.integers(0, 9999)):04d}" + value[10:]  # impossible dates too
    return _spelling(draw, _mutations(draw, value))


@st.composite
def usccs(draw):
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    head = draw(st.text(alphabet=alphabet, min_size=2, max_size=2))
    area = draw(st.from_regex(r"[0-9]{6}", fullmatch=True))
    tail = draw(st.text(alphabet=alphabet, min_size=9, max_size=9))
    body = head + area + tail
    value = body + stdnum_uscc.calc_check_digit(body)
    return _spelling(draw, _mutations(draw, value))


@st.composite
def cards(draw):
    body = draw(st.from_regex(r"[1-9][0-9]{12,18}", fullmatch=True))
    value = body + luhn.calc_check_digit(body)
    return _spelling(draw, _mutations(draw, value))


@st.composite
def mobiles(draw):
    number = "1" + draw(st.from_regex(r"[0-9]{10}", fullmatch=True))
    prefix = draw(st.sampled_from(["", "+86", "0086", "86", "+86 ", "0", "+852", "00"]))
    value = prefix + number
    return _spelling(draw, _mutations(draw, value), seps=" -.()")


@st.composite
def emails(draw):
    local = draw(st.from_regex(r"[A-Za-z0-9._%+=\-!#~]{1,20}", fullmatch=True))
    labels = draw(st.lists(st.from_regex(r"[A-Za-z0-9\-]{1,12}", fullmatch=True), min_size=1, max_size=3))
    tld = draw(st.sampled_from(["com", "cn", "CN", "local", "test", "localhost", "x1", "onion", "xn--fiqs8s", "中国"]))
    value = f"{local}@{'.'.join(labels)}.{tld}"
    form = draw(st.sampled_from(["plain", "full_at", "full", "quoted", "space", "excel", "pad", "idn", "two_at"]))
    if form == "full_at":
        value = value.replace("@", "＠")
    elif form == "full":
        value = value.translate(FULL_WIDTH)
    elif form == "quoted":
        value = f'"{local} x"@{labels[0]}.com'
    elif form == "space":
        value = value.replace("@", " @")
    elif form == "excel":
        value = f'="{value}"'
    elif form == "pad":
        value = f"  {value}\t"
    elif form == "idn":
        value = f"{local}@例子.中国"
    elif form == "two_at":
        value = value.replace("@", "@@")
    return _mutations(draw, value)


def _column(strategy):
    return st.lists(st.one_of(strategy, strategy, JUNK, st.none()), min_size=1, max_size=40)


# ----------------------------------------------------------------------- property tests


@SETTINGS
@given(_column(resident_ids()))
def test_resident_id_column_agrees_with_oracle(values):
    _agree(resident_id, values)


@SETTINGS
@given(_column(usccs()))
def test_uscc_column_agrees_with_oracle(values):
    _agree(uscc, values)


@SETTINGS
@given(_column(cards()))
def test_bank_card_column_agrees_with_oracle(values):
    _agree(bank_card, values)


@SETTINGS
@given(_column(mobiles()), st.booleans())
def test_mobile_column_agrees_with_oracle(values, strict):
    _agree(mobile, values, strict=strict)


@SETTINGS
@given(_column(emails()))
def test_email_column_agrees_with_oracle(values):
    _agree(email_address, values)


@SETTINGS
@given(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.none()), min_size=1, max_size=30))
def test_integer_columns_agree_with_oracle(values):
    """Identifiers stored as integers (int64, nulls) read as their digits on both paths."""
    arr = pa.array(values, type=pa.int64())
    for module in (resident_id, bank_card, mobile):
        want = np.array([v is not None and module.is_valid(v) for v in values], dtype=bool)
        assert (module.is_valid_column(arr) == want).all()


# ------------------------------------------------------------------------------ unit tests


def test_generated_columns_hold_valid_values():
    """The strategies reach the valid side: a column of canonical valid values is all True."""
    body = "11010119800101123"
    rid = body + ric.calc_check_digit(body + "0")
    card = "622202123456789012" + luhn.calc_check_digit("622202123456789012")
    assert resident_id.is_valid_column([rid, rid.translate(FULL_WIDTH)]).tolist() == [True, True]
    assert bank_card.is_valid_column([card, f"{card[:4]} {card[4:]}"]).tolist() == [True, True]
    assert uscc.is_valid_column(["91110000600037341L", "91110000600037341M"]).tolist() == [True, False]
    assert mobile.is_valid_column(["13800138000", "0086 138 0013 8000", "12800138000"]).tolist() == [True, True, False]


def test_check_arithmetic_matches_stdnum():
    rng = np.random.default_rng(7)
    bodies = ["".join(map(str, rng.integers(0, 10, 17))) for _ in range(300)]
    m = _columns.digit_matrix(pa.array([b + "0" for b in bodies]), np.arange(300), 18)
    assert [chr(c) for c in _columns.mod11_2_check(m)] == [ric.calc_check_digit(b + "0") for b in bodies]
    numbers = ["".join(map(str, rng.integers(0, 10, int(rng.integers(12, 20))))) for _ in range(300)]
    m = _columns.digit_matrix(pa.array(numbers), np.arange(300), 19)
    assert _columns.luhn_ok(m).tolist() == [luhn.is_valid(n) for n in numbers]


def test_real_dates_match_the_calendar():
    y, m, d = np.meshgrid(np.array([1900, 2000, 2023, 2024]), np.arange(0, 14), np.arange(0, 33), indexing="ij")
    y, m, d = y.ravel(), m.ravel(), d.ravel()

    def exists(a, b, c):
        try:
            datetime.date(int(a), int(b), int(c))
            return True
        except ValueError:
            return False

    assert _columns.real_dates(y, m, d).tolist() == [exists(*t) for t in zip(y, m, d, strict=True)]


def test_email_judged_as_stored():
    """A full-width at-sign is invalid as stored (the library rejects it); classification still
    recognises the address after NFKC. Full-width letters in the local part are valid (RFC 6531)."""
    values = ["a＠b.cn", "ａ＠ｂ.ｃｎ", "ｚｈａｎｇ@example.com", "zhang@example.com"]
    assert email_address.is_valid_column(values).tolist() == [False, False, True, True]
    assert [email_address.recognise(v) for v in values] == [1.0, 1.0, 1.0, 1.0]


def test_undecided_values_go_to_the_library(monkeypatch):
    """ASCII plain addresses never reach the library; unusual ones (IDN, special-use names,
    Punycode, quoted) do, and only those."""
    asked: list[str] = []
    real = email_address.is_valid

    def spy(value):
        asked.append(value)
        return real(value)

    monkeypatch.setattr(email_address, "is_valid", spy)
    values = ["a.b@example.com", "x@y.cn", "nobody", "张三@例子.中国", "a@b.local", "a@xn--fiqs8s.cn", '"a b"@c.cn']
    result = email_address.is_valid_column(values)
    assert asked == ["张三@例子.中国", "a@b.local", "a@xn--fiqs8s.cn", '"a b"@c.cn']
    assert result.tolist() == [True, True, False, True, False, real("a@xn--fiqs8s.cn"), False]


def test_unreadable_types_are_invalid():
    dates = pa.array([datetime.date(2020, 1, 1), None])
    assert resident_id.is_valid_column(dates).tolist() == [False, False]
    assert email_address.is_valid_column(pa.array([1, 2])).tolist() == [False, False]
    # Mixed Python objects Arrow cannot type: decided value by value by the rule itself.
    assert mobile.is_valid_column(["13800138000", 13800138000, 1.5, b"x"]).tolist() == [True, True, False, False]


def test_arrow_backed_pandas_columns_of_several_chunks():
    """What GX hands the expectations: a pandas Series backed by a multi-chunk Arrow array (a
    concatenated table), with nulls filtered out (index with gaps)."""
    body = "11010119800101123"
    rid = body + ric.calc_check_digit(body + "0")
    chunked = pa.chunked_array([[rid, None, "x"], [rid[:-1] + "0", rid], [None, "13800138000"]])
    series = pa.table({"v": chunked}).to_pandas()["v"]
    series = series[series.notnull()]
    assert resident_id.is_valid_column(series).tolist() == [True, False, False, True, False]
    assert mobile.is_valid_column(series).tolist() == [False, False, False, False, True]
    assert resident_id.is_valid_column(chunked).tolist() == [True, False, False, False, True, False, False]


@pytest.mark.parametrize("module", [resident_id, uscc, bank_card, mobile, email_address])
def test_empty_and_all_null_columns(module):
    assert module.is_valid_column([]).tolist() == []
    assert module.is_valid_column(pa.array([None, None], type=pa.string())).tolist() == [False, False]


def _rid(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


def test_values_stored_canonically_skip_the_preparation(monkeypatch):
    """Resident IDs stored as 18 ASCII characters and mobiles as 11 bare digits are read as they
    are; only the other spellings go through the shared preparation, and every result still
    equals the oracle's."""
    prepared: list[list] = []
    real = _columns.prepare

    def spy(values, *args, **kwargs):
        prepared.append(values.to_pylist())
        return real(values, *args, **kwargs)

    monkeypatch.setattr(_columns, "prepare", spy)
    rid = _rid("11010119800101123")
    lower_x = next(_rid(f"110101198001011{i:02d}") for i in range(100) if _rid(f"110101198001011{i:02d}")[-1] == "X")
    wrong = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    values = [rid, lower_x.lower(), wrong, None, f" {rid}", rid.translate(FULL_WIDTH), "110101 19800101 1230", "x" * 18]
    want = [resident_id.is_valid(v) for v in values]
    assert resident_id.is_valid_column(pa.array(values)).tolist() == want
    assert want[:3] == [True, True, False]
    # 18 bytes but not 17 digits and a check character: the general path decides ("x" * 18).
    assert prepared == [[f" {rid}", rid.translate(FULL_WIDTH), "110101 19800101 1230", "x" * 18]]

    prepared.clear()
    values = ["13800138000", "12800138000", "+86 138 0013 8000", "138-0013-8000", None, "1380013800"]
    for strict in (False, True):
        want = [mobile.is_valid(v, strict=strict) for v in values]
        assert mobile.is_valid_column(pa.array(values), strict=strict).tolist() == want
        assert want[:3] == [True, False, True]
    assert prepared == [["12800138000", "+86 138 0013 8000", "138-0013-8000", "1380013800"]] * 2

    prepared.clear()
    assert resident_id.is_valid_column(pa.array([rid, rid])).tolist() == [True, True]
    assert prepared == []  # every value canonical: no preparation at all


@pytest.mark.parametrize("large", [False, True])
def test_fixed_width_reads_bytes_of_sliced_arrays(large):
    """Rows of exactly ``width`` UTF-8 bytes (nulls never), their bytes gathered, for a slice of a
    larger array (non-zero offset) and for 64-bit offsets."""
    arr = pa.array(["zz", "abc", None, "xyz", "中", "ab", "def"], type=pa.large_string() if large else pa.string())
    rows, matrix = _columns.fixed_width(arr.slice(1, 5), 3)
    assert rows.tolist() == [0, 2, 3]  # "abc", "xyz", "中" (three bytes, none of them ASCII)
    assert [bytes(r).decode("utf-8") for r in matrix] == ["abc", "xyz", "中"]
    assert _columns.is_digit(matrix).any() is np.False_
    empty_rows, empty = _columns.fixed_width(pa.array([None, "a"], type=pa.string()), 5)
    assert empty_rows.tolist() == [] and empty.shape == (0, 5)


def test_excel_unwrapping_without_the_prefix_changes_nothing():
    """The ``="…"`` regular expression runs only when some value starts with ``="``; either way
    the values read as the per-value rule reads them."""
    rid = _rid("11010119800101123")
    plain = [f" {rid} ", f"{rid}\"", f"={rid}"]
    wrapped = [*plain, f'="{rid}"']
    for values in (plain, wrapped):
        assert resident_id.is_valid_column(values).tolist() == [resident_id.is_valid(v) for v in values]
    assert [resident_id.is_valid(v) for v in wrapped] == [True, False, False, True]


# Characters that make a value look canonical by length without being so: Unicode digits other
# than ASCII (Python's ``str.isdigit`` accepts them), full-width digits, the lower-case check
# character, separators, Excel's wrapper, a three-byte Han character.
_NEAR_CANONICAL = "0123456789Xx \t-=\"０１२३٣中+"


@SETTINGS
@given(st.lists(st.one_of(
    st.text(alphabet=_NEAR_CANONICAL, min_size=16, max_size=19),
    st.builds(lambda body, tail: body + tail, st.from_regex(r"[0-9]{17}", fullmatch=True),
              st.sampled_from(["X", "x", "0", "9", "२", "Ｘ"])),
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
    st.text(alphabet=_NEAR_CANONICAL, min_size=10, max_size=12),
    st.none()), min_size=1, max_size=40))
def test_near_canonical_values_agree_with_oracle(values):
    """Values of the canonical byte lengths (18 and 11) whose characters are not all canonical
    are left to the full path; the column result equals the per-value rule either way."""
    _agree(resident_id, values)
    _agree(mobile, values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(),
                          st.text(alphabet=st.sampled_from(" -.()\t\x1c\x1fab1２３é中\u3000+"), max_size=12))),
       st.integers(0, 3), st.booleans())
def test_remove_ascii_equals_the_regular_expression(values, start, large):
    """The byte-level removal equals RE2's replacement of the same characters, on sliced arrays,
    nulls and non-ASCII text included (a byte below 0x80 is never inside a longer character)."""
    arr = pa.array(values, type=pa.large_string() if large else pa.string()).slice(min(start, len(values)))
    got = _columns.remove_ascii(arr, _columns.ASCII_PHONE_SEPARATORS)
    want = pc.replace_substring_regex(arr, "[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\-.()]", "")
    assert got.type == arr.type
    assert got.to_pylist() == want.to_pylist()


def test_remove_ascii_refuses_non_ascii_characters():
    with pytest.raises(ValueError):
        _columns.remove_ascii(pa.array(["a"]), "\u3000")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=5, max_size=5), min_size=1, max_size=40))
def test_all_digits_equals_the_elementwise_test(rows):
    matrix = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), 5)
    assert _columns.all_digits(matrix).tolist() == _columns.is_digit(matrix).all(axis=1).tolist()
