"""Value validators of the detectors whose identifiers no other part of Custody checks.

Identifiers that validation or pseudonyms also handle (resident IDs, USCCs, phones, bank cards,
e-mail, passports, travel permits, birth dates) have their one rule set in
:mod:`custody.identifiers`; this module holds the rest, each a thin wrapper over a library check
(python-stdnum, ``ipaddress``) returning a quality in ``[0, 1]``: US Social Security numbers, French
NIR, IBAN (ISO 13616), device identifiers (IEEE EUI-48 MAC, IMEI) and IP addresses, which GB/T
35273-2020 Annex A lists as personal common device and network information; plus the person-name
grading that uses the word lists of :mod:`custody.classification._lexicon`, and the validators of
the embedded (free-text) rules, which delegate to :mod:`custody.identifiers`.

Values reach validators only in memory; nothing here logs or raises with a value.
"""

from __future__ import annotations

import ipaddress
import re

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


_NON_DIGIT = re.compile(r"\D")


def embedded_resident_id(candidate: str) -> bool:
    """A resident ID found in free text counts when the rule recognises it with quality >= 0.6
    (18 characters: check character and birth date right) or >= 0.85 (15 digits with a known
    address code: a bare 15-digit run in text is too often something else)."""
    q = resident_id.recognise(candidate)
    return q >= (0.6 if len(candidate) == 18 else 0.85)


def embedded_bank_card(candidate: str) -> bool:
    """A card number in free text: its digits are a valid 16-19 digit card (Luhn)."""
    return bank_card.is_valid(_NON_DIGIT.sub("", candidate))


def embedded_mobile(candidate: str) -> bool:
    """A mainland mobile in free text: its digits are a mobile of an allocated range."""
    return mobile.recognise(_NON_DIGIT.sub("", candidate)) == 1.0


def embedded_email(candidate: str) -> bool:
    """An e-mail address in free text: valid syntax."""
    return email_address.is_valid(candidate)
