"""One table of tricky identifier values, the decision each use must reach, and the three users
held to it: the classifier's detector path, the validation predicate behind the GX expectation,
and the pseudonym normalisation. They must agree with the table and with each other.

Columns: family, value, PI (True/False, or the exact quality the classifier must give), valid as a
current identifier, canonical form for pseudonyms. Every identifier here is generated or a
published example; none is real.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from custody.classification.detectors import default_registry
from custody.classification.scoring import value_qualities
from custody.crypto.pseudonym import normalize
from custody.identifiers import (
    bank_card,
    email_address,
    mobile,
    passport,
    phone,
    resident_id,
    travel_permit,
    uscc,
)
from custody.validation import checks
from stdnum import luhn
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc

FULL_WIDTH = str.maketrans("0123456789X+-", "０１２３４５６７８９Ｘ＋－")


def rid(area: str, born: str, seq: str = "123") -> str:
    body = f"{area}{born}{seq}"
    return body + ric.calc_check_digit(body + "0")


def rid_with_x() -> str:
    return next(n for s in range(1000) if (n := rid("110101", "19800101", f"{s:03d}")).endswith("X"))


def luhn_complete(body: str) -> str:
    return body + luhn.calc_check_digit(body)


def uscc_complete(body: str) -> str:
    return body + stdnum_uscc.calc_check_digit(body)


R = rid("110101", "19800101")  # 110101198001011232
RX = rid_with_x()
OLD = "110101800101123"  # first-generation: 1980-01-01, Beijing Dongcheng
U = "91110000600037341L"  # python-stdnum's documented example
UY = uscc_complete("Y1110000MA01C4QX0")  # registration authority "Y" (other)
CARD19 = luhn_complete("622202123456789012")
CARD16 = "4111111111111111"  # the well-known test PAN
MAESTRO12 = luhn_complete("50180000000")
CARD20 = luhn_complete("6222021234567890123")
BAD_CARD = CARD19[:-1] + str((int(CARD19[-1]) + 1) % 10)


class Family:
    """An identifier family: its rule module, detector, PI type, validation predicate and check."""

    def __init__(self, module, detector: str, pi_type: str, predicate: str | None, check: str | None):
        self.module, self.detector, self.pi_type = module, detector, pi_type
        self.predicate, self.check = predicate, check


FAMILIES = {
    "resident_id": Family(resident_id, "cn_resident_id", "resident_id", "is_cn_resident_id", "cn_resident_id"),
    "uscc": Family(uscc, "cn_uscc", "uscc", "is_uscc", "uscc"),
    "mobile": Family(mobile, "cn_mobile", "mobile_phone", "is_cn_mobile", "cn_mobile"),
    "bank_card": Family(bank_card, "bank_card", "bank_account", "is_cn_bank_card", "cn_bank_card"),
    "email": Family(email_address, "email", "email", "is_email", "email"),
    "phone": Family(phone, "phone_number", "phone", None, None),
    "passport": Family(passport, "passport", "passport", None, None),
    "travel_permit": Family(travel_permit, "travel_permit", "travel_permit", None, None),
}

# (family, value, PI: bool or exact quality, valid, canonical, what the row is about)
TABLE = [
    # --- resident ID (GB 11643)
    ("resident_id", R, 1.0, True, R, "valid, address code known for the birth year"),
    ("resident_id", R[:-1] + "0", 0.0, False, R[:-1] + "0", "check character wrong"),
    ("resident_id", OLD, 0.85, False, OLD, "first-generation 15 digits: PI, not current"),
    ("resident_id", "110101801301123", 0.0, False, "110101801301123", "15 digits, month 13"),
    ("resident_id", R.translate(FULL_WIDTH), 1.0, True, R, "full-width digits"),
    ("resident_id", f"{R[:6]} {R[6:14]} {R[14:]}", 1.0, True, R, "spaces between groups"),
    ("resident_id", f"{R[:6]}\u2013{R[6:14]}\u2013{R[14:]}", 1.0, True, R, "en dashes between groups"),
    ("resident_id", RX.lower(), 1.0, True, RX, "lower-case x check character"),
    ("resident_id", RX.translate(FULL_WIDTH), 1.0, True, RX, "full-width X"),
    ("resident_id", f"  {R}\t", 1.0, True, R, "leading and trailing white space"),
    ("resident_id", f'="{R}"', 1.0, True, R, "Excel text-forcing form"),
    ("resident_id", R[:17], 0.0, False, R[:17], "too short (17)"),
    ("resident_id", R + "0", 0.0, False, R + "0", "too long (19)"),
    ("resident_id", rid("110103", "20120301"), 0.8, True, rid("110103", "20120301"), "abolished district"),
    ("resident_id", rid("990101", "19800301"), 0.6, True, rid("990101", "19800301"), "unknown province"),
    ("resident_id", rid("110101", "20990101"), 0.0, False, rid("110101", "20990101"), "future birth date"),
    ("resident_id", rid("110101", "19800230"), 0.0, False, rid("110101", "19800230"), "no such date"),
    ("resident_id", rid("110101", "18791231"), 0.0, False, rid("110101", "18791231"), "born 1879"),
    ("resident_id", rid("110101", "18800101"), True, True, rid("110101", "18800101"), "born 1880"),
    ("resident_id", rid("110101", "18991231"), True, True, rid("110101", "18991231"), "born 1899"),
    ("resident_id", rid("110101", "19000101"), True, True, rid("110101", "19000101"), "born 1900"),
    ("resident_id", int(R), 1.0, True, R, "stored as an integer"),
    # --- unified social credit code (GB 32100)
    ("uscc", U, 1.0, True, U, "valid"),
    ("uscc", U.lower(), 1.0, True, U, "lower case"),
    ("uscc", f"{U[:8]} {U[8:]}", 1.0, True, U, "separator"),
    ("uscc", U[:17] + "M", 0.0, False, U[:17] + "M", "check character wrong"),
    ("uscc", U[:10] + "O" + U[11:], 0.0, False, U[:10] + "O" + U[11:], "letter O never occurs"),
    ("uscc", UY, 1.0, True, UY, "registration authority letter Y"),
    ("uscc", U[:17], 0.0, False, U[:17], "too short"),
    # --- mainland mobile (E.164 +86)
    ("mobile", "13800138000", 1.0, True, "+8613800138000", "plain"),
    ("mobile", "+86 138 0013 8000", 1.0, True, "+8613800138000", "+86 with spaces"),
    ("mobile", "0086-138-0013-8000", 1.0, True, "+8613800138000", "0086 with dashes"),
    ("mobile", "＋８６　１３８－００１３－８０００", 1.0, True, "+8613800138000", "full-width"),
    ("mobile", "8613800138000", 1.0, True, "+8613800138000", "bare 86 country code"),
    ("mobile", "(138)00138000", 1.0, True, "+8613800138000", "brackets (RFC 3966)"),
    ("mobile", "138.0013.8000", 1.0, True, "+8613800138000", "dots (RFC 3966)"),
    ("mobile", '="13800138000"', 1.0, True, "+8613800138000", "Excel text-forcing form"),
    ("mobile", 13800138000, 1.0, True, "+8613800138000", "stored as an integer"),
    ("mobile", "14012345678", 0.5, True, "+8614012345678", "structure only: range not allocated"),
    ("mobile", "010-12345678", 0.0, False, "+861012345678", "Beijing landline"),
    ("mobile", "013800138000", 0.0, False, "+8613800138000", "trunk 0 before a mobile"),
    ("mobile", "+85213800138000", 0.0, False, "+85213800138000", "Hong Kong country code"),
    ("mobile", "12800138000", 0.0, False, "+8612800138000", "second digit 2"),
    ("mobile", "1380013800", 0.0, False, "+861380013800", "10 digits"),
    ("mobile", "138/0013/8000", 0.0, False, "+8613800138000", "slash: not valid, still joins its number"),
    # --- bank card (ISO/IEC 7812, Luhn)
    ("bank_card", CARD19, 1.0, True, CARD19, "UnionPay 19 digits"),
    ("bank_card", CARD16, 1.0, True, CARD16, "16 digits"),
    ("bank_card", BAD_CARD, 0.0, False, BAD_CARD, "Luhn wrong"),
    ("bank_card", " ".join(CARD19[i : i + 4] for i in range(0, 19, 4)), 1.0, True, CARD19, "grouped"),
    ("bank_card", CARD19.translate(FULL_WIDTH), 1.0, True, CARD19, "full-width"),
    ("bank_card", f'="{CARD19}"', 1.0, True, CARD19, "Excel text-forcing form"),
    ("bank_card", MAESTRO12, 1.0, False, MAESTRO12, "12-digit PAN: PI, not a mainland card"),
    ("bank_card", CARD20, 0.0, False, CARD20, "20 digits"),
    ("bank_card", int(CARD16), 1.0, True, CARD16, "stored as an integer"),
    # --- e-mail (RFC 5322 / 6531)
    ("email", "zhang.san@example.com", 1.0, True, "zhang.san@example.com", "plain"),
    ("email", " Zhang.San@Example.COM ", 1.0, True, "zhang.san@example.com", "case and padding"),
    ("email", "ｚｈａｎｇ@example.com", 1.0, True, "zhang@example.com", "full-width letters"),
    ("email", "张三@例子.中国", 1.0, True, "张三@例子.中国", "IDN, Unicode local part"),
    ("email", "张三@xn--fsqu00a.xn--fiqs8s", 1.0, True, "张三@例子.中国", "IDN written in punycode"),
    ("email", '="a@b.cn"', 1.0, True, "a@b.cn", "Excel text-forcing form"),
    ("email", "a@@b.cn", 0.0, False, "a@@b.cn", "two @"),
    ("email", "a @b.cn", 0.0, False, "a@b.cn", "space inside"),
    ("email", "a@localhost", 0.0, False, "a@localhost", "no dot in the domain"),
    ("email", "a＠b.cn", 1.0, False, "a@b.cn", "full-width at-sign: PI, not valid as stored"),
    ("email", "a@b.local", 0.0, False, "a@b.local", "special-use domain"),
    # --- phone numbers (E.164)
    ("phone", "+1 (780) 428-9482", 1.0, True, "+17804289482", "international"),
    ("phone", "010-6552 9988", 1.0, True, "+861065529988", "Beijing landline"),
    ("phone", "0086 10 6552 9988", 1.0, True, "+861065529988", "landline with 0086"),
    ("phone", "0755-8888 8888 转 123", 1.0, True, "+8675588888888;ext=123", "extension 转"),
    ("phone", "+1 780 428 9482 ext. 7", 1.0, True, "+17804289482;ext=7", "extension ext."),
    ("phone", "abc", 0.0, False, "abc", "no digits"),
    # --- passports and travel permits (no check digit)
    ("passport", "E12345678", 1.0, True, "E12345678", "PRC e-passport"),
    ("passport", "e1234 5678", 1.0, True, "E12345678", "lower case, space"),
    ("passport", "EA1234567", 1.0, True, "EA1234567", "PRC e-passport, letter series"),
    ("passport", "G12345678", 1.0, False, "G12345678", "G series: PI, none current"),
    ("passport", "X1234", 0.6, False, "X1234", "other shape"),
    ("passport", "AB12", 0.0, False, "AB12", "too short"),
    ("travel_permit", "CA1234567", 1.0, True, "CA1234567", "HK/Macau permit card"),
    ("travel_permit", "H12345678", 1.0, True, "H12345678", "home-return permit"),
    ("travel_permit", "W12345678", 0.6, False, "W12345678", "old booklet shape"),
]

_REGISTRY = default_registry()


def _ids(row):
    return f"{row[0]}:{row[5]}"


def test_table_is_large_enough():
    assert len(TABLE) >= 40
    assert {r[0] for r in TABLE} == set(FAMILIES)


@pytest.mark.parametrize("row", TABLE, ids=_ids)
def test_identifier_rule_matches_table(row):
    family, value, pi, valid, canonical, _why = row
    rule = FAMILIES[family].module
    q = rule.recognise(value)
    assert 0.0 <= q <= 1.0
    if isinstance(pi, bool):
        assert (q > 0) is pi
    else:
        assert q == pytest.approx(pi)
    assert rule.is_valid(value) is valid
    assert rule.canonical(value) == canonical


@pytest.mark.parametrize("row", TABLE, ids=_ids)
def test_detector_path_agrees(row):
    """The classifier's own value path (sample text, preparation, RE2 shape, validator) gives the
    rule's quality, with the detector's header matched."""
    family, value, *_ = row
    fam = FAMILIES[family]
    det = _REGISTRY.get(fam.detector)
    (q,) = value_qualities(det, pa.array([value]), with_header=True)
    assert q == pytest.approx(fam.module.recognise(value))


@pytest.mark.parametrize("row", [r for r in TABLE if FAMILIES[r[0]].predicate], ids=_ids)
def test_validation_predicate_agrees(row):
    family, value, _pi, valid, *_ = row
    predicate = getattr(checks, FAMILIES[family].predicate)
    assert predicate(value) is valid


@pytest.mark.parametrize("family", [f for f, fam in FAMILIES.items() if fam.check])
def test_column_path_agrees(family):
    """The vectorised column path (``is_valid_column``, behind the GX expectations) gives the
    table's decision for every value: as one text column, and integers as an integer column."""
    module = FAMILIES[family].module
    rows = [r for r in TABLE if r[0] == family]
    text = [str(r[1]) for r in rows]
    assert module.is_valid_column(text).tolist() == [r[3] for r in rows]
    assert module.is_valid_column(pa.array(text)).tolist() == [r[3] for r in rows]
    ints = [r for r in rows if isinstance(r[1], int)]
    if ints:
        column = pa.array([r[1] for r in ints], type=pa.int64())
        assert module.is_valid_column(column).tolist() == [r[3] for r in ints]


@pytest.mark.parametrize("family", [f for f, fam in FAMILIES.items() if fam.check])
def test_gx_expectation_agrees(family):
    """The check run end to end through GX (``validate_chunk``) quarantines exactly the rows the
    table calls invalid: the expectation uses the same predicate."""
    from custody.validation import ColumnCheck, TableRules, validate_chunk

    rows = [r for r in TABLE if r[0] == family]
    table = pa.table({"row": list(range(len(rows))), "value": [str(r[1]) for r in rows]})
    rules = TableRules(table=family, checks=[ColumnCheck(column="value", check=FAMILIES[family].check)])
    result = validate_chunk(table, rules)
    valid_rows = set(result.valid.column("row").to_pylist())
    assert valid_rows == {i for i, r in enumerate(rows) if r[3]}


@pytest.mark.parametrize("row", TABLE, ids=_ids)
def test_pseudonym_normalisation_agrees(row):
    family, value, _pi, _valid, canonical, _why = row
    assert normalize(FAMILIES[family].pi_type, value) == canonical


@pytest.mark.parametrize("row", TABLE, ids=_ids)
def test_uses_agree_with_each_other(row):
    family, value, _pi, valid, canonical, _why = row
    rule = FAMILIES[family].module
    if valid:
        assert rule.recognise(value) > 0  # never validate what classification would not protect
        assert rule.is_valid(canonical)  # the canonical form of a valid identifier stays valid
    assert rule.canonical(canonical) == canonical  # canonical forms are fixed points


def test_spellings_of_one_identifier_get_one_decision():
    """Every valid spelling of one identifier (same canonical form) gets the same quality from the
    detector path and the same validity: formatting never changes a decision."""
    groups: dict[tuple[str, str], list[object]] = {}
    for family, value, _pi, valid, canonical, _why in TABLE:
        if valid:
            groups.setdefault((family, canonical), []).append(value)
    assert len(groups[("resident_id", R)]) >= 7 and len(groups[("mobile", "+8613800138000")]) >= 8
    for (family, _canonical), values in groups.items():
        fam = FAMILIES[family]
        det = _REGISTRY.get(fam.detector)
        qualities = value_qualities(det, pa.array([str(v) for v in values]), with_header=True)
        assert len(set(qualities)) == 1, (family, qualities)


def test_strict_mobile_needs_an_allocated_range():
    assert checks.is_cn_mobile("14012345678") and not checks.is_cn_mobile("14012345678", strict=True)
    assert checks.is_cn_mobile("+86 138 0013 8000", strict=True)
