"""PI detectors: small declarative records in a registry the classification engine iterates.

Each :class:`Detector` says which PI type it finds, which column headers are evidence for it
(Chinese and English, :class:`HeaderRule`), which value shape it accepts (an RE2 regex run
vectorised over a column sample with ``pyarrow.compute.match_substring_regex``), and optionally a
validator from a library (python-stdnum, phonenumbers, email-validator, ``ipaddress``) that the
engine calls only on values the regex already accepted, once per distinct value. A detector may
also carry an :class:`EmbeddedRule` used to find its identifiers inside free text.

Adding a detector never touches the engine::

    registry = default_registry()
    registry.register(Detector(name="cn_driving_licence", pi_type="driving_licence", ...))

(the policy must then give ``driving_licence`` a level). Identifier formats follow the sources in
``REGULATORY.md``: GB 11643 resident identity numbers, GB 32100 unified social credit codes, Luhn
(ISO/IEC 7812) bank cards, ITU-T E.164 phone numbers, RFC 5322/6531 e-mail addresses; and for
customers outside China: US Social Security numbers (SSA area/group/serial rules), French NIR
(mod-97 key), IBAN (ISO 13616 mod-97), device identifiers (IEEE EUI-48 MAC, IMEI with Luhn), which
GB/T 35273-2020 Annex A lists as personal common device information.

Which detectors need header evidence (no check digit, or a shape shared with other data):
passports, travel permits, birth dates, gender, person names, IMEI, address parts, and bare
nine-digit SSNs (the dashed ``ddd-dd-dddd`` form may decide alone).

Validators return a quality in ``[0, 1]``: ``0`` rejects a value, ``1`` is a full pass, values in
between record a weaker pass (a resident ID with a valid check character but an address code that
is unknown or abolished scores 0.8 or 0.6, not 0). Values reach validators only in memory; nothing
here logs or raises with a value in the message.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from custody.classification import _lexicon
from custody.naming import column_tokens

Kind = Literal["string", "integer", "temporal"]
Strength = Literal["strong", "weak"]
#: value (already NFKC-normalised, trimmed and prepared by the detector's :class:`Prep`) -> quality 0..1
Validator = Callable[[str], float]

KINDS: frozenset[str] = frozenset({"string", "integer", "temporal"})

# Qualifier words turn a strong header into weak evidence: `phone_verified`, `email_count`,
# `是否手机验证` describe a PI field but do not hold one.
_QUALIFIERS = re.compile(
    r"\b(?:verified|verify|validated|confirmed|flag|flags|count|cnt|status|type|enabled|optin|opt|"
    r"consent|hash|hashed|masked|md5|sha1|sha256|len|length|format|is|has|exists|bounced)\b"
    r"|是否|状态|标志|类型|数量|次数|验证|校验"
)


def header_text(column: str) -> str:
    """Header form that header rules are matched against: word tokens joined by one space.

    ``"PhoneNumber"`` -> ``"phone number"``, ``"email_verified"`` -> ``"email verified"``,
    ``"身份证号"`` -> ``"身份证号"`` (see :func:`custody.naming.column_tokens`).
    """
    return " ".join(column_tokens(column))


def _check_re2(pattern: str, owner: str) -> None:
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"{owner}: pattern is not valid RE2 ({exc})") from None


@dataclass(frozen=True)
class HeaderRule:
    """Header evidence: a Python regex searched in :func:`header_text` of a column name.

    ``name`` is recorded in evidence (``"<detector>/<name>"``); ``strength`` is ``strong`` (the
    header names the field) or ``weak`` (it may, e.g. a bare ``name``). Strong rules whose header
    also carries a qualifier word (``verified``, ``count``, ``是否`` ...) count as weak.
    """

    name: str
    pattern: str
    strength: Strength = "strong"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_re", re.compile(self.pattern))

    def search(self, text: str) -> bool:
        """True when the rule matches the header text."""
        return self._re.search(text) is not None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Prep:
    """How a detector prepares values before matching: drop separator characters, upper-case.

    ``remove`` is an RE2 character class (``r"[\\s\\-]"``) removed vectorised; all values are
    NFKC-normalised (full-width digits become ASCII) and trimmed before this step.
    """

    remove: str | None = None
    upper: bool = False


@dataclass(frozen=True)
class EmbeddedRule:
    """How to find this detector's identifiers inside free text (full scan, every value).

    ``prefilter`` (RE2) selects candidate values vectorised; ``pattern`` (Python regex, group 1 or
    the whole match is the candidate) and ``validator`` (bool) run only on those candidates.
    """

    prefilter: str
    pattern: str
    validator: Callable[[str], bool]

    def __post_init__(self) -> None:
        _check_re2(self.prefilter, "EmbeddedRule.prefilter")
        object.__setattr__(self, "_re", re.compile(self.pattern))

    def finditer(self, text: str) -> Iterator[tuple[int, int, str]]:
        """Yield ``(start, end, candidate)`` for each pattern match in ``text``."""
        for m in self._re.finditer(text):  # type: ignore[attr-defined]
            g = 1 if m.re.groups else 0
            yield m.start(g), m.end(g), m.group(g)


@dataclass(frozen=True)
class Detector:
    """One PI detector (a declarative record; the engine holds no per-type logic).

    Fields:
      ``name`` detector id recorded in evidence; ``pi_type`` the type it assigns (a key of the
      policy's ``levels``); ``headers`` header rules; ``header_exclude`` a Python regex on the header
      text that rules the detector out for the column (``会员卡号`` is a membership card, not a bank
      card, even if its numbers pass Luhn);
      ``pattern`` RE2 shape a value must have for value-only detection (searched, so anchor it);
      ``header_pattern`` looser RE2 shape used instead when the header matched (default ``pattern``);
      ``validator`` quality 0..1 per candidate value; ``prep`` value preparation;
      ``kinds`` Arrow type families accepted (``string``, ``integer`` incl. decimal scale 0,
      ``temporal`` = date/timestamp, compared as ISO text); ``base_confidence`` 0..1;
      ``value_only`` whether values alone may decide (False: header evidence required, e.g.
      passports, which have no check digit); ``min_value_rate`` share of the sample (quality-weighted)
      needed without a header; ``min_header_rate`` share of the sample matching ``header_pattern``
      needed with a strong header; ``min_weak_rate`` quality-weighted share needed with a weak
      header; ``requires_column`` a PI type another column of the same table must have (address
      parts such as ``city`` need a street-address column); ``embedded`` rule for free text.

    Raises ``ValueError`` at construction for an invalid RE2 pattern, kind or confidence.
    """

    name: str
    pi_type: str
    description: str
    pattern: str
    headers: tuple[HeaderRule, ...] = ()
    header_exclude: str | None = None
    header_pattern: str | None = None
    validator: Validator | None = None
    prep: Prep = field(default_factory=Prep)
    kinds: frozenset[str] = frozenset({"string"})
    base_confidence: float = 0.8
    value_only: bool = True
    min_value_rate: float = 0.8
    min_header_rate: float = 0.5
    min_weak_rate: float = 0.75
    requires_column: str | None = None
    embedded: EmbeddedRule | None = None

    def __post_init__(self) -> None:
        if not self.kinds or not self.kinds <= KINDS:
            raise ValueError(f"detector {self.name}: kinds must be a non-empty subset of {sorted(KINDS)}")
        if not 0 < self.base_confidence <= 1:
            raise ValueError(f"detector {self.name}: base_confidence must be in (0, 1]")
        for rate in (self.min_value_rate, self.min_header_rate, self.min_weak_rate):
            if not 0 <= rate <= 1:
                raise ValueError(f"detector {self.name}: rates must be in [0, 1]")
        _check_re2(self.pattern, f"detector {self.name}.pattern")
        if self.header_pattern is not None:
            _check_re2(self.header_pattern, f"detector {self.name}.header_pattern")
        if self.prep.remove is not None:
            _check_re2(self.prep.remove, f"detector {self.name}.prep.remove")
        if not self.value_only and not self.headers:
            raise ValueError(f"detector {self.name}: value_only=False needs at least one header rule")
        object.__setattr__(self, "_exclude", re.compile(self.header_exclude) if self.header_exclude else None)

    def excluded(self, column: str) -> bool:
        """True when ``header_exclude`` matches: the header says the column is *not* this type."""
        return self._exclude is not None and self._exclude.search(header_text(column)) is not None  # type: ignore[attr-defined]

    def header_hit(self, column: str) -> tuple[HeaderRule, Strength] | None:
        """The first header rule matching ``column`` and its effective strength, or None."""
        text = header_text(column)
        if self.excluded(column):
            return None
        for rule in self.headers:
            if rule.search(text):
                strength: Strength = rule.strength
                if strength == "strong" and _QUALIFIERS.search(text):
                    strength = "weak"
                return rule, strength
        return None


@dataclass(frozen=True)
class FreeTextProfile:
    """When a string column no detector claimed counts as free text (long, varied values).

    Without a free-text header: median length in characters (after NFKC) of at least
    ``min_median_chars``, at least ``min_distinct_ratio`` of the sample distinct and at least
    ``min_distinct_values`` distinct values (small lookup tables are not free text). With a header
    rule matching (``备注``, ``notes``, ``remark`` ...): ``min_median_chars_with_header`` and
    ``min_distinct_ratio_with_header``, because real follow-up notes repeat a lot of boilerplate.
    Text is made of words: the median value must also hold ``min_median_words`` words (without a
    header) or ``min_median_words_with_header`` (with one), counting whitespace-separated tokens
    plus Han characters (Chinese is written without spaces). Identifiers and codes that are long
    and unique (UUIDs, hashes, host names) and short labels (job titles) are therefore not text.
    """

    headers: tuple[HeaderRule, ...] = ()
    min_median_chars: int = 20
    min_median_chars_with_header: int = 8
    min_distinct_ratio: float = 0.5
    min_distinct_ratio_with_header: float = 0.05
    min_distinct_values: int = 20
    min_median_words: int = 6
    min_median_words_with_header: int = 2

    def header_hit(self, column: str) -> HeaderRule | None:
        """The first free-text header rule matching ``column``, or None."""
        text = header_text(column)
        return next((r for r in self.headers if r.search(text)), None)


@dataclass(frozen=True)
class NonPiHint:
    """Explains a non-PI decision in evidence (``not_pi:<name>``); never decides anything."""

    name: str
    pattern: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_re", re.compile(self.pattern))

    def search(self, column: str) -> bool:
        """True when the hint's pattern matches the header text of ``column``."""
        return self._re.search(header_text(column)) is not None  # type: ignore[attr-defined]


class DetectorRegistry:
    """Ordered collection of detectors plus the free-text profile and non-PI hints.

    Order matters only to break confidence ties (earlier wins) and to decide which embedded rule
    claims a span of free text first (resident IDs before bank cards before mobiles).
    """

    def __init__(
        self,
        detectors: tuple[Detector, ...] | list[Detector] = (),
        *,
        free_text: FreeTextProfile | None = None,
        non_pi_hints: tuple[NonPiHint, ...] = (),
    ) -> None:
        self._detectors: list[Detector] = []
        self.free_text = free_text or FreeTextProfile()
        self.non_pi_hints = tuple(non_pi_hints)
        for d in detectors:
            self.register(d)

    def register(self, detector: Detector, *, replace: bool = False, before: str | None = None) -> None:
        """Add ``detector`` (at the end, or before the detector named ``before``).

        Raises ``ValueError`` if a detector of the same name exists and ``replace`` is False, or
        ``KeyError`` if ``before`` names no detector.
        """
        existing = next((i for i, d in enumerate(self._detectors) if d.name == detector.name), None)
        if existing is not None:
            if not replace:
                raise ValueError(f"detector '{detector.name}' is already registered")
            self._detectors[existing] = detector
            return
        if before is None:
            self._detectors.append(detector)
            return
        idx = next((i for i, d in enumerate(self._detectors) if d.name == before), None)
        if idx is None:
            raise KeyError(f"no detector named '{before}'")
        self._detectors.insert(idx, detector)

    def get(self, name: str) -> Detector:
        """The detector called ``name``; raises ``KeyError``."""
        for d in self._detectors:
            if d.name == name:
                return d
        raise KeyError(f"no detector named '{name}'")

    def __iter__(self) -> Iterator[Detector]:
        return iter(self._detectors)

    def __len__(self) -> int:
        return len(self._detectors)

    def pi_types(self) -> list[str]:
        """Distinct PI types the detectors assign, in registry order."""
        return list(dict.fromkeys(d.pi_type for d in self._detectors))

    def embedded_rules(self) -> list[tuple[str, EmbeddedRule]]:
        """``(pi_type, rule)`` for every detector with an embedded rule, in registry order."""
        return [(d.pi_type, d.embedded) for d in self._detectors if d.embedded is not None]

    def copy(self) -> DetectorRegistry:
        """A registry with the same records that can be extended independently."""
        return DetectorRegistry(
            list(self._detectors), free_text=self.free_text, non_pi_hints=self.non_pi_hints
        )


# --------------------------------------------------------------------------------------------
# Validators (library checks; called only on regex candidates).

_TODAY = datetime.date.today


def _date(y: int, m: int, d: int) -> datetime.date | None:
    try:
        born = datetime.date(y, m, d)
    except ValueError:
        return None
    return born if 1880 <= y and born <= _TODAY() else None


@lru_cache(maxsize=8192)
def _region_quality(code: str, year: int) -> float:
    """1.0 if stdnum knows the address code for that year, 0.8 if only its province, else 0.6.

    Keyed by (6-digit area code, year), which identifies no one; cached because area codes repeat.
    """
    from stdnum import numdb
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError

    try:
        ric.get_birth_place(f"{code}{year:04d}01010000")
        return 1.0
    except (ValidationError, KeyError, ValueError):
        pass  # stdnum 2.2 raises KeyError for a known province with an unknown county
    info = {k for _part, props in numdb.get("cn/loc").info(code) for k in props}
    return 0.8 if "province" in info else 0.6


def resident_id_quality(value: str) -> float:
    """GB 11643 resident identity number: check character and birth date via ``stdnum.cn.ric``.

    18 characters: wrong MOD 11-2 check character or impossible birth date -> 0; otherwise the
    address code decides the quality (1.0 known for the birth year, 0.8 province known but
    district unknown or abolished, 0.6 unknown province) because real numbers keep the codes of
    districts abolished later. 15 digits (pre-1999 numbers, no check character, year ``19YY``):
    0.85 with a known address code, 0.3 otherwise. Input is upper-case, separators removed.
    """
    from stdnum.cn import ric

    if len(value) == 18 and value[:17].isdigit():
        if ric.calc_check_digit(value) != value[17]:
            return 0.0
        born = _date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
        return 0.0 if born is None else _region_quality(value[:6], born.year)
    if len(value) == 15 and value.isdigit():
        born = _date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
        if born is None:
            return 0.0
        return 0.85 if _region_quality(value[:6], born.year) == 1.0 else 0.3
    return 0.0


def uscc_quality(value: str) -> float:
    """GB 32100 unified social credit code, weighted mod-31 check via ``stdnum.cn.uscc``: 1 or 0."""
    from stdnum.cn import uscc

    return 1.0 if uscc.is_valid(value) else 0.0


_DIGIT_RUN = re.compile(r"\d+")


def bank_card_quality(value: str) -> float:
    """Bank card: the longest digit run has 12-19 digits (ISO/IEC 7812; Maestro cards have 12) and
    passes Luhn (``stdnum.luhn``): 1 or 0.

    A 0 here does not reject a column headed as a bank account: the header path still classifies
    it (a failing number is sensitive and a data-quality finding, see REGULATORY.md).
    """
    from stdnum import luhn

    runs = _DIGIT_RUN.findall(value)
    if not runs:
        return 0.0
    digits = max(runs, key=len)
    return 1.0 if 12 <= len(digits) <= 19 and luhn.is_valid(digits) else 0.0


def cn_mobile_quality(value: str) -> float:
    """Mainland mobile number via ``phonenumbers`` (region CN, +86 accepted).

    1.0 valid with type MOBILE (or FIXED_LINE_OR_MOBILE); 0.5 for an 11-digit ``1...`` number in no
    known range (e.g. a range opened after the library's metadata); else 0.
    """
    import phonenumbers as pn

    if value.startswith("00"):
        value = "+" + value[2:]
    try:
        num = pn.parse(value, "CN")
    except pn.NumberParseException:
        return 0.0
    national = str(num.national_number)
    if num.country_code != 86 or len(national) != 11 or not national.startswith("1"):
        return 0.0
    if pn.is_valid_number(num) and pn.number_type(num) in (
        pn.PhoneNumberType.MOBILE,
        pn.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return 1.0
    return 0.5 if pn.is_possible_number(num) else 0.0


_EXT = re.compile(r"^(\+?\d+)(?:(?:x|ext|#|转)(\d{1,6}))?$", re.IGNORECASE)


def phone_quality(value: str) -> float:
    """Any phone number via ``phonenumbers``: numbers with ``+`` parse on their own country code,
    others are tried as CN then US numbers. 1.0 valid, 0.7 possible (right length), else 0.
    Extensions (``x123``, ``ext123``, ``转123``) are allowed and ignored.
    """
    import phonenumbers as pn

    if value.startswith("00"):
        value = "+" + value[2:]
    m = _EXT.match(value)
    if m is None:
        return 0.0
    number = m.group(1)
    best = 0.0
    for region in (None,) if number.startswith("+") else ("CN", "US"):
        try:
            num = pn.parse(number, region)
        except pn.NumberParseException:
            continue
        if pn.is_valid_number(num):
            return 1.0
        if pn.is_possible_number(num):
            best = 0.7
    return best


def us_ssn_quality(value: str) -> float:
    """US Social Security number via ``stdnum.us.ssn`` (area not 000/666/9xx, group and serial not
    zero, SSA's advertised sample numbers rejected): 1 or 0. There is no check digit, which is why the
    detector needs the dashed shape or a header."""
    from stdnum.us import ssn

    return 1.0 if ssn.is_valid(value) else 0.0


def fr_nir_quality(value: str) -> float:
    """French social security number (NIR / numéro INSEE, 15 characters) with its mod-97 key via
    ``stdnum.fr.nir``: 1 or 0."""
    from stdnum.fr import nir

    return 1.0 if nir.is_valid(value) else 0.0


def iban_quality(value: str) -> float:
    """IBAN (ISO 13616): country format and ISO 7064 mod-97 check via ``stdnum.iban``: 1 or 0."""
    from stdnum import iban

    return 1.0 if iban.is_valid(value) else 0.0


def mac_quality(value: str) -> float:
    """EUI-48 MAC address via ``stdnum.mac``: 1.0 for a unicast address whose manufacturer prefix
    (OUI) is registered, 0.8 for any other well-formed address (randomised privacy addresses are
    locally administered, and stdnum's OUI table lags new registrations), 0 otherwise."""
    from stdnum import mac

    if not mac.is_valid(value, validate_manufacturer=False):
        return 0.0
    if mac.is_unicast(value) and mac.is_universally_administered(value):
        try:
            mac.get_manufacturer(value)
            return 1.0
        except ValueError:  # stdnum's InvalidComponent: an unknown prefix only lowers the quality
            pass
    return 0.8


def imei_quality(value: str) -> float:
    """IMEI (15 digits with Luhn check) or IMEISV (16 digits) via ``stdnum.imei``: 1 or 0."""
    from stdnum import imei

    return 1.0 if imei.is_valid(value) else 0.0


def email_quality(value: str) -> float:
    """E-mail syntax via ``email_validator.validate_email(check_deliverability=False)``: 1 or 0."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return 0.0
    return 1.0


def ip_quality(value: str) -> float:
    """IPv4 or IPv6 address via ``ipaddress.ip_address``: 1 or 0."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return 0.0
    return 1.0


_CJK = re.compile(r"[\u3400-\u9fff]")
_PARTICLES = frozenset(
    ["de", "da", "do", "dos", "das", "di", "du", "del", "della", "der", "den", "van", "von", "le", "la"]
    + ["ten", "ter", "bin", "al", "y", "e", "st"]
)
_HONORIFICS = frozenset(["mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam", "mx"])


def _latin_token_ok(tok: str) -> bool:
    if tok.casefold() in _PARTICLES:
        return True
    core = tok.replace("'", "").replace("’", "").replace("-", "").replace(".", "")
    return bool(core) and core.isalpha() and tok[0].isupper()


def person_name_quality(value: str) -> float:
    """How much a value looks like a person's name (0..1); header evidence is always needed too.

    Chinese: 2-4 Han characters starting with a surname from the table (single or compound) -> 1.0;
    names with a middle dot (minority or transliterated names) -> 0.8; other short Han strings ->
    0.4; longer Han strings -> 0.2. Latin script: 1-4 capitalised tokens (particles such as
    ``van``/``de`` allowed) whose first given token is in the given-name dictionary -> 0.95, two or
    more such tokens -> 0.6, a single token -> 0.5, otherwise 0.1.
    """
    if _CJK.search(value):
        core = value.replace("·", "").replace("•", "").replace(" ", "")
        if not all(_CJK.match(c) for c in core):
            return 0.1
        if "·" in value or "•" in value:
            return 0.8
        if 2 <= len(core) <= 4:
            if core[0] in _lexicon.CN_SURNAMES or core[:2] in _lexicon.CN_COMPOUND_SURNAMES:
                return 1.0
            return 0.4
        return 0.2
    tokens = value.split()
    if not 1 <= len(tokens) <= 4 or not all(_latin_token_ok(t) for t in tokens):
        return 0.1
    given = [t for t in tokens if t.rstrip(".").casefold() not in _HONORIFICS]
    if given and given[0].rstrip(".").casefold() in _lexicon.latin_given_names():
        return 0.95
    return 0.6 if len(tokens) >= 2 else 0.5


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})|^(\d{4})(\d{2})(\d{2})$")


def birth_date_quality(value: str) -> float:
    """A calendar date between 1880-01-01 and today: 1 or 0 (ISO, ``/``, ``.``, ``年月日``, YYYYMMDD)."""
    m = _DATE.match(value)
    if m is None:
        return 0.0
    y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    return 1.0 if _date(int(y), int(mo), int(d)) is not None else 0.0


_CN_PASSPORT = re.compile(r"^(?:E[0-9A-HJ-NP-Z]\d{7}|[EGDSP]\d{8}|[DSP]E\d{7})$")
_CN_PERMIT = re.compile(r"^(?:C[0-9A-Z]\d{7}|[HM]\d{8,10}|[TL]\d{8}|\d{8}|\d{10})$")


def passport_quality(value: str) -> float:
    """Passport number shape (no check digit exists): 1.0 PRC formats (E/G/D/S/P series), else 0.6."""
    return 1.0 if _CN_PASSPORT.match(value) else 0.6


def travel_permit_quality(value: str) -> float:
    """Travel permit shape (HK/Macau C-series, home-return H/M, Taiwan T/L, 台胞证): 1.0, else 0.6."""
    return 1.0 if _CN_PERMIT.match(value) else 0.6


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _embedded_resident_id(s: str) -> bool:
    q = resident_id_quality(s.upper())
    return q >= (0.6 if len(s) == 18 else 0.85)


def _embedded_bank_card(s: str) -> bool:
    d = _digits(s)
    return 16 <= len(d) <= 19 and bank_card_quality(d) == 1.0


def _embedded_mobile(s: str) -> bool:
    return cn_mobile_quality(_digits(s)) == 1.0


def _embedded_email(s: str) -> bool:
    return email_quality(s) == 1.0


# --------------------------------------------------------------------------------------------
# Built-in detectors.

_SEP = r"[\s\-]"
_PHONE_SEP = r"[\s\-().（）/]"

_ADDRESS_PART_HEADERS = (
    r"^(?:(?:billing|shipping|mailing|home|work|delivery|residence|residential|contact) )?"
    r"(?:city|town|state|province|prefecture|county|district|suburb|postal ?code|post ?code|postcode"
    r"|zip(?: ?code)?|zipcode)$"
    r"|^(?:所在|居住|收货|联系)?(?:省|省份|市|城市|区|区县|县|街道|乡镇|邮编|邮政编码)$"
)


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
            validator=resident_id_quality,
            prep=Prep(remove=_SEP, upper=True),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.95,
            # 0.6 lets a column of IDs with unknown address codes through; random 18-digit numbers
            # pass the check character and a valid birth date far too rarely to reach it.
            min_value_rate=0.6,
            embedded=EmbeddedRule(
                prefilter=r"\d{15}",
                pattern=r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])",
                validator=_embedded_resident_id,
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
            validator=uscc_quality,
            prep=Prep(remove=_SEP, upper=True),
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
            # Without a header: 16-19 digits whose first digit is a banking/financial industry
            # identifier (ISO/IEC 7812 MII 3-6; UnionPay starts 62).
            pattern=r"^[3-6]\d{15,18}$",
            header_pattern=r"\d{10,30}",
            validator=bank_card_quality,
            prep=Prep(remove=_SEP),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.9,
            min_value_rate=0.9,  # a random 16-digit number passes Luhn one time in ten
            embedded=EmbeddedRule(
                prefilter=r"\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}",
                pattern=r"(?<!\d)(\d{4}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?)(?!\d)",
                validator=_embedded_bank_card,
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
            validator=cn_mobile_quality,
            prep=Prep(remove=_PHONE_SEP),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.92,
            embedded=EmbeddedRule(
                prefilter=r"1[3-9]\d[ -]?\d{4}[ -]?\d{4}",
                pattern=r"(?<![\d])(?:(?:\+|00)86[ -]?)?(1[3-9]\d(?:[ -]?\d{4}){2})(?!\d)",
                validator=_embedded_mobile,
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
            validator=phone_quality,
            prep=Prep(remove=_PHONE_SEP),
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.85,
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
            validator=email_quality,
            base_confidence=0.95,
            embedded=EmbeddedRule(
                prefilter=r"@[A-Za-z0-9-]+\.[A-Za-z]",
                pattern=r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                validator=_embedded_email,
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
            header_exclude=r"\bversion\b|\bver\b|\bbuild\b|\brelease\b|\bfirmware\b|版本",
            pattern=r"^\d{1,3}(?:\.\d{1,3}){3}$|^[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}$",
            validator=ip_quality,
            base_confidence=0.9,
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
            validator=passport_quality,
            prep=Prep(remove=_SEP, upper=True),
            base_confidence=0.6,
            value_only=False,
            min_weak_rate=0.5,
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
            validator=travel_permit_quality,
            prep=Prep(remove=_SEP, upper=True),
            base_confidence=0.6,
            value_only=False,
            min_weak_rate=0.9,  # under a generic 证件号 header prefer passport unless the shape is a permit's
        ),
        Detector(
            name="birth_date",
            pi_type="birth_date",
            description="Date of birth; any date column could be anything, so header evidence is required",
            headers=(
                HeaderRule("zh", r"出生|生日|生年月日"),
                HeaderRule("en", r"\bbirth|birthday|birthdate|\bdob\b|\bborn\b"),
            ),
            pattern=r"^\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?(?:[ T].*)?$|^\d{8}$",
            validator=birth_date_quality,
            kinds=frozenset({"string", "integer", "temporal"}),
            base_confidence=0.8,
            value_only=False,
        ),
        Detector(
            name="gender",
            pi_type="gender",
            description="Gender / sex code; a one-letter code means nothing without the header",
            headers=(HeaderRule("zh", r"性别"), HeaderRule("en", r"\bgender\b|\bsex\b")),
            pattern=r"(?i)^(?:男|女|男性|女性|未知|其他|m|f|u|x|male|female|man|woman|other|unknown|[0129])$",
            kinds=frozenset({"string", "integer"}),
            base_confidence=0.8,
            value_only=False,
        ),
        Detector(
            name="person_name",
            pi_type="person_name",
            description="Person's name: Chinese via the surname table, Latin by shape; header required",
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
            # Unbounded on purpose: a counted repeat of a Unicode class costs RE2 ~60 ms to compile.
            pattern=r"^\p{L}[\p{L}\p{M}·•'’.\- ]*$",
            validator=person_name_quality,
            base_confidence=0.85,
            value_only=False,
            min_weak_rate=0.75,
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
            header_pattern=r"\p{L}",
            base_confidence=0.8,
            min_weak_rate=0.6,
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
            header_pattern=r"[\p{L}\p{N}].{2,}",
            base_confidence=0.75,
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
        ),
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


def default_registry() -> DetectorRegistry:
    """A fresh registry holding the built-in detectors, free-text profile and non-PI hints."""
    return DetectorRegistry(
        builtin_detectors(), free_text=builtin_free_text_profile(), non_pi_hints=builtin_non_pi_hints()
    )
