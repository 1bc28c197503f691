"""Postal addresses from their values: street lines, and the parts of an address beside one.

Street lines (:func:`street_scores`, the value model of ``postal_address``; the detector's RE2
shape already takes Chinese addresses with a province or city and numbered English streets):

- Chinese and Japanese addresses: an administrative or street unit (省 市 县 区 州 都 道 府 県 镇
  乡 村 路 街 巷 弄 段 町 丁目, simplified or traditional) followed within a few characters by a
  house number with its counter (号 號 番 番地 弄 楼 樓 室): ``高雄市大勇街3段209號1樓``,
  ``宮崎県江東区独鈷沢23丁目12番5号``; 1.0.
- Latin script, per value: a house number (``12``, ``7727B``, ``3174/6``) and a street word (the
  street suffixes of USPS Publication 28 appendix C1, Spain's INE types of road, Italy's generic
  toponyms, the types of the Brazilian postal directory (DNE: Rua, Travessa, Trevo, Pátio ...),
  French, German, Dutch, Nordic, Finnish, Czech, Polish and Hungarian counterparts, also as the
  end of a compound: ``Theodor-Heuss-Straße 34``, ``Ullevålsveien 14``, or a unit word:
  ``Flat 43Y``, ``Apt. 21``, ``Piso 7``): 1.0; a leading house
  number and two or more words without a street word (``248 Jeanne Unions``): 0.7; a number and
  words otherwise (``Klanova 9/506``, but also ``Windows 11``): 0.3; anything else 0.
- Accepted as ``postal_address`` at a mean of ``STREET_MIN_RATE`` (0.75); a column in which
  fewer values hold a digit scores 0 at once. On the benchmark's calibration tables Chinook's
  street lines score 0.88-1.0 and every negative 0 (product names with versions, song titles,
  codes).

Address parts (:func:`part_scores`, the value model of ``address_part``): city, state or province
and postal code are PI as parts of an address (GB/T 35273-2020 Annex A lists the postal address;
the benchmark's labels and the policy follow it), and only beside one: the classifier asks this
model only for the columns of the *address block*, the run of columns next to a street-address
column of the same table (:func:`block`), so a city column used as business data elsewhere stays
not PI. Per value 1.0 for a place name (one to five capitalised words or particles, or 2-10 Han
characters, no digit), a region code (two or three capital letters: ``SP``, ``QC``, ``NSW``) or a
postal code (2-10 letters and digits in at most two groups, at least two digits: ``70174``,
``H2G 1A7``, ``12227-000``); accepted at ``PART_MIN_RATE`` (0.8).

Countries (:func:`is_country_column`) are never PI on their own, but a country column often sits
inside an address block (``City, State, Country, PostalCode``): the walk steps over it. Country
names come from Unicode CLDR (through Babel) in twelve languages, Faker's locale lists and common
short forms (:func:`country_names`).

Values stay in memory; nothing is logged.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.classification.name_lists import fold
from custody.classification.registry import Detector, ValueContext
from custody.classification.scoring import Decision, score_values

STREET_MIN_RATE = 0.75
PART_MIN_RATE = 0.8
#: Share of a column's values that must be country names for the address walk to step over it.
COUNTRY_MIN_SHARE = 0.8

# A unit of a Chinese or Japanese address, then a house number with its counter.
_HAN_STREET = (
    r"(?:省|市|县|縣|区|區|州|都|道|府|県|镇|鎮|乡|鄉|村|路|街|巷|弄|段|町|丁目)"
    r"[^0-9]{0,12}[0-9]+\s*(?:号|號|番地|番|弄|楼|樓|室)"
)
# Street types: the street suffix names of USPS Publication 28 appendix C1 (full and abbreviated),
# the Spanish types of road of the INE street directory (tipos de vía), the Italian generic
# toponyms (DUG), the types of the Brazilian postal directory (DNE tipos de logradouro), and the
# usual words of other countries whose addresses appear in customer data; then words of the unit
# part of an address line (Flat 5, Apt. 21, Piso 7).
_STREET_WORDS = frozenset(
    """
    alley aly avenue ave av branch br bridge brg brook brooks brk burg burgs bypass byp camp cp canyon cyn
    cape cpe causeway cswy center centers ctr circle circles cir cliff cliffs clf club clb common commons
    corner corners cor course crse court courts ct cove coves cv creek crk crescent cres crest crst
    crossing xing crossroad curve dale dl dam dm divide dv drive drives dr estate estates est expressway
    expy extension extensions ext fall falls fls ferry fry field fields fld flat flats flt ford fords frd
    forest frst forge forges frg fork forks frk fort ft freeway fwy garden gardens gdn gateway gtwy glen
    glens gln green greens grn grove groves grv harbor harbors hbr haven hvn heights hts highway hwy hill
    hills hl hollow holw inlet inlt island islands is isle junction junctions jct key keys ky knoll
    knolls knl lake lakes lk land landing lndg lane ln light lights lgt loaf lf lock locks lck lodge ldg
    loop mall manor manors mnr meadow meadows mdw mews mill mills ml mission msn motorway mtwy mount mt
    mountain mountains mtn neck nck orchard orch oval overpass opas park parks parkway parkways pkwy pass
    passage psge path pike pine pines pne place pl plain plains pln plaza plz point points pt port ports
    prt prairie pr radial radl ramp ranch rnch rapid rapids rpd rest rst ridge ridges rdg river riv road
    roads rd route rte row rue run shoal shoals shl shore shores shr skyway skwy spring springs spg spur
    spurs square squares sq station sta stravenue stra stream strm street streets st summit smt terrace
    ter throughway trwy trace trce track trak trafficway trfy trail trl tunnel tunl turnpike tpke
    underpass upas union unions un valley valleys vly via viaduct vdct view views vw village villages vlg
    ville vl vista vis walk walks wall way ways well wells wl close
    rue chemin allee allée impasse quai cours passage boulevard bd bvd
    calle c acceso alameda autovia autovía avenida avda bajada callejon callejón camino canada cañada
    carrera carretera ctra cuesta glorieta pasadizo pasaje paseo plaza pza rambla ronda travesia
    travesía urbanizacion urbanización vial
    rua praca praça largo estrada rodovia travessa aeroporto area área campo chacara chácara colonia colônia
    condominio condomínio conjunto distrito esplanada estacao estação favela fazenda feira jardim ladeira
    lago lagoa loteamento morro nucleo núcleo parque passarela patio pátio quadra recanto residencial
    setor sitio sítio trecho trevo vale vereda viaduto viela vila
    via viale piazza piazzale corso vicolo strada contrada borgo rotonda incrocio canale salita
    lungomare localita località frazione
    strasse straße str weg platz ring damm ufer chaussee
    straat laan plein gracht kade singel dreef
    gade vej gata gatan vagen vägen veien vegen plass torg
    katu tie kuja
    ulice namesti náměstí trida třída ulica ul aleja utca ut út ter tér
    flat apt apartment suite ste unit studio floor fl room rm po box piso planta puerta piano interno
    appartamento scala bloco bloque andar sala
    """.split()
)
# Compound street names end in these (Theodor-Heuss-Straße, Grétrystraat, Porthaninkatu).
_STREET_ENDINGS = (
    "strasse", "straße", "str.", "straat", "gasse", "weg", "platz", "allee", "damm", "ring",
    "gatan", "gata", "vagen", "vägen", "veien", "vegen", "vej", "gade", "katu", "tie", "utca", "laan",
    "plein", "gracht", "kade", "steeg", "pad", "dijk", "baan", "markt", "kanaal", "plantsoen", "singel",
    "dreef", "hof", "erf", "steig", "pfad", "ufer", "gässchen", "stieg",
)  # fmt: skip
_HOUSE_NUMBER = re.compile(r"^\d{1,6}[A-Za-z]?(?:[/-]\d{1,5}[A-Za-z]?)?$")
_WORD = re.compile(r"^[^\W\d_][^\W\d_.'’\-]*(?:[.'’\-][^\W\d_]*)*$")
_PLACE_PARTICLES = frozenset(
    "de da do dos das du des la le les sur am an der im upon on en el y del di of and".split()
)
_POSTCODE = re.compile(r"^(?=(?:.*\d){2})[A-Za-z0-9]{2,8}(?:[ -][A-Za-z0-9]{2,5})?$")
_REGION_CODE = re.compile(r"^[A-Z]{2,3}$")
_HAN_PLACE = re.compile(r"^[\u3400-\u9fff]{2,10}$")
# Short forms of country names that the locale lists spell out.
_COUNTRY_ALIASES = ("USA", "U.S.A.", "U.S.", "UK", "U.K.", "UAE", "PRC", "ROK", "中國", "美國")


def street_quality_of(value: str) -> float:
    """Quality 0..1 of one Latin-script value being a street line (rules in the module docstring)."""
    words = [w.strip(",.;") for w in value.replace(",", " ").split()]
    words = [w for w in words if w]
    if not 2 <= len(words) <= 14:
        return 0.0
    numbers = [i for i, w in enumerate(words) if _HOUSE_NUMBER.match(w)]
    alpha = [w for w in words if _WORD.match(w)]
    if not numbers or not alpha:
        return 0.0
    if any(_street_word(w) for w in alpha):
        return 1.0
    if numbers[0] == 0 and len(alpha) >= 2:
        return 0.7
    return 0.3


def _street_word(word: str) -> bool:
    low = word.casefold()
    return fold(low) in _STREET_WORDS or low in _STREET_WORDS or low.endswith(_STREET_ENDINGS)


def _per_distinct(values: pa.Array, quality: Callable[[str], float], candidates: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values))
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return out
    picked = values.take(pa.array(idx))
    distinct = pc.unique(picked)
    scores = np.array([quality(v) for v in distinct.to_pylist()] + [0.0])
    pos = pc.fill_null(pc.index_in(picked, value_set=distinct), len(distinct)).to_numpy(zero_copy_only=False)
    out[idx] = scores[pos]
    return out


def street_scores(sample: pa.Array, ctx=None) -> np.ndarray:
    """Value model of ``postal_address``: quality per value of ``sample`` (``pa.string()``) being a
    street line or a Chinese / Japanese address. ``ctx`` is not used."""
    if len(sample) == 0:
        return np.zeros(0)
    digit = pc.fill_null(pc.match_substring_regex(sample, r"[0-9]"), False).to_numpy(zero_copy_only=False)
    if digit.mean() < STREET_MIN_RATE:  # every street line scored here has a house number
        return np.zeros(len(sample))
    han = pc.fill_null(pc.match_substring_regex(sample, _HAN_STREET), False).to_numpy(zero_copy_only=False)
    latin = _per_distinct(sample, street_quality_of, digit & ~han)
    return np.where(han, 1.0, latin)


def part_quality_of(value: str) -> float:
    """Quality 0..1 of one value being a place name, a region code or a postal code."""
    if _POSTCODE.match(value) or _REGION_CODE.match(value) or _HAN_PLACE.match(value):
        return 1.0
    words = value.split()
    if not 1 <= len(words) <= 5 or len(value) > 40 or any(c.isdigit() for c in value):
        return 0.0
    for i, w in enumerate(words):
        if 0 < i and w.casefold() in _PLACE_PARTICLES:
            continue
        if not _WORD.match(w) or not w[0].isupper():
            return 0.0
    return 1.0


def part_scores(sample: pa.Array, ctx=None) -> np.ndarray:
    """Value model of ``address_part``: quality per value of ``sample`` (``pa.string()``; integers
    arrive as their digits) being a city, state or province, or postal code. ``ctx`` is not used;
    the classifier asks only for columns of an address block (:func:`block`)."""
    return _per_distinct(sample, part_quality_of, np.ones(len(sample), dtype=bool))


@lru_cache(maxsize=1)
def country_names() -> frozenset[str]:
    """Folded country and territory names: the CLDR names of Babel in twelve languages
    (``United States``, ``Czechia``, ``德国``), Faker's locale lists (``Czech Republic``,
    ``United States of America``) and common short forms (``USA``, ``UK``)."""
    import importlib

    from babel import Locale

    names = {fold(a) for a in _COUNTRY_ALIASES}
    for locale in ("en", "de", "fr", "es", "pt", "it", "nl", "zh", "zh_Hant", "ja", "ko", "ru"):
        names.update(fold(n) for n in Locale.parse(locale).territories.values())
    for locale in ("en_US", "de_DE", "fr_FR", "es_ES", "pt_BR", "it_IT", "nl_NL", "zh_CN", "zh_TW", "ja_JP"):
        try:
            provider = importlib.import_module(f"faker.providers.address.{locale}").Provider
        except (ImportError, AttributeError):
            continue
        names.update(fold(str(c)) for c in getattr(provider, "countries", ()) or ())
    return frozenset(names)


def is_country_column(sample: pa.Array) -> bool:
    """True when at least ``COUNTRY_MIN_SHARE`` of ``sample`` (``pa.string()``) are country names."""
    if len(sample) == 0:
        return False
    counts = pc.value_counts(sample)
    names = country_names()
    values, freq = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
    hits = sum(c for v, c in zip(values, freq) if fold(v) in names)
    return hits >= COUNTRY_MIN_SHARE * len(sample)


Step = Literal["part", "pass", "stop"]


def block(names: Sequence[str], anchor: int, step: Callable[[str], Step]) -> list[str]:
    """The columns of the address block around ``names[anchor]`` (a street-address column).

    Walking away from the anchor in both directions, each column's ``step`` says: ``part`` (it is
    an address part: it joins the block), ``pass`` (a country, an empty column, another address
    column: stepped over) or ``stop`` (anything else ends the walk that way). Returns the part
    columns, nearest first; ``step`` is asked at most once per column and direction.
    """
    out: list[str] = []
    for direction in (1, -1):
        i = anchor + direction
        while 0 <= i < len(names):
            verdict = step(names[i])
            if verdict == "stop":
                break
            if verdict == "part":
                out.append(names[i])
            i += direction
    return out


def part_decisions(
    names: Sequence[str],
    final: dict[str, Decision],
    streets: set[str],
    det: Detector,
    column: Callable[[str], tuple[str | None, pa.Array]],
    ctx: ValueContext,
) -> None:
    """The classifier's pass 3: around each street-address column of ``streets``, the undecided
    columns of the address block whose values ``det`` (the ``address_part`` detector) accepts
    become that address's parts: ``final[name]`` is replaced by a ``postal_address`` decision with
    reason ``context:postal_address:<street>`` and table context ``address:<street>``.

    ``final``: column -> decision so far (updated in place); ``column(name)``: its type family and
    sample. A column already of the address's type, a country column (its reason becomes
    ``not_pi:country_reference``) or an empty one is stepped over; any other decided column, a
    column whose header says what it is, or one whose values are not parts ends the walk.
    """

    def step(name: str, street: str) -> Step:
        d = final[name]
        if d.pi_type == det.requires_column or d.reason == "not_pi:country_reference":
            return "pass"
        kind, sample = column(name)
        if d.pi_type is not None or kind is None or d.reason != "not_pi:no_detector_matched":
            return "stop"
        if len(sample) == 0:
            return "pass"
        if is_country_column(sample):
            final[name] = dataclasses.replace(d, reason="not_pi:country_reference")
            return "pass"
        s = score_values(det, kind, sample, ctx)
        if s is None or not s.accepted:
            return "stop"
        final[name] = Decision(
            det.pi_type,
            s.confidence,
            f"context:{det.requires_column}:{street}",
            detector=det.name,
            match_rate=s.match_rate,
            sample_size=len(sample),
            context=f"address:{street}",
        )
        return "part"

    order = list(names)
    for i, name in enumerate(order):
        if name in streets:
            block(order, i, lambda other, street=name: step(other, street))
