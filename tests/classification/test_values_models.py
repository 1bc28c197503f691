"""Values-only models beyond Chinese names, birth dates and gender (issue 17): names in Latin script
and Japanese, organisation forms, street lines, the parts of an address beside one, phone numbers
in national notation, passports in a table about people, version numbers that are not IPv4, and
card numbers in free text; each with positives and hard negatives, under neutral headers."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from custody.classification import TableClassifier, addresses, name_lists, numbers
from custody.classification import values as V
from custody.classification.minors import birth_ymd_from_dates
from custody.classification.sample import SampleBatch
from faker import Faker

from ._gen import make_bank_card, make_mobile, make_resident_id

AS_OF = dt.date(2026, 11, 30)


def _classify(table: pa.Table, policy) -> dict:
    clf = TableClassifier(policy, as_of=AS_OF, table="t")
    clf.observe(table)
    return {r.column: r for r in clf.result()}


def _one(values, policy, header: str = "c01"):
    return _classify(pa.table({header: values}), policy)[header]


def _fake(locale: str, seed: int) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def _credits(fake: Faker, rng: random.Random) -> str:
    """A composer credit: several people in one value, as music catalogues write them."""
    names = [fake.name() for _ in range(rng.randint(2, 4))]
    return ", ".join(names[:-1]) + rng.choice([", ", " & ", " and ", " / "]) + names[-1]


def _titles(fake: Faker, n: int) -> list[str]:
    """Song or album titles: a few capitalised words with lower-case small words between them."""
    return [" ".join(w.capitalize() if i % 2 == 0 else w for i, w in enumerate(fake.words(4))) for _ in range(n)]


# ------------------------------------------------------------------------ names (Latin, Japanese)
@pytest.mark.parametrize("locale", ["en_GB", "fr_FR", "it_IT", "sv_SE"])
def test_latin_name_columns_without_header(policy, locale):
    fake = _fake(locale, 31)
    for values in (
        [fake.first_name() for _ in range(300)],
        [fake.last_name() for _ in range(300)],
        [fake.name() for _ in range(300)],
    ):
        r = _one(values, policy)
        assert (r.pi_type, r.evidence.reason, r.evidence.detector) == ("person_name", "values", "person_name")


def test_japanese_names_without_header(policy):
    fake = _fake("ja_JP", 32)
    r = _one([fake.name() for _ in range(300)], policy)
    assert (r.pi_type, r.evidence.reason) == ("person_name", "values")
    assert name_lists.japanese_quality_of("佐藤 陽子") == 1.0
    assert name_lists.japanese_quality_of("東京都 港区南青山") == 0.0  # parts too long


def test_name_hard_negatives_stay_unclaimed(policy):
    fake, rng = _fake("en_US", 33), random.Random(33)
    negatives = {
        "composer credits": [_credits(fake, rng) for _ in range(300)],
        "song titles": _titles(fake, 300),
        "company names": [fake.company() for _ in range(300)],
        "job titles": [fake.job() for _ in range(300)],
        "cities as business data": [fake.city() for _ in range(300)],
        "colours": [fake.color_name() for _ in range(300)],
        "product names": [f"{fake.word().capitalize()} {rng.choice(['Pro', 'Lite', 'Cloud'])}" for _ in range(300)],
    }
    for label, values in negatives.items():
        assert _one(values, policy).pi_type != "person_name", label


def test_latin_quality_rules():
    q = name_lists.latin_quality_of
    assert q("Dr. Hans-Jürgen Müller B.Sc.") == 1.0  # titles dropped, double-barrelled names
    assert q("Herr Stavros Hande") >= 0.8
    assert q("Burgos Pavón") == 0.8  # two surnames (Spanish custom)
    for not_one_person in ("Angus Young, Malcolm Young", "F. Baltes & W. Hoffman", "Simon and Garfunkel"):
        assert q(not_one_person) == 0.0
    assert q("Balls to the Wall") == 0.0 and q("Room 101") == 0.0
    # A column of few distinct single words (colours, grades) is not diverse enough for names.
    assert not name_lists.diverse_enough(pa.array(["Black", "White", "Brown", "Green"] * 50))
    assert name_lists.diverse_enough(pa.array([f"Name{i}" for i in range(40)]))


# ------------------------------------------------------------------------ organisations
def test_organisation_forms_without_header(policy):
    for locale in ("en_GB", "es_ES", "it_IT"):
        fake = _fake(locale, 41)
        r = _one([fake.company() for _ in range(300)], policy)
        assert (r.pi_type, r.evidence.detector) == ("org_name", "org_name"), locale
    # Customers that are partly people and partly companies are not public organisation data.
    fake = _fake("en_GB", 42)
    mixed = [fake.name() if i % 2 else f"{fake.last_name()} Ltd" for i in range(300)]
    assert _one(mixed, policy).pi_type != "org_name"
    # Without forms, short names could be anything: products, places.
    assert _one([f"{fake.word().capitalize()} Hub" for _ in range(300)], policy).pi_type is None


# ------------------------------------------------------------------------ street lines and address parts
@pytest.mark.parametrize("locale", ["en_GB", "es_ES", "it_IT", "de_DE", "pt_BR", "nl_NL"])
def test_street_lines_without_header(policy, locale):
    fake = _fake(locale, 51)
    r = _one([fake.street_address().replace("\n", ", ") for _ in range(300)], policy)
    assert (r.pi_type, r.evidence.detector) == ("postal_address", "postal_address"), locale


def test_street_line_hard_negatives(policy):
    fake, rng = _fake("en_US", 52), random.Random(52)
    for values in (
        # product names, one in ten "<word> Suite <n>" (a unit word and a number)
        [fake.catch_phrase() if i % 10 else f"{fake.word()} Suite {rng.randint(1, 12)}" for i in range(300)],
        [f"{rng.randint(1, 99)} {w}" for w in _titles(fake, 300)][:30] + _titles(fake, 270),
        [f"Windows {rng.randint(7, 11)}" for _ in range(300)],
    ):
        assert _one(values, policy).pi_type != "postal_address"
    assert addresses.street_quality_of("Theodor-Heuss-Straße 34") == 1.0
    assert addresses.street_quality_of("248 Jeanne Unions") == 1.0  # USPS suffix
    assert addresses.street_quality_of("Klanova 9/506") == 0.3


def _address_table(fake: Faker, n: int, with_street: bool = True, gap: bool = False) -> pa.Table:
    cols: dict = {"c01": [fake.name() for _ in range(n)]}
    if with_street:
        cols["c02"] = [fake.street_address().replace("\n", ", ") for _ in range(n)]
    if gap:
        cols["c03"] = [fake.job() for _ in range(n)]
    cols["c04"] = [fake.city() for _ in range(n)]
    cols["c05"] = [fake.state_abbr() for _ in range(n)]
    cols["c06"] = ["United States"] * n
    cols["c07"] = [fake.zipcode() for _ in range(n)]
    cols["c08"] = [fake.email() for _ in range(n)]
    return pa.table(cols)


def test_address_parts_beside_a_street_column(policy):
    fake = _fake("en_US", 53)
    got = _classify(_address_table(fake, 200), policy)
    assert got["c02"].pi_type == "postal_address"
    for col in ("c04", "c05", "c07"):
        r = got[col]
        assert (r.pi_type, r.evidence.reason, r.evidence.table_context) == (
            "postal_address",
            "context:postal_address:c02",
            "address:c02",
        ), col
    assert (got["c06"].pi_type, got["c06"].evidence.reason) == (None, "not_pi:country_reference")
    assert got["c08"].pi_type == "email"


def test_cities_without_a_street_column_or_apart_from_it_are_not_pi(policy):
    fake = _fake("en_US", 54)
    alone = _classify(_address_table(fake, 200, with_street=False), policy)
    assert all(alone[c].pi_type is None for c in ("c04", "c05", "c07"))
    # A column that is not an address part ends the block: the city after a job title is not a part.
    apart = _classify(_address_table(fake, 200, gap=True), policy)
    assert apart["c03"].pi_type is None and apart["c04"].pi_type is None


def test_country_names_come_from_cldr_and_faker():
    assert addresses.is_country_column(pa.array(["USA", "Czech Republic", "Deutschland", "中国", "Brazil"] * 10))
    assert not addresses.is_country_column(pa.array(["Stuttgart", "Oslo", "Prague", "Lyon", "Porto"] * 10))


def test_address_block_walk():
    steps = {"a": "stop", "b": "part", "c": "pass", "d": "part", "e": "stop", "f": "part"}
    assert addresses.block(list("abcSdef"), 3, lambda name: steps[name]) == ["d", "b"]


# ------------------------------------------------------------------------ phones in national notation
@pytest.mark.parametrize("locale", ["en_US", "en_GB", "de_DE", "ja_JP", "zh_TW", "fr_FR"])
def test_national_phone_numbers_without_header(policy, locale):
    fake = _fake(locale, 61)
    r = _one([fake.phone_number() for _ in range(300)], policy)
    assert r.pi_type == "phone", locale


def test_phone_hard_negatives(policy):
    rng = random.Random(62)
    for values in (
        [f"{rng.randrange(10**5):05d}-{rng.randrange(1000):03d}" for _ in range(300)],  # Brazilian CEP
        [f"{rng.randrange(100, 1000)}-{rng.randrange(10**4):04d}" for _ in range(300)],  # Japanese postcode
        [f"{y}-{y + 1}" for y in (rng.randint(2000, 2025) for _ in range(300))],  # academic years
        [(dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(2000))).isoformat() for _ in range(300)],
        [str(rng.randrange(10**10, 10**11)) for _ in range(300)],  # bare order numbers
        [f"{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}" for _ in range(300)],
    ):
        assert _one(values, policy).pi_type != "phone", values[:2]
    assert numbers.phone_notation("(843)906-3626") and numbers.phone_notation("0903644303")
    assert not numbers.phone_notation("582-27-3685")  # the US SSN shape


# ------------------------------------------------------------------------ passports about people
def test_passports_only_in_a_table_about_people(policy):
    fake, rng = _fake("en_US", 71), random.Random(71)
    passports = [fake.passport_number() for _ in range(200)]
    people = pa.table({"c01": [make_mobile(rng) for _ in range(200)], "c02": passports})
    r = _classify(people, policy)["c02"]
    assert (r.pi_type, r.evidence.reason, r.evidence.table_context) == ("passport", "values+context", "people:c01")
    assert _one(passports, policy).pi_type is None  # no person in the table: just codes
    # Customer numbers counted one by one have the shape but not the spread of issued passports.
    counted = [f"C{10_000_000 + i:08d}" for i in range(200)]
    table = pa.table({"c01": [make_mobile(rng) for _ in range(200)], "c02": counted})
    assert _classify(table, policy)["c02"].pi_type is None


# ------------------------------------------------------------------------ versions are not IPv4
def test_four_part_versions_are_not_ip_addresses(policy):
    rng = random.Random(81)
    versions = [".".join(str(rng.randint(0, hi)) for hi in (9, 20, 50, 255)) for _ in range(300)]
    versions = [v if not v.startswith("0") else "1" + v[1:] for v in versions]  # majors 1-9
    r = _one(versions, policy)
    assert r.pi_type is None
    fake = _fake("en_US", 81)
    assert _one([fake.ipv4() for _ in range(300)], policy).pi_type == "ip_address"
    lan = [f"10.{rng.randint(0, 3)}.{rng.randint(0, 9)}.{rng.randint(1, 254)}" for _ in range(300)]
    assert _one(lan, policy).pi_type == "ip_address"  # private addresses start at 10, not below
    assert _one(versions, policy, header="ip_addr").pi_type == "ip_address"  # the header decides


# ------------------------------------------------------------------------ cards in free text
def test_card_numbers_in_text_need_a_payment_card_industry():
    rng = random.Random(91)
    assert V.embedded_bank_card(make_bank_card(rng, "62", 19))
    assert V.embedded_bank_card(make_bank_card(rng, "4", 16))
    assert not V.embedded_bank_card(make_bank_card(rng, "9", 16))  # Luhn-valid waybill number
    assert not V.embedded_bank_card(make_bank_card(rng, "1", 16))


def test_waybill_numbers_in_notes_are_not_cards(policy):
    rng = random.Random(92)
    plain = "已发货，等待签收"
    waybills = [f"快递单号{make_bank_card(rng, '9', 16)}已签收" if i % 4 == 0 else plain for i in range(400)]
    assert _one(waybills, policy).pi_type is None
    cards = [f"卡号{make_bank_card(rng, '62', 19)}已绑定" if i % 4 == 0 else plain for i in range(400)]
    r = _one(cards, policy)
    assert (r.pi_type, r.level, r.evidence.embedded_counts) == ("free_text", "sensitive", {"bank_account": 100})


# ------------------------------------------------------------------------ engine
def test_weak_header_does_not_block_the_value_model(policy):
    fake = _fake("es_ES", 101)
    surnames = [f"{fake.last_name()} {fake.last_name()}" for _ in range(300)]
    r = _one(surnames, policy, header="xing")  # pinyin 姓: a weak lexicon entry
    assert (r.pi_type, r.evidence.reason) == ("person_name", "values")


def test_sample_batch_matches_each_column_as_alone():
    rng = random.Random(111)
    samples = {
        "a": pa.array([make_mobile(rng) for _ in range(50)]),
        "b": pa.array(["x", "13800138000", "y"]),
        "c": pa.array([], pa.string()),
    }
    batch = SampleBatch(("k",), samples)
    pattern = r"^1[3-9]\d{9}$"
    for name, arr in samples.items():
        prepared, mask = batch.matched(None, lambda a: a, pattern, name)
        assert prepared.to_pylist() == arr.to_pylist()
        assert mask.to_pylist() == pc.match_substring_regex(arr, pattern).to_pylist()


def test_mac_registry_index_gives_stdnum_answers():
    from stdnum import mac, numdb

    rng = random.Random(121)
    prefixes = [low for _, low, _, _, _ in numdb.get("oui").prefixes]
    for _ in range(200):
        head = rng.choice(prefixes) if rng.random() < 0.7 else f"{rng.randrange(1 << 24):06X}"
        value = ":".join((head + f"{rng.randrange(1 << 24):06X}")[i : i + 2] for i in range(0, 12, 2)).lower()
        try:
            mac.get_manufacturer(value)
            expected = True
        except (ValueError, KeyError):
            expected = False
        assert V._oui_registered(value) == expected


def test_date_parse_prefilter_keeps_every_date():
    values = ["1990-01-02", " １９９０年1月2日", "19900102", "张三", "", "2.3", "Jan 2 1990", "\u30001990/1/2"]
    got = birth_ymd_from_dates(pa.array(values)).tolist()
    assert got == [19900102, 19900102, 19900102, 0, 0, 0, 0, 19900102]
    assert np.array_equal(birth_ymd_from_dates(pa.array(["a"] * 5)), np.zeros(5, dtype=np.int64))


def test_resident_id_person_table_still_lifts_models(policy):
    # The batch and the two-phase decision keep the person-table context of the earlier models.
    rng = random.Random(131)
    ids, codes = [make_resident_id(rng) for _ in range(200)], [rng.choice("12") for _ in range(200)]
    table = pa.table({"c01": ids, "c02": codes})
    got = _classify(table, policy)
    assert (got["c01"].pi_type, got["c02"].pi_type, got["c02"].evidence.table_context) == (
        "resident_id",
        "gender",
        "people:c01",
    )
