"""The built-in PI detectors, in tie-break order, and the default registry.

Each detector is a declarative record (:class:`~custody.classification.registry.Detector`): the PI
type, header rules (Chinese and English), the RE2 value shape, value preparation and a validator.
Adding a detector never touches the engine::

    registry = default_registry()
    registry.register(Detector(name="cn_driving_licence", pi_type="driving_licence", ...))

(the policy must then give ``driving_licence`` a level).

Where the rules come from: identifiers that validation and pseudonyms also handle take their
validator and separator class from :mod:`custody.identifiers` (GB 11643 resident identity numbers
incl. first-generation 15-digit ones, GB 32100 unified social credit codes, ISO/IEC 7812 bank cards
with Luhn, ITU-T E.164 phone and mainland mobile numbers, RFC 5322/6531 e-mail addresses, passports,
travel permits, birth dates), so a value is PI here exactly when that rule recognises it. Identifiers
only classification looks at (US SSN, French NIR, IBAN, MAC, IMEI, IP) and person names are graded
in :mod:`custody.classification.values`.

Which detectors need header evidence (no check digit, or a shape shared with other data):
passports, travel permits, birth dates, gender, person names, IMEI, address parts, and bare
nine-digit SSNs (the dashed ``ddd-dd-dddd`` form may decide alone). Some of them have a value
model instead that decides from a whole column without a header (passports only in a table about
people; names, birth dates, gender, address parts: :mod:`~custody.classification.attributes`), as
have phone numbers written nationally (:mod:`~custody.classification.numbers`).

Validators return a quality in ``[0, 1]``: ``0`` rejects a value, ``1`` is a full pass, values in
between record a weaker pass (a resident ID with a valid check character but an address code that
is unknown or abolished scores 0.8 or 0.6, not 0). Values reach validators only in memory; nothing
here logs or raises with a value.

For compatibility the record types are re-exported here, and each identifier's recogniser is
available under its historical name (``resident_id_quality`` is
:func:`custody.identifiers.resident_id.recognise`, and so on).
"""

from __future__ import annotations

from functools import lru_cache

from custody.classification import _lexicon, numbers
from custody.classification.attributes import attribute_detectors
from custody.classification.registry import (
    KINDS,
    Detector,
    DetectorRegistry,
    EmbeddedRule,
    FreeTextProfile,
    HeaderRule,
    Kind,
    NonPiHint,
    Prep,
    Strength,
    Validator,
    ValueModel,
    header_text,
)
from custody.classification.values import (
    embedded_bank_card,
    embedded_bank_card_column,
    embedded_email,
    embedded_email_column,
    embedded_mobile,
    embedded_mobile_column,
    embedded_resident_id,
    embedded_resident_id_column,
    fr_nir_quality,
    iban_quality,
    imei_quality,
    ip_quality,
    mac_quality,
    person_name_quality,
    us_ssn_quality,
)
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

# The identifier rules under the names the detectors have always used.
resident_id_quality = resident_id.recognise
uscc_quality = uscc.recognise
bank_card_quality = bank_card.recognise
cn_mobile_quality = mobile.recognise
phone_quality = phone.recognise
email_quality = email_address.recognise
birth_date_quality = birth_date.recognise
passport_quality = passport.recognise
travel_permit_quality = travel_permit.recognise

# Separators of identifiers without a module of their own (SSN, NIR, IBAN, IMEI).
_SEP = r"[\s\-]"


def builtin_detectors() -> list[Detector]:
    """The built-in detectors, in tie-break order (new list on each call)."""
    return [
        Detector(
            name="cn_resident_id",
            pi_type="resident_id",
            description="PRC resident identity number (GB 11643), 18 chars with check char or 15 digits",
            headers=(
                HeaderRule("zh", r"身份证|证件号|居民身份|公民身份号码"),
                HeaderRule(
                    "en",
                    r"\b(?:resident|national|citizen|personal) ?id(?: ?(?:number|no|num|card))?\b"
                    r"|\bid ?(?:card|number|no|num)\b|\bidcard(?:no|number)?\b|\bidno\b|\bidnumber\b"
                    r"|\bric\b|\bsfz(?:h|hm)?\b",
                ),
            ),
            pattern=r"^(?:\d{17}[\dX]|\d{15})$",
            validator=resident_id.recognise,
            prep=Prep(remove=resident_id.SEPARATORS, upper=True),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.95,
            # 0.6 lets a column of IDs with unknown address codes through; random 18-digit numbers
            # pass the check character and a valid birth date far too rarely to reach it.
            min_value_rate=0.6,
            embedded=EmbeddedRule(
                prefilter=r"\d{15}",
                pattern=r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])",
                validator=embedded_resident_id,
                column_validator=embedded_resident_id_column,
            ),
        ),
        Detector(
            name="cn_uscc",
            pi_type="uscc",
            description="Unified social credit code (GB 32100), 18 chars, mod-31 check",
            headers=(
                HeaderRule("zh", r"统一社会信用代码|社会信用代码|信用代码|纳税人识别号|税号"),
                HeaderRule(
                    "en",
                    r"\buscc\b|\bcredit ?code\b|\bsocial ?credit|\bunified ?social"
                    r"|\btax ?(?:id|no|number|code)\b"
                    r"|\btaxid\b",
                ),
            ),
            pattern=r"^[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}$",
            validator=uscc.recognise,
            prep=Prep(remove=uscc.SEPARATORS, upper=True),
            base_confidence=0.95,
        ),
        Detector(
            name="us_ssn",
            pi_type="ssn",
            description="US Social Security number: the dashed form alone, nine bare digits under a header",
            headers=(
                HeaderRule(
                    "en",
                    r"\bssn\b|\bsocial ?security(?: ?(?:number|no|num))?\b|\bsocsec\b"
                    r"|\bss ?(?:no|num|number)\b",
                ),
            ),
            # No check digit: a bare nine-digit number (zip+4, order number) needs the header.
            pattern=r"^\d{3}-\d{2}-\d{4}$",
            header_pattern=r"^\d{3}[ -]?\d{2}[ -]?\d{4}$",
            validator=us_ssn_quality,
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.9,
        ),
        Detector(
            name="fr_nir",
            pi_type="ssn",
            description="French social security number (NIR), 15 characters with a mod-97 key",
            headers=(HeaderRule("fr", r"\bnir\b|\binsee\b|\bsociale\b|\bsecurite ?sociale\b|\bsecu\b"),),
            pattern=r"^[1-478]\d{4}(?:\d{2}|2A|2B)\d{8}$",
            validator=fr_nir_quality,
            prep=Prep(remove=_SEP, upper=True),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.9,
        ),
        Detector(
            name="bank_card",
            pi_type="bank_account",
            description="Bank card / account number: 16-19 digits with Luhn, or 10-30 digits under a header",
            headers=(
                HeaderRule("zh", r"银行账号|银行帐号|银行卡|银行账户|开户行|账号|帐号|卡号"),
                HeaderRule(
                    "en",
                    r"\bbank\b|\biban\b|\baccount ?(?:number|no|num)\b|\bacct ?(?:no|number|num)?\b"
                    r"|\bcard ?(?:number|no|num)\b|\b(?:cardno|cardnumber|accountno|accountnumber)\b"
                    r"|\bcredit ?card\b|\bdebit ?card\b",
                ),
            ),
            header_exclude=r"会员|积分|礼品|优惠|登录|\bmember|\bloyalty|\bgift|\bpoints?\b|\bimei\b|\bserial\b|\bsim\b",
            # Without a header: 13-19 digits whose first digit is a banking/financial industry
            # identifier (ISO/IEC 7812 MII 2-6: Mastercard 2-series, Amex 15 and Diners 14 digits;
            # UnionPay starts 62).
            pattern=r"^[2-6]\d{12,18}$",
            header_pattern=r"\d{10,30}",
            validator=bank_card.recognise,
            prep=Prep(remove=bank_card.SEPARATORS),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.9,
            min_value_rate=0.9,  # a random 16-digit number passes Luhn one time in ten
            embedded=EmbeddedRule(
                prefilter=r"\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}",
                pattern=r"(?<!\d)(\d{4}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?)(?!\d)",
                validator=embedded_bank_card,
                column_validator=embedded_bank_card_column,
            ),
        ),
        Detector(
            name="iban",
            pi_type="bank_account",
            description="International bank account number (ISO 13616), mod-97 check",
            headers=(
                HeaderRule("en", r"\biban\b|\bbank ?account\b"),
                HeaderRule("zh", r"国际银行账号|银行账户"),
            ),
            pattern=r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$",
            validator=iban_quality,
            prep=Prep(remove=_SEP, upper=True),
            base_confidence=0.95,
        ),
        Detector(
            name="cn_mobile",
            pi_type="mobile_phone",
            description="Mainland China mobile number, 11 digits 1[3-9], optional +86/0086",
            headers=(
                HeaderRule("zh", r"手机|移动电话|电话|联系方式|手機|電話|行動電話|携帯"),
                HeaderRule(
                    "en",
                    r"mobile|\bcell|phone|\btel\b|\btelephone\b|\btelno\b|\bcontact ?(?:no|number|tel)\b",
                ),
            ),
            pattern=r"^(?:\+?86|0086)?1[3-9]\d{9}$",
            validator=mobile.recognise,
            prep=Prep(remove=mobile.SEPARATORS),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.92,
            embedded=EmbeddedRule(
                prefilter=r"1[3-9]\d[ -]?\d{4}[ -]?\d{4}",
                pattern=r"(?<![\d])(?:(?:\+|00)86[ -]?)?(1[3-9]\d(?:[ -]?\d{4}){2})(?!\d)",
                validator=embedded_mobile,
                column_validator=embedded_mobile_column,
            ),
        ),
        Detector(
            name="phone_number",
            pi_type="phone",
            description="Landline, fax or international number (E.164 via phonenumbers)",
            headers=(
                HeaderRule("zh", r"电话|座机|传真|联系方式|手机|電話|傳真|手機|携帯"),
                HeaderRule(
                    "en",
                    r"phone|\btel\b|\btele|fax|\blandline\b|\btelno\b|mobile|\bcell"
                    r"|\bcontact ?(?:no|number|tel)\b",
                ),
            ),
            # Without a header only internationally written numbers count: bare digit groups such
            # as `2023-2024` are possible phone numbers too.
            pattern=r"(?i)^(?:\+|00)\d{7,15}(?:(?:x|ext|#|转)\d{1,6})?$",
            header_pattern=r"(?i)^(?:\+|00)?\d{6,15}(?:(?:x|ext|#|转)\d{1,6})?$",
            validator=phone.recognise,
            prep=Prep(remove=phone.SEPARATORS),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.85,
            # Nationally written numbers: phone notation read in the usual regions' numbering plans.
            values=ValueModel("phone_notation", numbers.phone_scores, min_rate=0.8),
        ),
        Detector(
            name="email",
            pi_type="email",
            description="E-mail address (RFC 5322 syntax via email-validator, no DNS lookup)",
            headers=(
                HeaderRule("zh", r"邮箱|邮件|电邮|郵箱|郵件|電郵|電子郵件"),
                HeaderRule("en", r"e ?mail|\bmail\b"),
            ),
            pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            validator=email_address.recognise,
            base_confidence=0.95,
            embedded=EmbeddedRule(
                # "@", a label, "." and a label character: every address the pattern finds
                # (the registry's contract), "x@mail.163.com" and "x@host.2ch.net" included.
                prefilter=r"@[A-Za-z0-9-]+\.[A-Za-z0-9-]",
                pattern=r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                validator=embedded_email,
                column_validator=embedded_email_column,
            ),
        ),
        Detector(
            name="ip_address",
            pi_type="ip_address",
            description="IPv4 / IPv6 address (network identity, GB/T 35273-2020 Annex A)",
            headers=(
                HeaderRule("zh", r"ip地址|登录ip"),
                HeaderRule("en", r"\bip\b|\bip ?addr(?:ess)?\b|\bipaddress\b|\bipv[46]\b|\bremote ?addr\b"),
            ),
            # Four-part software versions (4.2.1.0) are valid IPv4 addresses too: the header decides.
            header_exclude=r"\bversion\b|\bver\b|\bbuild\b|\brelease\b|\bfirmware\b|版本|\bbbh\b|\bbanben\b",
            pattern=r"^\d{1,3}(?:\.\d{1,3}){3}$|^[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}$",
            validator=ip_quality,
            base_confidence=0.9,
            sample_check=numbers.not_versions,
        ),
        Detector(
            name="mac_address",
            pi_type="device_id",
            description="MAC address of a device (GB/T 35273-2020 Annex A, common device information)",
            headers=(
                HeaderRule("en", r"\bmac\b|\bmac ?addr(?:ess)?\b|\bmacaddress\b|\bwifi ?mac\b|\bbssid\b"),
                HeaderRule("zh", r"mac地址|物理地址|网卡地址"),
            ),
            pattern=r"^[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}$",
            header_pattern=r"^[0-9A-Fa-f]{2}(?:[:-]?[0-9A-Fa-f]{2}){5}$",
            validator=mac_quality,
            base_confidence=0.9,
        ),
        Detector(
            name="imei",
            pi_type="device_id",
            description="Mobile device IMEI / IMEISV; header required (15 digits may be an old resident ID)",
            headers=(
                HeaderRule("en", r"\bimei(?: ?sv)?\b|\bmeid\b"),
                HeaderRule("zh", r"imei|串号|设备识别码"),
            ),
            pattern=r"^\d{15,16}$",
            validator=imei_quality,
            prep=Prep(remove=_SEP),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.85,
            value_only=False,
        ),
        Detector(
            name="passport",
            pi_type="passport",
            description="Passport number; no check digit, so header evidence is required",
            headers=(
                HeaderRule("zh", r"护照|護照|旅券"),
                HeaderRule("en", r"passport"),
                HeaderRule("document", r"证件号|\bdocument ?(?:no|number)\b|\bid ?document", "weak"),
            ),
            pattern=r"^[A-Z0-9]{5,17}$",
            validator=passport.recognise,
            prep=Prep(remove=passport.SEPARATORS, upper=True),
            base_confidence=0.6,
            value_only=False,
            min_weak_rate=0.5,
            values=ValueModel("passport_numbers", numbers.passport_scores, min_rate=numbers.PASSPORT_MIN_SHAPE),
        ),
        Detector(
            name="travel_permit",
            pi_type="travel_permit",
            description="Travel permits for HK/Macau/Taiwan and home-return permits; header required",
            headers=(
                HeaderRule("zh", r"通行证|回乡证|台胞证"),
                HeaderRule(
                    "en",
                    r"\btravel ?permit|\bhome ?return|\bexit ?entry|\bentry ?permit|\bhk ?macau"
                    r"|\bmainland ?travel",
                ),
                HeaderRule("document", r"证件号|\bdocument ?(?:no|number)\b|\bid ?document", "weak"),
            ),
            pattern=r"^[A-Z0-9]{5,17}$",
            validator=travel_permit.recognise,
            prep=Prep(remove=travel_permit.SEPARATORS, upper=True),
            base_confidence=0.6,
            value_only=False,
            min_weak_rate=0.9,  # under a generic 证件号 header prefer passport unless the shape is a permit's
        ),
        *attribute_detectors(),
    ]


def builtin_free_text_profile() -> FreeTextProfile:
    """Free-text profile with Chinese and English note/remark headers."""
    return FreeTextProfile(
        headers=(
            HeaderRule("zh", r"备注|说明|描述|留言|内容|记录|评论|反馈|沟通|跟进|摘要"),
            HeaderRule(
                "en",
                r"\bnotes?\b|\bremarks?\b|\bcomments?\b|\bmemo\b|\bdescription\b|\bmessage\b|\bfeedback\b"
                r"|\bnarrative\b|\bdetails?\b|\bsummary\b",
            ),
        ),
    )


def builtin_non_pi_hints() -> tuple[NonPiHint, ...]:
    """Explanations for common non-PI columns (country, currency, surrogate keys, amounts)."""
    return (
        NonPiHint("country_reference", r"国家|国别|\bcountry\b"),
        NonPiHint("currency_code", r"币种|货币|\bcurrency\b"),
        NonPiHint("surrogate_key", r"(?:^| )(?:id|key|pk|fk|no|code)$|编号$|序号$|代码$|^reports to$"),
        NonPiHint("amount", r"金额|价格|单价|\bamount\b|\btotal\b|\bprice\b|\bquantity\b|\bqty\b"),
    )


#: PI types whose column makes a table about people (issue: a resident ID or a mobile column; the
#: other personal identifiers and a person-name column say the same).
PERSON_TYPES: tuple[str, ...] = (
    "resident_id",
    "mobile_phone",
    "passport",
    "travel_permit",
    "ssn",
    "person_name",
    "bank_account",
)


def with_lexicon(detectors: list[Detector], profile: FreeTextProfile) -> tuple[list[Detector], FreeTextProfile]:
    """The detectors and free-text profile with the header lexicon's rules appended (after the
    full-word rules, so a word wins): rule names ``lexicon_pinyin`` / ``lexicon_abbreviation``."""
    import dataclasses

    entries = _lexicon.header_lexicon()
    out = []
    for det in detectors:
        extra = tuple(
            HeaderRule(f"lexicon_{e.form}", e.pattern, e.strength, e.weight)  # type: ignore[arg-type]
            for e in entries
            if (det.pi_type in e.types and det.requires_column is None) or det.name in e.types
        )
        out.append(dataclasses.replace(det, headers=det.headers + extra) if extra else det)
    text_rules = tuple(
        HeaderRule(f"lexicon_{e.form}", e.pattern, "strong", e.weight) for e in entries if "free_text" in e.types
    )
    return out, dataclasses.replace(profile, headers=profile.headers + text_rules)


@lru_cache(maxsize=1)
def _builtin_records() -> tuple[tuple[Detector, ...], FreeTextProfile, tuple[NonPiHint, ...]]:
    # Records are frozen, so every registry can share them; building them checks ~80 RE2 patterns.
    detectors, profile = with_lexicon(builtin_detectors(), builtin_free_text_profile())
    return tuple(detectors), profile, builtin_non_pi_hints()


def default_registry() -> DetectorRegistry:
    """A fresh registry (extend it freely) holding the built-in detectors with the header lexicon,
    the free-text profile, non-PI hints and the person types; the records are built once."""
    detectors, profile, hints = _builtin_records()
    return DetectorRegistry(list(detectors), free_text=profile, non_pi_hints=hints, person_types=PERSON_TYPES)


__all__ = [
    "KINDS",
    "Detector",
    "DetectorRegistry",
    "EmbeddedRule",
    "FreeTextProfile",
    "HeaderRule",
    "Kind",
    "NonPiHint",
    "Prep",
    "Strength",
    "Validator",
    "bank_card_quality",
    "birth_date_quality",
    "builtin_detectors",
    "builtin_free_text_profile",
    "builtin_non_pi_hints",
    "cn_mobile_quality",
    "default_registry",
    "with_lexicon",
    "email_quality",
    "fr_nir_quality",
    "header_text",
    "iban_quality",
    "imei_quality",
    "ip_quality",
    "mac_quality",
    "passport_quality",
    "person_name_quality",
    "phone_quality",
    "resident_id_quality",
    "travel_permit_quality",
    "us_ssn_quality",
    "uscc_quality",
]
