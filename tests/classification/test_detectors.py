"""Detectors one by one: valid, invalid and tricky values, header rules, the registry."""

from __future__ import annotations

import datetime
import random

import pyarrow as pa
import pytest
from custody.classification import Detector, HeaderRule, PolicyError, TableClassifier, classify_table
from custody.classification import detectors as d
from faker import Faker
from stdnum.cn import ric

from ._gen import make_bank_card, make_mobile, make_old_resident_id, make_resident_id, make_uscc


def _rid_with_x(rng: random.Random) -> str:
    while True:
        rid = make_resident_id(rng)
        if rid.endswith("X"):
            return rid


def _one(values, header: str, policy, **kw):
    """Classify one column; returns its ColumnClassification."""
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    return classify_table(pa.table({header: arr}), policy, **kw)[0]


# ---------------------------------------------------------------- resident ID (GB 11643)
class TestResidentId:
    def test_valid_known_region(self):
        rid = make_resident_id(random.Random(1))
        assert ric.is_valid(rid)
        assert d.resident_id_quality(rid) == 1.0

    def test_wrong_check_character(self):
        rid = make_resident_id(random.Random(2))
        bad = rid[:17] + ("0" if rid[17] != "0" else "1")
        assert d.resident_id_quality(bad) == 0.0

    def test_impossible_or_future_birth_date(self):
        for born in ("19900230", "29990101"):
            body = f"110101{born}123"
            assert d.resident_id_quality(body + ric.calc_check_digit(body + "0")) == 0.0

    def test_lower_case_x_check_character(self, policy):
        rng = random.Random(3)
        values = [_rid_with_x(rng).lower() for _ in range(30)]
        assert all(v.endswith("x") for v in values)
        r = _one(values, "证件号码", policy)
        assert r.pi_type == "resident_id" and r.level == "sensitive"
        assert r.evidence.validated_rate == 1.0

    def test_abolished_address_code_lowers_confidence_not_rejects(self, policy):
        # 110103 (Chongwen district) was merged into Dongcheng in 2010: stdnum rejects it for a
        # birth year after 2010, yet the check character is valid.
        body = "110103" + "20120301" + "123"
        rid = body + ric.calc_check_digit(body + "0")
        assert not ric.is_valid(rid)
        assert d.resident_id_quality(rid) == 0.8  # province known, district not for that year
        unknown_province = "990101" + "19800301" + "123"
        assert d.resident_id_quality(unknown_province + ric.calc_check_digit(unknown_province + "0")) == 0.6

        rng = random.Random(4)
        abolished = []
        for _ in range(50):
            b = (
                "110103"
                + f"{datetime.date(2011, 1, 1) + datetime.timedelta(days=rng.randrange(2000)):%Y%m%d}"
            )
            b += f"{rng.randrange(1000):03d}"
            abolished.append(b + ric.calc_check_digit(b + "0"))
        known = [make_resident_id(rng) for _ in range(50)]
        for header in ("身份证号", "col_a"):
            low, high = _one(abolished, header, policy), _one(known, header, policy)
            assert low.pi_type == high.pi_type == "resident_id"
            assert low.level == "sensitive"
            assert low.confidence < high.confidence

    def test_faker_ids_with_unknown_regions_still_resident_ids(self, policy):
        fake = Faker("zh_CN")
        fake.seed_instance(11)
        values = [fake.ssn() for _ in range(300)]
        rejected = sum(not ric.is_valid(v) for v in values)
        assert rejected > 50  # stdnum's table does not know many of Faker's area codes
        r = _one(values, "ssn_no", policy)  # header unknown to the detectors: values decide
        assert r.pi_type == "resident_id" and r.level == "sensitive"
        assert r.evidence.reason == "values"

    def test_old_15_digit_ids(self, policy):
        rng = random.Random(5)
        old = make_old_resident_id(rng)
        assert d.resident_id_quality(old) == 0.85
        assert d.resident_id_quality(old[:8] + "13" + old[10:]) == 0.0  # month 13
        values = [make_old_resident_id(rng) for _ in range(40)]
        assert _one(values, "身份证号", policy).pi_type == "resident_id"
        as_ints = pa.array([int(v) for v in values], pa.int64())
        assert _one(as_ints, "id_number", policy).pi_type == "resident_id"

    def test_spaces_and_full_width_digits(self, policy):
        rng = random.Random(6)
        full = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
        values = [make_resident_id(rng) for _ in range(20)]
        spaced = [f"{v[:6]} {v[6:14]} {v[14:]}" for v in values]
        wide = [v.translate(full) for v in values]
        for vals in (spaced, wide):
            r = _one(vals, "身份证", policy)
            assert r.pi_type == "resident_id" and r.evidence.validated_rate == 1.0


# ---------------------------------------------------------------- USCC (GB 32100)
def test_uscc_valid_invalid_and_letters(policy):
    rng = random.Random(7)
    code = make_uscc(rng)
    assert d.uscc_quality(code) == 1.0
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    wrong = code[:17] + alphabet[(alphabet.index(code[17]) + 1) % 31]
    assert d.uscc_quality(wrong) == 0.0
    values = [make_uscc(rng) for _ in range(40)]
    r = _one(values, "统一社会信用代码", policy)
    assert (r.pi_type, r.level) == ("uscc", "public")
    r = _one(values, "registration", policy)  # no header: the mod-31 check decides
    assert r.pi_type == "uscc"
    # I, O, S, V, Z never occur in a USCC.
    assert _one([v[:10] + "O" + v[11:] for v in values], "reg", policy).pi_type is None


# ---------------------------------------------------------------- bank cards (Luhn)
class TestBankCard:
    def test_unionpay_19_digits(self, policy):
        rng = random.Random(8)
        card = make_bank_card(rng, "62", 19)
        assert len(card) == 19 and d.bank_card_quality(card) == 1.0
        values = [make_bank_card(rng, "62", 19) for _ in range(50)]
        r = _one(values, "col", policy)  # values alone
        assert (r.pi_type, r.level) == ("bank_account", "sensitive")

    def test_luhn_failures_under_bank_header_stay_sensitive(self, policy):
        rng = random.Random(9)
        values = [make_bank_card(rng, "62", rng.choice((16, 17, 18, 19)), valid=False) for _ in range(60)]
        assert not any(d.bank_card_quality(v) for v in values)
        for header in ("银行账号", "account_number", "bank_card_no"):
            r = _one(values, header, policy)
            assert (r.pi_type, r.level) == ("bank_account", "sensitive"), header
            assert r.evidence.validated_rate == 0.0  # a data-quality finding, visible in evidence
        assert _one(values, "col", policy).pi_type is None  # without the header they are just numbers

    def test_grouped_and_integer_cards(self, policy):
        rng = random.Random(10)
        values = [make_bank_card(rng, "62", 16) for _ in range(30)]
        grouped = [" ".join(v[i : i + 4] for i in range(0, 16, 4)) for v in values]
        assert _one(grouped, "卡号", policy).evidence.validated_rate == 1.0
        ints = pa.array([int(v) for v in values], pa.int64())
        assert _one(ints, "card_number", policy).pi_type == "bank_account"

    def test_membership_cards_are_not_bank_cards(self, policy):
        rng = random.Random(11)
        values = [make_bank_card(rng, "62", 16) for _ in range(30)]  # even Luhn-valid numbers
        assert _one(values, "会员卡号", policy).pi_type != "bank_account"
        assert _one(values, "loyalty_card_no", policy).pi_type != "bank_account"

    def test_luhn_valid_numbers_outside_card_ranges_need_a_header(self, policy):
        rng = random.Random(23)
        values = [make_bank_card(rng, "9", 16) for _ in range(30)]  # MII 9: national use, not banking
        assert _one(values, "ref_no", policy).pi_type is None
        assert _one(values, "银行卡号", policy).pi_type == "bank_account"

    def test_faker_en_us_card_numbers(self, policy):
        fake = Faker("en_US")
        fake.seed_instance(12)
        values = [fake.credit_card_number() for _ in range(200)]
        r = _one(values, "card_number", policy)
        assert r.pi_type == "bank_account" and r.evidence.validated_rate == 1.0


# ---------------------------------------------------------------- phones
class TestPhones:
    def test_cn_mobile_formats(self, policy):
        rng = random.Random(13)
        digits = [make_mobile(rng) for _ in range(40)]
        wide = str.maketrans("0123456789+", "０１２３４５６７８９＋")
        forms = {
            "plain": digits,
            "+86": [f"+86{v}" for v in digits],
            "+86 spaced": [f"+86 {v[:3]} {v[3:7]} {v[7:]}" for v in digits],
            "dashes": [f"{v[:3]}-{v[3:7]}-{v[7:]}" for v in digits],
            "full-width": [f"+86 {v}".translate(wide) for v in digits],
            "0086": [f"0086{v}" for v in digits],
        }
        for label, vals in forms.items():
            r = _one(vals, "手机", policy)
            assert (r.pi_type, r.level) == ("mobile_phone", "internal"), label
            assert r.evidence.validated_rate == 1.0, label
        assert (
            _one(pa.array([int(v) for v in digits], pa.int64()), "mobile", policy).pi_type == "mobile_phone"
        )
        assert _one(digits, "contact_value", policy).pi_type == "mobile_phone"  # values alone

    def test_mobile_validator(self):
        assert d.cn_mobile_quality("13800138000") == 1.0
        assert d.cn_mobile_quality("+8613800138000") == 1.0
        assert d.cn_mobile_quality("12345678901") < 1.0  # right length, no such range
        assert d.cn_mobile_quality("1380013") == 0.0

    def test_landline_and_international(self, policy):
        assert d.phone_quality("+17804289482") == 1.0
        assert d.phone_quality("01012345678") == 1.0  # Beijing landline
        assert d.phone_quality("2062690743x9150") > 0
        assert d.phone_quality("abc") == 0.0
        chinook_like = [
            "+1 (780) 428-9482",
            "+55 (12) 3923-5555",
            "+49 0711 2842222",
            "+420 2 4172 5555",
            "+47 22 44 22 22",
            "+33 01 49 70 65 65",
            "+44 020 7976 5722",
        ] * 3
        for header in ("Phone", "Fax", "联系电话"):
            r = _one(chinook_like, header, policy)
            assert (r.pi_type, r.level) == ("phone", "internal"), header
        landlines = ["010-6552 9988", "021-58889999", "0755-8888 8888 转 123", "(010)62751234"] * 5
        assert _one(landlines, "座机", policy).pi_type == "phone"

    def test_faker_en_us_phone_numbers(self, policy):
        fake = Faker("en_US")
        fake.seed_instance(14)
        r = _one([fake.phone_number() for _ in range(300)], "phone_number", policy)
        assert (r.pi_type, r.level) == ("phone", "internal")


# ---------------------------------------------------------------- e-mail, IP, dates, documents
def test_email(policy):
    assert d.email_quality("ojin@example.net") == 1.0
    assert d.email_quality("bad@@x.com") == 0.0
    fake = Faker("zh_CN")
    fake.seed_instance(15)
    values = [fake.email() for _ in range(100)]
    assert _one(values, "邮箱", policy).pi_type == "email"
    assert _one(values, "contact", policy).pi_type == "email"  # values win over a name-ish header
    r = _one(values, "x", policy)
    assert (r.pi_type, r.evidence.reason) == ("email", "values")


def test_ip_address(policy):
    assert d.ip_quality("192.168.1.1") == 1.0 and d.ip_quality("::1") == 1.0
    assert d.ip_quality("999.1.1.1") == 0.0
    fake = Faker("en_US")
    fake.seed_instance(16)
    values = [fake.ipv4() for _ in range(80)] + [fake.ipv6() for _ in range(20)]
    assert _one(values, "last_login_ip", policy).pi_type == "ip_address"
    assert _one(values, "x", policy).pi_type == "ip_address"


def test_birth_date(policy):
    assert d.birth_date_quality("1990-01-01") == 1.0
    assert d.birth_date_quality("1990年1月1日") == 1.0
    assert d.birth_date_quality("19900101") == 1.0
    assert d.birth_date_quality("2999-01-01") == 0.0
    fake = Faker("zh_CN")
    fake.seed_instance(17)
    dates = [fake.date_of_birth() for _ in range(100)]
    for header in ("出生日期", "dob", "BirthDate"):
        assert _one(pa.array(dates, pa.date32()), header, policy).pi_type == "birth_date"
    ts = pa.array([datetime.datetime(x.year, x.month, x.day) for x in dates], pa.timestamp("us", tz="UTC"))
    assert _one(ts, "birth_date", policy).pi_type == "birth_date"
    assert _one([x.isoformat() for x in dates], "生日", policy).pi_type == "birth_date"
    # Dates without a birth header are not birth dates.
    assert _one(pa.array(dates, pa.date32()), "signed_on", policy).pi_type is None


def test_passport_and_travel_permit_need_headers(policy):
    assert d.passport_quality("E12345678") == 1.0 and d.passport_quality("X1234") == 0.6
    assert d.travel_permit_quality("C12345678") == 1.0
    rng = random.Random(18)
    passports = [f"E{rng.randrange(10**8):08d}" for _ in range(40)]
    permits = [f"C{rng.choice('ABCDEFGH')}{rng.randrange(10**7):07d}" for _ in range(40)]
    assert _one(passports, "护照号码", policy).level == "sensitive"
    assert _one(passports, "passport_no", policy).pi_type == "passport"
    assert _one(permits, "港澳通行证", policy).pi_type == "travel_permit"
    assert _one(passports, "ref", policy).pi_type is None  # no check digit: never from values alone
    assert _one(passports, "证件号码", policy).pi_type == "passport"  # generic document header


def test_gender_needs_header(policy):
    values = ["男", "女"] * 20
    assert _one(values, "性别", policy).pi_type == "gender"
    assert _one(["M", "F"] * 20, "grade", policy).pi_type is None


# ---------------------------------------------------------------- names, companies, addresses
class TestNames:
    def test_name_quality(self):
        assert d.person_name_quality("张三") == 1.0
        assert d.person_name_quality("欧阳娜娜") == 1.0
        assert d.person_name_quality("买买提·艾力") == 0.8
        assert d.person_name_quality("数据中台") == 0.4
        assert d.person_name_quality("David Cross") == 0.95
        assert d.person_name_quality("Balls to the Wall") == 0.1
        assert d.person_name_quality("AC/DC") == 0.1

    def test_faker_zh_cn_names(self, policy):
        fake = Faker("zh_CN")
        fake.seed_instance(19)
        values = [fake.name() for _ in range(500)]
        for header in ("姓名", "联系人", "name", "客户姓名"):
            r = _one(values, header, policy)
            assert (r.pi_type, r.level) == ("person_name", "internal"), header
        # Without a header, the character statistics recognise them (issue 17).
        r = _one(values, "col", policy)
        assert (r.pi_type, r.evidence.reason, r.evidence.header_rule) == ("person_name", "values", None)

    def test_faker_en_us_names(self, policy):
        fake = Faker("en_US")
        fake.seed_instance(20)
        firsts = [fake.first_name() for _ in range(300)]
        lasts = [fake.last_name() for _ in range(300)]
        fulls = [f"{a} {b}" for a, b in zip(firsts, lasts)]
        assert _one(firsts, "FirstName", policy).pi_type == "person_name"
        assert _one(lasts, "last_name", policy).pi_type == "person_name"
        assert _one(fulls, "name", policy).pi_type == "person_name"  # generic header + given names
        # Without a header the name lists decide (issue 17); song titles under the same header do not.
        r = _one(fulls, "c07", policy)
        assert (r.pi_type, r.evidence.reason, r.evidence.header_rule) == ("person_name", "values", None)
        titles = ["Balls to the Wall", "Restless and Wild", "Princess of the Dawn", "Evil Walks", "Snowballed"]
        assert _one(titles * 40, "c07", policy).pi_type is None

    def test_generic_name_header_with_non_person_values(self, policy):
        for values in (
            ["Rock", "Jazz", "Metal", "Alternative & Punk", "Rock And Roll", "Blues", "Latin", "Reggae"] * 3,
            ["Balls to the Wall", "Restless and Wild", "Princess of the Dawn", "Fast As a Shark"] * 5,
            ["MPEG audio file", "Protected AAC audio file", "AAC audio file", "Purchased AAC audio file"] * 5,
        ):
            assert _one(values, "Name", policy).pi_type is None


def test_company_and_address(policy):
    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(21)
    en.seed_instance(21)
    companies = [zh.company() for _ in range(200)]
    assert (_one(companies, "公司", policy).pi_type, _one(companies, "公司", policy).level) == (
        "org_name",
        "public",
    )
    assert _one(companies, "x", policy).pi_type == "org_name"  # legal-form suffixes
    assert _one([en.company() for _ in range(200)], "company", policy).pi_type == "org_name"
    zh_addr = [zh.address() for _ in range(200)]
    assert _one(zh_addr, "地址", policy).pi_type == "postal_address"
    assert _one(zh_addr, "x", policy).pi_type == "postal_address"  # province/city/road tokens
    en_addr = [en.street_address() for _ in range(200)]
    assert _one(en_addr, "street", policy).pi_type == "postal_address"
    assert _one(["AB", "BC", "ON"] * 10, "state", policy).pi_type is None  # no street column beside it


# ---------------------------------------------------------------- header rules
def test_header_text_and_qualifiers():
    assert d.header_text("PhoneNumber") == "phone number"
    phone = d.default_registry().get("phone_number")
    assert phone.header_hit("Phone")[1] == "strong"
    assert phone.header_hit("phone_verified")[1] == "weak"
    assert phone.header_hit("是否手机验证")[1] == "weak"
    assert phone.header_hit("customer_id") is None
    bank = d.default_registry().get("bank_card")
    assert bank.header_hit("会员卡号") is None and bank.header_hit("银行卡号") is not None


# ---------------------------------------------------------------- embedded rules
def test_embedded_rules_boundaries():
    rng = random.Random(22)
    rid, card, mobile = make_resident_id(rng), make_bank_card(rng, "62", 19), make_mobile(rng)
    reg = d.default_registry()
    rules = dict(reg.embedded_rules())

    def found(pi_type, text):
        r = rules[pi_type]
        return [c for _s, _e, c in r.finditer(text) if r.validator(c)]

    assert found("resident_id", f"身份证号{rid}已核对") == [rid]
    assert found("mobile_phone", f"新号码+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}，旧号停用") != []
    assert found("mobile_phone", f"单号{rid}") == []  # digits inside a longer number are not a mobile
    assert found("mobile_phone", "工单号20231234567已处理") == []  # 11 digits, but not 1[3-9]
    assert found("bank_account", f"卡号 {card[:4]} {card[4:8]} {card[8:12]} {card[12:16]} {card[16:]}") != []
    assert found("email", "请发到 a.b@example.com 谢谢") == ["a.b@example.com"]


# ---------------------------------------------------------------- registry
def _plate_detector() -> Detector:
    return Detector(
        name="cn_licence_plate",
        pi_type="licence_plate",
        description="Mainland vehicle licence plate",
        headers=(HeaderRule("zh", r"车牌"), HeaderRule("en", r"\bplate\b")),
        pattern=r"^\p{Han}[A-Z][A-Z0-9]{5,6}$",
        base_confidence=0.8,
        value_only=True,
    )


def test_registry_accepts_new_detector_without_engine_change(policy):
    reg = d.default_registry()
    reg.register(_plate_detector(), before="person_name")
    plates = ["京A12345", "沪B9X8Z7", "粤BD12345"] * 10
    table = pa.table({"车牌号": plates})
    with pytest.raises(PolicyError, match="licence_plate"):
        TableClassifier(policy, registry=reg)
    levels = dict(policy.levels)
    levels["licence_plate"] = policy.levels["person_name"].model_copy(update={"ref": "PIPL Art 4 (test)"})
    extended = policy.model_copy(update={"levels": levels})
    r = classify_table(table, extended, registry=reg)[0]
    assert (r.pi_type, r.evidence.detector) == ("licence_plate", "cn_licence_plate")
    assert classify_table(table, policy)[0].pi_type is None  # default registry untouched


def test_registry_rejects_bad_records():
    reg = d.default_registry()
    with pytest.raises(ValueError, match="already registered"):
        reg.register(reg.get("email"))
    reg.register(reg.get("email"), replace=True)
    with pytest.raises(ValueError, match="RE2"):
        Detector(name="bad", pi_type="x", description="", pattern=r"(?<=a)b")
    with pytest.raises(ValueError, match="header"):
        Detector(name="bad", pi_type="x", description="", pattern=r"^a$", value_only=False)
    with pytest.raises(ValueError, match="kinds"):
        Detector(name="bad", pi_type="x", description="", pattern=r"^a$", kinds=frozenset({"float"}))
    with pytest.raises(KeyError):
        reg.get("nope")


# ---------------------------------------------------------------- identifiers of customers abroad
class TestSocialSecurityNumbers:
    def test_us_ssn_validator(self):
        assert d.us_ssn_quality("536-90-4399") == 1.0
        assert d.us_ssn_quality("536904399") == 1.0
        for bad in ("666-12-3456", "000-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "078-05-1120"):
            assert d.us_ssn_quality(bad) == 0.0, bad  # SSA rules; 078-05-1120 is the advertised sample

    def test_us_ssn_dashed_values_decide_bare_digits_need_a_header(self, policy):
        fake = Faker("en_US")
        fake.seed_instance(30)
        dashed = [fake.ssn() for _ in range(100)]
        r = _one(dashed, "tax_ref", policy)
        assert (r.pi_type, r.level, r.evidence.reason) == ("ssn", "sensitive", "values")
        bare = [v.replace("-", "") for v in dashed]
        assert _one(bare, "ref_no", policy).pi_type is None  # nine digits are anything without a header
        assert _one(bare, "SSN", policy).pi_type == "ssn"
        assert (
            _one(pa.array([int(v) for v in bare], pa.int64()), "social_security_number", policy).pi_type
            == "ssn"
        )

    def test_zip_plus_four_is_not_an_ssn(self, policy):
        rng = random.Random(31)
        zips = [f"{rng.randrange(10000, 99999)}-{rng.randrange(10000):04d}" for _ in range(60)]
        assert _one(zips, "zip4", policy).pi_type is None

    def test_french_nir(self, policy):
        fake = Faker("fr_FR")
        fake.seed_instance(32)
        values = [fake.ssn() for _ in range(80)]
        assert all(d.fr_nir_quality(v) == 1.0 for v in values)
        r = _one(values, "numero_securite_sociale", policy)
        assert (r.pi_type, r.level) == ("ssn", "sensitive")
        assert _one(values, "x", policy).pi_type == "ssn"  # the mod-97 key decides alone
        wrong_key = [v[:13] + f"{(int(v[13:]) + 1) % 98:02d}" for v in values]
        assert not any(d.fr_nir_quality(v) for v in wrong_key)
        assert _one(wrong_key, "x", policy).pi_type is None


def test_iban_valid_invalid_and_grouped(policy):
    assert d.iban_quality("DE89370400440532013000") == 1.0
    assert d.iban_quality("DE89370400440532013001") == 0.0
    fake = Faker("de_DE")
    fake.seed_instance(33)
    values = [fake.iban() for _ in range(60)]
    grouped = [" ".join(v[i : i + 4] for i in range(0, len(v), 4)) for v in values]
    for vals, header in ((values, "iban"), (grouped, "konto"), (values, "x")):
        r = _one(vals, header, policy)
        assert (r.pi_type, r.level, r.evidence.detector) == ("bank_account", "sensitive", "iban"), header


class TestDeviceIdentifiers:
    def test_mac_addresses_by_value(self, policy):
        assert d.mac_quality("00:1B:63:84:45:E6") == 1.0  # a registered manufacturer prefix
        assert d.mac_quality("1a:63:73:6e:e8:4f") == 0.8  # locally administered (randomised) still counts
        assert d.mac_quality("00:1A:2B:3C:4D") == 0.0
        fake = Faker("en_US")
        fake.seed_instance(34)
        values = [fake.mac_address() for _ in range(80)]
        r = _one(values, "x", policy)
        assert (r.pi_type, r.level) == ("device_id", "internal")
        assert _one([v.replace(":", "-").upper() for v in values], "wifi_mac", policy).pi_type == "device_id"

    def test_imei_needs_its_header(self, policy):
        rng = random.Random(35)
        from stdnum import luhn

        imeis = []
        for _ in range(50):
            body = "35" + "".join(rng.choice("0123456789") for _ in range(12))
            imeis.append(body + luhn.calc_check_digit(body))
        assert d.imei_quality(imeis[0]) == 1.0
        assert d.imei_quality(imeis[0][:-1] + str((int(imeis[0][-1]) + 1) % 10)) == 0.0
        assert _one(imeis, "IMEI", policy).pi_type == "device_id"
        assert _one(imeis, "设备串号", policy).pi_type == "device_id"
        assert _one(imeis, "ref", policy).pi_type != "device_id"


def test_ip_tricky_values(policy):
    assert d.ip_quality("2001:db8::1") == 1.0 and d.ip_quality("::ffff:192.0.2.1") == 1.0
    assert d.ip_quality("1.2.3") == 0.0 and d.ip_quality("10.0.19041.1") == 0.0
    rng = random.Random(36)
    versions = [
        f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 50)}.{rng.randint(0, 255)}"
        for _ in range(60)
    ]
    # Four-part versions are valid IPv4 addresses: only the header can tell them apart.
    assert _one(versions, "app_version", policy).pi_type is None
    assert _one(versions, "firmware_build", policy).pi_type is None
    assert _one(versions, "client_ip", policy).pi_type == "ip_address"


def test_travel_permit_series(policy):
    assert d.travel_permit_quality("H12345678") == 1.0  # home-return permit (Hong Kong)
    assert d.travel_permit_quality("M1234567801") == 1.0  # home-return permit (Macau), 10 digits
    assert d.travel_permit_quality("T12345678") == 1.0  # Taiwan compatriot permit
    rng = random.Random(37)
    home_return = [f"{rng.choice('HM')}{rng.randrange(10**8):08d}" for _ in range(40)]
    assert _one(home_return, "回乡证号码", policy).pi_type == "travel_permit"
    assert _one(home_return, "home_return_permit_no", policy).level == "sensitive"


def test_birth_date_tricky_values(policy):
    assert d.birth_date_quality("1879-12-31") == 0.0  # before 1880: not a living customer's birth
    assert d.birth_date_quality("1990/02/30") == 0.0
    assert d.birth_date_quality("1990.2.3") == 1.0
    ints = pa.array([19900101 + i for i in range(28)], pa.int64())
    assert _one(ints, "dob", policy).pi_type == "birth_date"
    assert _one(ints, "run_date", policy).pi_type is None


def test_chinese_names_tricky(policy):
    assert d.person_name_quality("司马光") == 1.0  # compound surname
    assert d.person_name_quality("阿依古丽·买买提") == 0.8  # name with a middle dot
    assert d.person_name_quality("张三123") == 0.1
    # Under a weak generic header, product names starting with a surname character are not names.
    products = ["云计算平台", "数据中台系统", "智能客服", "安全网关设备", "移动办公套件"] * 8
    assert _one(products, "名称", policy).pi_type != "person_name"
    assert _one(products, "product", policy).pi_type is None


def test_other_locale_headers(policy):
    """Japanese and traditional-Chinese headers with locale values (Faker ja_JP, zh_TW)."""
    ja, tw = Faker("ja_JP"), Faker("zh_TW")
    ja.seed_instance(38)
    tw.seed_instance(38)
    n = 120
    table = pa.table(
        {
            "氏名": [ja.name() for _ in range(n)],
            "電話番号": [ja.phone_number() for _ in range(n)],
            "住所": [ja.address() for _ in range(n)],
            "生年月日": [ja.date_of_birth().isoformat() for _ in range(n)],
            "姓名": [tw.name() for _ in range(n)],
            "手機": [tw.phone_number() for _ in range(n)],
            "電郵": [tw.email() for _ in range(n)],
            "護照號碼": [f"{random.Random(i).randrange(10**8, 10**9)}" for i in range(n)],
        }
    )
    got = {r.column: r.pi_type for r in classify_table(table, policy)}
    assert got == {
        "氏名": "person_name",
        "電話番号": "phone",
        "住所": "postal_address",
        "生年月日": "birth_date",
        "姓名": "person_name",
        "手機": "phone",
        "電郵": "email",
        "護照號碼": "passport",
    }
