"""Detectors of personal and organisation attributes that carry no check digit: birth date,
gender, person name, organisation name, industry, postal address and its parts.

Their values alone are ambiguous (a date, a word, a number), so each has header rules and most a
value model (:class:`~custody.classification.registry.ValueModel`): a vectorised scorer of the
whole sample that decides without a header. The classifier asks a value model only for a column
no header or value shape decided, and a second time, at a lower bar where one is given, in a
table about people (one holding a resident ID, mobile, passport, SSN, bank account or name
column). Models, their basis and thresholds (a column is accepted when the mean quality of its
sample reaches the rate; calibrated on the labelled benchmark ``bench/classify`` with Faker's
``en_US`` and ``intl`` tables held out, and on the hard negatives of
``tests/classification/test_values_only.py`` and ``test_values_latin.py``):

- ``birth_date_distribution`` (:func:`~custody.classification.values.birth_date_scores`): ages
  in a human range, no future dates, a spread of decades; 0.95, 0.9 about people.
- ``gender_vocabulary`` (:func:`~custody.classification.values.gender_scores`): 男/女, M/F,
  male/female with both present; codes 1/2 only about people; 0.9 of at least 10 values.
- ``name_statistics`` (:func:`~custody.classification.values.person_name_scores`): Chinese
  character statistics, Japanese family-then-given names, Latin given names and surnames
  (:mod:`~custody.classification.name_lists`); 0.7, 0.6 about people. On the calibration tables
  song and album titles, composer credits (several people per value), company and product names,
  job titles, cities and countries score 0.29 at most, first- and last-name columns 0.79 or more.
- ``org_forms`` (:func:`~custody.classification.values.org_scores`): legal-form endings and
  partnership forms on at least 40 % of the values, no person's full names; ``ORG_MIN_RATE``
  (0.7; Chinook's ``Company`` column, 6 of 10 with a form, scores 0.8, every negative 0).
- ``street_lines`` (:func:`~custody.classification.addresses.street_scores`): house number and
  street word in Latin script, unit and house number in Chinese and Japanese;
  ``addresses.STREET_MIN_RATE``.
- ``address_parts`` (:func:`~custody.classification.addresses.part_scores`): place names, region
  codes and postal codes, asked only for the columns of an address block (beside a street-address
  column, :func:`~custody.classification.addresses.block`); ``addresses.PART_MIN_RATE``.

Identifier-like detectors with models live in :mod:`~custody.classification.detectors`
(``phone_number`` in national notation, ``passport`` about people, and the version test of
``ip_address``, all in :mod:`~custody.classification.numbers`).
"""

from __future__ import annotations

from custody.classification import _lexicon, addresses
from custody.classification.registry import Detector, HeaderRule, ValueModel
from custody.classification.values import (
    ORG_MIN_FORMS,
    birth_date_scores,
    gender_scores,
    org_scores,
    person_name_quality,
    person_name_scores,
)
from custody.identifiers import birth_date

#: Mean quality the ``org_forms`` model needs: ``ORG_MIN_FORMS`` of the values with a form and the
#: rest short names (0.5 each) give exactly this.
ORG_MIN_RATE = ORG_MIN_FORMS + (1 - ORG_MIN_FORMS) * 0.5
#: Any letter, ASCII or not: what ``\p{L}`` means here, at a fraction of its RE2 compile time.
_LETTER = r"[A-Za-z\x{80}-\x{10FFFF}]"

_ADDRESS_PART_HEADERS = (
    r"^(?:(?:billing|shipping|mailing|home|work|delivery|residence|residential|contact) )?"
    r"(?:city|town|state|province|prefecture|county|district|suburb|postal ?code|post ?code|postcode"
    r"|zip(?: ?code)?|zipcode)$"
    r"|^(?:所在|居住|收货|联系)?(?:省|省份|市|城市|区|区县|县|街道|乡镇|邮编|邮政编码)$"
)


def attribute_detectors() -> list[Detector]:
    """The attribute detectors, in tie-break order (new list on each call); they follow the
    identifier detectors in the default registry."""
    return [
        Detector(
            name="birth_date",
            pi_type="birth_date",
            description="Date of birth: header evidence, or a date column whose spread is people's ages",
            headers=(
                HeaderRule("zh", r"出生|生日|生年月日"),
                HeaderRule("en", r"\bbirth|birthday|birthdate|\bdob\b|\bborn\b"),
            ),
            pattern=r"^\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?(?:[ T].*)?$|^\d{8}$",
            validator=birth_date.recognise,
            kinds=frozenset({"string", "integer", "temporal"}),
            base_confidence=0.8,
            value_only=False,
            # Without a header: ages in a human range, none in the future, a spread of decades.
            values=ValueModel("birth_date_distribution", birth_date_scores, min_rate=0.95, min_rate_in_context=0.9),
        ),
        Detector(
            name="gender",
            pi_type="gender",
            description="Gender / sex: header evidence, or the gender vocabulary (codes 1/2 in a person table)",
            headers=(HeaderRule("zh", r"性别"), HeaderRule("en", r"\bgender\b|\bsex\b")),
            # A column that says it is a status, type or flag holds codes, whatever their values.
            header_exclude=r"\b(?:status|state|type|flag|level|grade|kind|zt|lx|bz)\b|状态|类型|标志|等级",
            pattern=r"(?i)^(?:男|女|男性|女性|未知|其他|m|f|u|x|male|female|man|woman|other|unknown|[0129])$",
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.8,
            value_only=False,
            values=ValueModel("gender_vocabulary", gender_scores, min_rate=0.9, min_values=10),
        ),
        Detector(
            name="person_name",
            pi_type="person_name",
            description="Person's name: header evidence, or names from character statistics and name lists",
            headers=(
                HeaderRule(
                    "zh",
                    r"姓名|名字|联系人|法定代表人|法人代表|收件人|收货人|持卡人|户主|^姓$|^名$|氏名|聯絡人|聯繫人",
                ),
                HeaderRule(
                    "en",
                    r"\b(?:first|last|given|family|middle|full|maiden|sur|fore|contact|person|holder|"
                    r"card ?holder|account ?holder|legal ?representative|recipient|employee|patient) ?name\b"
                    r"|\b(?:firstname|lastname|surname|forename|givenname|fullname|familyname)\b|^contact$",
                ),
                HeaderRule(
                    "generic",
                    r"^name$|^(?:customer|client|member) ?name$|^客户名称$|^名称$",
                    "weak",
                ),
            ),
            header_exclude=(
                r"\b(?:file|host|table|column|user|product|item|domain|display|brand|nick) ?name\b"
                r"|用户名|昵称"
            ),
            # A letter, then letters, spaces and ' . - (any non-ASCII character counts as a letter:
            # RE2 compiles \p{L} anew on every Arrow call, ~2 ms; this class ~0.05 ms).
            pattern=r"^[^\x00-\x40\x5b-\x60\x7b-\x7f][^\x00-\x1f\x21-\x26\x28-\x2c\x2f-\x40\x5b-\x60\x7b-\x7f]*$",
            validator=person_name_quality,
            base_confidence=0.85,
            value_only=False,
            min_weak_rate=0.75,
            values=ValueModel("name_statistics", person_name_scores, min_rate=0.7, min_rate_in_context=0.6),
        ),
        Detector(
            name="org_name",
            pi_type="org_name",
            description="Company / organisation name (legal-form suffix, or header)",
            headers=(
                HeaderRule("zh", r"公司|企业|单位|机构|雇主"),
                HeaderRule(
                    "en",
                    r"\bcompany\b|\bcompanyname\b|\borgani[sz]ation\b|\borg ?name\b|\bemployer\b"
                    r"|\bcorporation\b|\bbusiness ?name\b|\bfirm\b",
                ),
                HeaderRule("generic", r"^客户名称$|^(?:customer|client|account) ?name$|^名称$", "weak"),
            ),
            header_exclude=r"计量|\bunit\b|\bsize\b|\bcount\b|\bid\b",
            pattern=_lexicon.ORG_SUFFIX_RE2,
            header_pattern=_LETTER,
            base_confidence=0.8,
            min_weak_rate=0.6,
            values=ValueModel("org_forms", org_scores, min_rate=ORG_MIN_RATE),
        ),
        Detector(
            name="industry",
            pi_type="industry",
            description="Industry of an organisation: a GB/T 4754-2017 section name, or header and text",
            headers=(
                HeaderRule("zh", r"行业|产业类别|国民经济行业"),
                HeaderRule("en", r"\bindustry\b|\bsector\b|\bindustry ?(?:name|category|class)\b"),
            ),
            header_exclude=r"\bcode\b|\bid\b|代码|编码",
            pattern="^(?:" + "|".join(s.replace("、", "、?") for s in _lexicon.GBT4754_SECTIONS) + ")$",
            header_pattern=_LETTER,
            base_confidence=0.85,
        ),
        Detector(
            name="postal_address",
            pi_type="postal_address",
            description="Postal address: province/city/district/road/number tokens, or a numbered street",
            headers=(
                HeaderRule("zh", r"地址|住址|住所|居住地|户籍地|戶籍地"),
                HeaderRule("en", r"address|\baddr\b|\bstreet\b"),
            ),
            header_exclude=r"\bip\b|ip地址|\bmac\b|e ?mail|邮件|邮箱|\bweb|\burl\b|网址|\bwallet\b",
            pattern=(
                r"(?:省|自治区|特别行政区|市|州|盟).*(?:区|县|旗|镇|乡|街道|路|街|道|巷|弄|号|村|座|栋|室|大厦)"
                r"|^\d{1,6}[A-Za-z]?,?\s+\p{L}[\p{L}\p{M}.'\-]*(?:\s+\S+)+"
            ),
            header_pattern=r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f].{2,}",  # a letter or digit, then 2+
            base_confidence=0.75,
            values=ValueModel("street_lines", addresses.street_scores, min_rate=addresses.STREET_MIN_RATE),
        ),
        Detector(
            name="address_part",
            pi_type="postal_address",
            description="City / state / postal code beside a street-address column of the same table",
            headers=(HeaderRule("component", _ADDRESS_PART_HEADERS),),
            pattern=r"^.{1,60}$",
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.6,
            value_only=False,
            requires_column="postal_address",
            # Without a header: only beside a street-address column (the address block).
            values=ValueModel("address_parts", addresses.part_scores, min_rate=addresses.PART_MIN_RATE, min_values=3),
        ),
    ]
