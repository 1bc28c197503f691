"""Value validators of the detectors whose identifiers no other part of Custody checks.

Identifiers that validation or pseudonyms also handle (resident IDs, USCCs, phones, bank cards,
e-mail, passports, travel permits, birth dates) have their one rule set in
:mod:`custody.identifiers`; this module holds the rest, each a thin wrapper over a library check
(python-stdnum, ``ipaddress``) returning a quality in ``[0, 1]``: US Social Security numbers, French
NIR, IBAN (ISO 13616), device identifiers (IEEE EUI-48 MAC, IMEI) and IP addresses, which GB/T
35273-2020 Annex A lists as personal common device and network information; plus the person-name
grading that uses the word lists of :mod:`custody.classification._lexicon`, the validators of
the embedded (free-text) rules, which delegate to :mod:`custody.identifiers`, and the scorers of the
values-only models (birth dates from a column's distribution, gender from its vocabulary, Chinese
names from :mod:`custody.classification.names`).

Values reach validators only in memory; nothing here logs or raises with a value.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

import numpy as np
import pyarrow as pa

from custody.classification import _lexicon
from custody.identifiers import bank_card, email_address, mobile, resident_id

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


@lru_cache(maxsize=1)
def _oui_index() -> dict[str, tuple[bool, bool]]:
    """python-stdnum's IEEE OUI registry indexed once: ``{prefix: (named, has_blocks)}`` per 24-bit
    prefix (its ranges span at most 16 prefixes, so they are expanded). stdnum's own lookup scans
    all ~38,000 entries in Python for every address (milliseconds each)."""
    from stdnum import numdb

    index: dict[str, tuple[bool, bool]] = {}
    for length, low, high, props, children in numdb.get("oui").prefixes:
        for n in range(int(low, 16), int(high, 16) + 1):
            prefix = f"{n:0{length}X}"
            named, blocks = index.get(prefix, (False, False))
            index[prefix] = (named or "o" in props, blocks or bool(children))
    return index


def _oui_registered(value: str) -> bool:
    """True when stdnum's ``mac.get_manufacturer`` would name a manufacturer for ``value`` (a
    valid MAC): the same registry and the same answer, looked up in :func:`_oui_index`. Prefixes
    split into MA-M / MA-S blocks are left to stdnum itself."""
    from stdnum import mac

    named, blocks = _oui_index().get(mac.compact(value).replace(":", "").upper()[:6], (False, False))
    if blocks:
        try:
            mac.get_manufacturer(value)
            return True
        except (ValueError, KeyError):  # InvalidComponent, or a block without a name
            return False
    return named


def mac_quality(value: str) -> float:
    """EUI-48 MAC address via ``stdnum.mac``: 1.0 for a unicast address whose manufacturer prefix
    (OUI) is registered, 0.8 for any other well-formed address (randomised privacy addresses are
    locally administered, and stdnum's OUI table lags new registrations), 0 otherwise."""
    from stdnum import mac

    if not mac.is_valid(value, validate_manufacturer=False):
        return 0.0
    if mac.is_unicast(value) and mac.is_universally_administered(value) and _oui_registered(value):
        return 1.0
    return 0.8


def imei_quality(value: str) -> float:
    """IMEI (15 digits with Luhn check) or IMEISV (16 digits) via ``stdnum.imei``: 1 or 0."""
    from stdnum import imei

    return 1.0 if imei.is_valid(value) else 0.0




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
    ``van``/``de`` allowed) whose first given token is in the given-name dictionary -> 0.95, a single
    token in the surname dictionary -> 0.9, two or more such tokens -> 0.6, a single token -> 0.5,
    otherwise 0.1. Two Han parts of 1-3 characters separated by a space (``山田 太郎``) -> 0.9.
    """
    if _CJK.search(value):
        core = value.replace("·", "").replace("•", "").replace(" ", "")
        if not all(_CJK.match(c) for c in core):
            return 0.1
        if "·" in value or "•" in value:
            return 0.8
        parts = value.split()
        if len(parts) == 2 and all(1 <= len(p) <= 3 for p in parts):
            return 0.9  # family and given name written apart (Japanese style, 山田 太郎)
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
    if len(given) == 1 and given[0].casefold() in _lexicon.latin_surnames():
        return 0.9
    return 0.6 if len(tokens) >= 2 else 0.5


_NON_DIGIT = re.compile(r"\D")


def embedded_resident_id(candidate: str) -> bool:
    """A resident ID found in free text counts when the rule recognises it with quality >= 0.6
    (18 characters: check character and birth date right) or >= 0.85 (15 digits with a known
    address code: a bare 15-digit run in text is too often something else)."""
    q = resident_id.recognise(candidate)
    return q >= (0.6 if len(candidate) == 18 else 0.85)


#: ISO/IEC 7812-1 major industry identifiers of payment cards: 2 (Mastercard 2-series), 3 (travel
#: and entertainment: Amex, JCB, Diners), 4-5 (banking and financial), 6 (merchandising and banking:
#: UnionPay 62, Discover); the bank-card detector's header-less shape uses the same digits.
CARD_MII = frozenset("23456")


def embedded_bank_card(candidate: str) -> bool:
    """A card number in free text: its digits are a valid 16-19 digit card (Luhn) whose first
    digit is a payment-card industry (:data:`CARD_MII`); Luhn-valid tracking or waybill numbers
    starting 9 or 1 are not cards. Free text has no header to vouch for other ranges."""
    digits = _NON_DIGIT.sub("", candidate)
    return digits[:1] in CARD_MII and bank_card.is_valid(digits)


def embedded_mobile(candidate: str) -> bool:
    """A mainland mobile in free text: its digits are a mobile of an allocated range."""
    return mobile.recognise(_NON_DIGIT.sub("", candidate)) == 1.0


def embedded_email(candidate: str) -> bool:
    """An e-mail address in free text: valid syntax, as stored or after NFKC (classification
    protects a full-width address too)."""
    return email_address.recognise(candidate) > 0


# Column forms of the embedded validators: the same decision over every candidate the full scan of a
# free-text column found, at once. ASCII candidates are decided vectorised by the identifier rules'
# column paths; any other candidate by the per-value validator above.


def _ascii_rows(values: list[str]) -> np.ndarray:
    return np.fromiter((v.isascii() for v in values), dtype=bool, count=len(values))


def _split(candidates: list[str], per_value, column) -> np.ndarray:
    """``column(ascii candidates)`` for ASCII ones, ``per_value`` for the rest."""
    out = np.zeros(len(candidates), dtype=bool)
    simple = _ascii_rows(candidates)
    rows = np.flatnonzero(simple)
    if rows.size:
        out[rows] = column([candidates[i] for i in rows])
    for i in np.flatnonzero(~simple):
        out[i] = per_value(candidates[i])
    return out


def embedded_resident_id_column(candidates: list[str]) -> np.ndarray:
    """:func:`embedded_resident_id` over candidates: an 18-character one counts exactly when it is
    valid (check character and birth date; every address code grades >= 0.6), decided by
    :func:`custody.identifiers.resident_id.is_valid_column`; 15-digit ones one by one."""
    out = np.zeros(len(candidates), dtype=bool)
    long_ = np.fromiter((len(c) == 18 for c in candidates), dtype=bool, count=len(candidates))
    rows = np.flatnonzero(long_)
    if rows.size:
        out[rows] = resident_id.is_valid_column([candidates[i] for i in rows])
    for i in np.flatnonzero(~long_):
        out[i] = embedded_resident_id(candidates[i])
    return out


def embedded_bank_card_column(candidates: list[str]) -> np.ndarray:
    """:func:`embedded_bank_card` over candidates (Luhn as arithmetic)."""

    def column(values: list[str]) -> np.ndarray:
        digits = [_NON_DIGIT.sub("", v) for v in values]
        industry = np.fromiter((d[:1] in CARD_MII for d in digits), dtype=bool, count=len(digits))
        return industry & bank_card.is_valid_column(digits)

    return _split(candidates, embedded_bank_card, column)


def embedded_mobile_column(candidates: list[str]) -> np.ndarray:
    """:func:`embedded_mobile` over candidates: the national number read vectorised, the allocated
    range from libphonenumber's metadata in RE2 (:func:`custody.identifiers.mobile.allocated_column`)."""
    import pyarrow.compute as pc

    def column(values: list[str]) -> np.ndarray:
        digits = pa.array([_NON_DIGIT.sub("", v) for v in values], type=pa.string())
        national = pc.struct_field(pc.extract_regex(digits, r"^(?:0086|86)?(?P<n>1[3-9][0-9]{9})$"), "n")
        out = np.zeros(len(values), dtype=bool)
        rows = np.flatnonzero(pc.is_valid(national).to_numpy(zero_copy_only=False))
        if rows.size:
            out[rows] = mobile.allocated_column(national.take(pa.array(rows)))
        return out

    return _split(candidates, embedded_mobile, column)


def embedded_email_column(candidates: list[str]) -> np.ndarray:
    """:func:`embedded_email` over candidates: an ASCII address reads the same with or without
    NFKC, so :func:`custody.identifiers.email_address.is_valid_column` decides it."""
    return _split(candidates, embedded_email, email_address.is_valid_column)


# ---------------------------------------------------------------------------------- values-only
# Scorers of :class:`~custody.classification.registry.ValueModel`: whole sample in, quality per value
# out, vectorised; they may judge the column as a whole (spread of dates, both genders present).

#: Ages (years, on the run date) a customer's birth date plausibly gives.
HUMAN_AGE = (0.0, 110.0)
#: Birth-date columns of people: median age and spread (interquartile range, years) without and
#: with a person table; event dates (orders, log-ins, sign-ups, contracts) cluster in recent years.
BIRTH_MEDIAN_AGE = (18.0, 80.0)
BIRTH_MEDIAN_AGE_IN_CONTEXT = (8.0, 85.0)
BIRTH_MIN_IQR = 8.0
#: Most dates of the sample that may lie in the last year or in the future (events do; births of
#: customers rarely do).
BIRTH_MAX_RECENT = 0.02
BIRTH_MAX_FUTURE = 0.0
#: Fewest distinct dates, as a share of the dates read.
BIRTH_MIN_DISTINCT = 0.5


def birth_date_scores(sample, ctx):
    """Birth dates from the distribution of a date column (ISO text, ``YYYY年M月D日``, ``YYYYMMDD``,
    dates and timestamps as text). Per value 1.0 when it reads as a date giving an age in
    ``HUMAN_AGE`` on ``ctx.as_of``; all zeros when the column does not look like people's births:
    any future date, more than ``BIRTH_MAX_RECENT`` of the dates within the last year, median age
    outside ``BIRTH_MEDIAN_AGE`` (``BIRTH_MEDIAN_AGE_IN_CONTEXT`` in a table about people), or an
    fewer distinct dates than ``BIRTH_MIN_DISTINCT`` of them, or an
    interquartile range of ages under ``BIRTH_MIN_IQR`` years (hire dates of one cohort, invoices of
    a few years). Ages as in PIPL Art 28/31 counts: whole calendar years are not needed here."""
    import numpy as np

    from custody.classification.minors import birth_ymd_from_dates, ymd

    births = birth_ymd_from_dates(sample)
    y, m, d = births // 10_000, (births // 100) % 100, births % 100
    read = (births > 0) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31) & (y >= 1880)
    out = np.zeros(len(births))
    if read.sum() < max(5, 0.8 * len(births)):
        return out
    # People's birth dates are varied; a handful of repeated dates is a default or a cohort.
    if len(np.unique(births[read])) < BIRTH_MIN_DISTINCT * read.sum():
        return out
    today = ctx.as_of
    age = (today.year - y) + (today.month * 100 + today.day - (m * 100 + d)) / 1232.0
    age = np.where(read, age, np.nan)
    ages = age[read]
    future = float(np.mean(births[read] > ymd(today)))
    recent = float(np.mean(ages < 1.0))
    lo, hi = BIRTH_MEDIAN_AGE_IN_CONTEXT if ctx.people is not None else BIRTH_MEDIAN_AGE
    q25, median, q75 = np.percentile(ages, [25, 50, 75])
    if future > BIRTH_MAX_FUTURE or recent > BIRTH_MAX_RECENT or not lo <= median <= hi:
        return out
    if q75 - q25 < BIRTH_MIN_IQR:
        return out
    return np.where(read & (age >= HUMAN_AGE[0]) & (age <= HUMAN_AGE[1]), 1.0, 0.0)


#: Gender words (GB/T 2261.1-2003 names, English and one-letter codes); matched case-insensitively.
GENDER_WORDS = frozenset(["男", "女", "男性", "女性", "m", "f", "male", "female", "man", "woman", "boy", "girl"])
#: GB/T 2261.1-2003 numeric codes: 0 unknown, 1 male, 2 female, 9 not stated.
GENDER_CODES = frozenset(["0", "1", "2", "9"])
#: Share each of the two main values must have for a code column to read as gender.
GENDER_MIN_SHARE = 0.2


def gender_scores(sample, ctx):
    """Gender from its small vocabulary. Words (男/女, M/F, male/female): 1.0 per value in the
    vocabulary when both genders occur. Codes ``1``/``2`` (GB/T 2261.1-2003, with 0 and 9) only in a
    table about people (``ctx.people``) and when each of 1 and 2 holds at least
    ``GENDER_MIN_SHARE`` of the sample: status codes 1/2 are rarely that balanced, and outside a
    person table they are just codes."""
    import numpy as np
    import pyarrow.compute as pc

    text = pc.utf8_lower(sample)
    n = len(text)
    if n == 0:
        return np.zeros(0)
    words = pc.is_in(text, value_set=pa.array(sorted(GENDER_WORDS))).to_numpy(zero_copy_only=False)
    distinct = set(pc.unique(text).to_pylist())
    male = {"男", "男性", "m", "male", "man", "boy"}
    female = {"女", "女性", "f", "female", "woman", "girl"}
    if words.mean() >= 0.5 and distinct & male and distinct & female:
        return words.astype(np.float64)
    codes = pc.is_in(text, value_set=pa.array(sorted(GENDER_CODES))).to_numpy(zero_copy_only=False)
    if ctx.people is None or not distinct <= GENDER_CODES:
        return np.zeros(n)
    share1 = float(np.mean(pc.equal(text, "1").to_numpy(zero_copy_only=False)))
    share2 = float(np.mean(pc.equal(text, "2").to_numpy(zero_copy_only=False)))
    if min(share1, share2) < GENDER_MIN_SHARE:
        return np.zeros(n)
    return codes.astype(np.float64)


def person_name_scores(sample, ctx):
    """Person names from values: per value the best of the Chinese character statistics
    (:func:`custody.classification.names.name_quality`), the Japanese family-then-given form and
    the Latin-script name lists (:mod:`custody.classification.name_lists`; Latin single tokens
    only in a column varied enough, :func:`~custody.classification.name_lists.diverse_enough`)."""
    import numpy as np

    from custody.classification import name_lists
    from custody.classification.names import name_quality

    q = np.maximum(name_quality(sample), name_lists.japanese_name_quality(sample))
    latin = name_lists.latin_name_quality(sample)
    if latin.any() and name_lists.diverse_enough(sample):
        q = np.maximum(q, latin)
    return q


#: Share of a column's values that must carry an organisation form for the values-only model.
ORG_MIN_FORMS = 0.4
# Partnerships and family firms without a legal-form word ("Wade, Gardner and Lee", "Bakker & Buijs",
# "Smith & Sons"), and foundations, associations and cooperatives named by their first word.
_ORG_FORMS = re.compile(
    r"^[A-Z][\w'’.-]*(?: [A-Z][\w'’.-]*)?(?:, [A-Z][\w'’.-]*(?: [A-Z][\w'’.-]*)?)+,? (?:and|&) [A-Z][\w'’.-]*$"
    r"|^[A-Z][\w'’.-]* & [A-Z][\w'’.-]*$"
    r"|(?: and| &) (?:Sons|Co\.?|Company|Partners|Associates|Brothers|Bros\.?)$"
    r"|^(?:" + "|".join(_lexicon.ORG_PREFIXES) + r") \S"
)


_ORG_HAN_END = "(?:" + "|".join(_lexicon.HAN_ORG_ENDINGS) + ")$"
# Values that may hold a partnership or an opening organisation word (RE2, cheap).
_FORM_HINT = r",| and | & |^(?:" + "|".join(_lexicon.ORG_PREFIXES) + ") "


def _org_candidates(sample) -> int:
    """Values that may carry an organisation form: a Chinese organisation ending, or a last word
    (after a space or comma) that is a legal form once dots are dropped; vectorised with cheap
    patterns, an upper bound of the ``ORG_SUFFIX_RE2`` matches (whose compile costs ~1 ms)."""
    import pyarrow.compute as pc

    han = pc.fill_null(pc.match_substring_regex(sample, _ORG_HAN_END), False)
    spaced = pc.fill_null(pc.match_substring_regex(sample, r"[\s,]"), False)
    bound = pc.sum(pc.or_(han, spaced)).as_py() or 0
    if bound < ORG_MIN_FORMS * len(sample):
        return bound  # a Latin form or a partnership needs a space or comma before it
    last = pc.struct_field(pc.extract_regex(sample, r"[\s,](?P<w>[^\s,]+)$"), "w")
    word = pc.replace_substring(pc.utf8_lower(pc.fill_null(last, "")), ".", "")
    latin = pc.is_in(word, value_set=pa.array(sorted(_lexicon.LEGAL_FORMS)))
    listed = pc.fill_null(pc.match_substring_regex(sample, _FORM_HINT), False)
    return pc.sum(pc.or_(pc.or_(han, latin), listed)).as_py() or 0


def org_scores(sample, ctx):
    """Organisation names from values (value model of ``org_name``, when fewer than the detector's
    ``min_value_rate`` end in a legal form). Per value: 1.0 with a legal-form ending (the
    detector's RE2 shape: 有限公司, Inc., S.A., s.r.o. ...), a partnership form (``A, B and C``,
    ``A & B``, ``... & Sons``) or an opening organisation word (``Stichting``, ``Fundação``); 0
    when it reads as a person's full name (Latin given name and surname, or a Chinese name); 0.5
    otherwise (short names such as ``Telus``, ``华为``). All zeros unless at least
    ``ORG_MIN_FORMS`` of the values carry a form: without forms, names of products, places or
    people look the same. A column of customers mixing people and companies therefore stays
    unclaimed (its people score 0), not public organisation data."""
    import numpy as np
    import pyarrow.compute as pc

    from custody.classification import name_lists
    from custody.classification.names import name_quality

    n = len(sample)
    if n == 0 or _org_candidates(sample) < ORG_MIN_FORMS * n:
        return np.zeros(n)
    suffix = pc.fill_null(pc.match_substring_regex(sample, _lexicon.ORG_SUFFIX_RE2), False)
    listed = pc.fill_null(pc.match_substring_regex(sample, _FORM_HINT), False).to_numpy(zero_copy_only=False)
    forms = suffix.to_numpy(zero_copy_only=False).copy()
    if listed.any():
        texts = sample.to_pylist()
        for i in np.flatnonzero(listed & ~forms):
            forms[i] = _ORG_FORMS.search(texts[i]) is not None
    if forms.mean() < ORG_MIN_FORMS:
        return np.zeros(n)
    multi = pc.fill_null(pc.match_substring(sample, " "), False).to_numpy(zero_copy_only=False)
    person = (name_lists.latin_name_quality(sample) >= 0.8) & multi | (name_quality(sample) >= 0.5)
    return np.where(forms, 1.0, np.where(person, 0.0, 0.5))
