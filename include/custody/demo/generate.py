"""Synthetic Chinese CRM of an acquired IT firm: enterprise customers, contacts, bank cards, contracts.

The data stands in for the target company's CRM during a merger, so it carries the personal
information that PIPL and GB/T 35273 care about: names, mobiles, resident ID numbers (GB 11643),
emails, postal addresses, birth dates (including minors under 14, which are sensitive PI),
bank card numbers and free-text follow-up notes that sometimes repeat a phone or ID number.

Usage::

    crm = generate_crm(contacts=10_000)          # CRMData, a Mapping[str, pyarrow.Table]
    crm["contacts"].num_rows                     # 10_000
    crm.defects["contacts"]                      # {contact_id: "resident_id_checksum", ...}
    crm.pi_in_notes                              # {contact_id: "mobile" | "resident_id"}

Schemas, SQL definitions and ``CRMData`` are in ``custody.demo.crm``; the reference data it
samples (divisions, industries, banks, note templates) in ``custody.demo.reference``.

Determinism: every random choice comes from a ``random.Random`` or a Faker instance seeded from
``seed`` (no global random state, no wall clock; "today" is the fixed ``AS_OF`` date), so the same
seed and the same Faker version give byte-identical tables.

Validity guarantees for rows that are *not* listed in ``defects``:

- ``uscc`` passes ``stdnum.cn.uscc.validate`` (GB 32100 check character; the embedded
  organisation code also carries its GB 11714 check character);
- ``resident_id`` passes ``stdnum.cn.ric.validate`` (ISO 7064 MOD 11-2 check character, a real
  administrative division code that existed in the birth year, birth date equal to ``birth_date``,
  sequence parity matching ``gender``);
- ``mobile`` becomes ``1[3-9]`` + 9 digits once ``+86``, spaces and dashes are removed;
- ``email`` matches ``^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$``;
- ``account_number`` is 16-19 digits and passes ``stdnum.luhn.validate``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

import pyarrow as pa
from stdnum import luhn
from stdnum.cn import ric, uscc

from custody.demo.crm import (
    AS_OF,
    CRM_SCHEMAS,
    DEFAULT_SEED,
    DEFECT_COLUMNS,
    DEFECT_MOBILE_LENGTH,
    DEFECT_RESIDENT_ID_CHECKSUM,
    CRMData,
)
from custody.demo.reference import (
    BANKS,
    COMPOUND_SUFFIXES,
    COMPOUND_WORDS,
    HUB_SHARE,
    HUB_WEIGHTS,
    INDUSTRIES,
    MAIL_DOMAINS,
    MOBILE_PREFIXES,
    MUNICIPALITIES,
    NOTE_PI_MOBILE,
    NOTE_PI_RID,
    NOTE_TEMPLATES,
    PRODUCTS,
    ZIHAO_CHARS,
    Region,
    load_regions,
    valid_in,
)

#: Share of contacts whose notes repeat a mobile or resident ID number inline.
NOTES_PI_SHARE = 0.04
#: Share of contacts without any note.
NOTES_EMPTY_SHARE = 0.15


# --- helpers -------------------------------------------------------------------------------------


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap target year
        return day.replace(year=day.year - years, day=28)


def _add_years(day: dt.date, years: int) -> dt.date:
    return _years_before(day, -years)


def _rand_date(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    return dt.date.fromordinal(rng.randint(lo.toordinal(), hi.toordinal()))


def _epoch_us(day: dt.date) -> int:
    return (day.toordinal() - dt.date(1970, 1, 1).toordinal()) * 86_400_000_000


def _rand_ts(rng: random.Random, lo_us: int, hi_us: int) -> int:
    # Whole seconds: MariaDB DATETIME and SQLite text keep seconds exactly, so round trips compare.
    return rng.randint(lo_us // 1_000_000, hi_us // 1_000_000) * 1_000_000


def _org_code(rng: random.Random, modern: bool) -> str:
    """A GB 11714 organisation code: 8 body characters plus its MOD 11 check character."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # the USCC alphabet (no I, O, S, V, Z)
    if modern:  # codes assigned with post-2015 business licences start with "MA"
        body = "MA" + "".join(rng.choice(alphabet) for _ in range(6))
    else:
        body = f"{rng.randrange(10**8):08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def _mobile_digits(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"


def _format_mobile(rng: random.Random, digits: str) -> str:
    r = rng.random()
    if r < 0.75:
        return digits
    a, b, c = digits[:3], digits[3:7], digits[7:]
    if r < 0.83:
        return f"+86 {a} {b} {c}"
    if r < 0.88:
        return f"+86{digits}"
    if r < 0.94:
        return f"{a}-{b}-{c}"
    return f"{a} {b} {c}"


def _break_email(rng: random.Random, email: str) -> str:
    local, domain = email.split("@")
    kind = rng.randrange(6)
    if kind == 0:
        return local + domain  # @ forgotten
    if kind == 1:
        return f"{local}＠{domain}"  # full-width @ typed with a Chinese IME
    if kind == 2:
        return f"{local}@@{domain}"
    if kind == 3:
        return f"{local} {rng.choice('abcdefgh')}@{domain}"  # space inside the address
    if kind == 4:
        return f"{local}@{domain.replace('.', ',')}"  # full stop typed as comma
    return f"{local}@{domain.split('.')[0]}"  # top-level domain missing


class _Uniq:
    """Draw values until one is new; keeps identifiers unique without biasing the data."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def take(self, draw) -> str:
        while True:
            value = draw()
            if value not in self.seen:
                self.seen.add(value)
                return value


# --- generator -----------------------------------------------------------------------------------


def generate_crm(contacts: int = 10_000, seed: int = DEFAULT_SEED, invalid_share: float = 0.005) -> CRMData:
    """Generate the synthetic CRM.

    Args:
        contacts: number of rows in ``contacts`` (>= 1). ``enterprise_customers`` gets
            ``max(1, contacts // 5)`` rows, ``contracts`` about 2.2 per customer and
            ``bank_accounts`` about 0.85 per contact.
        seed: seeds Faker and every ``random.Random`` used; same seed -> byte-identical tables.
        invalid_share: fraction in [0, 1] of contacts given exactly one defect (bad resident-ID
            check character, mobile with 10 or 12 digits, or malformed email), rounded half up,
            and at least one when the share is positive. Defects rotate through the three kinds.

    Returns:
        ``CRMData``: a ``Mapping[str, pyarrow.Table]`` plus ``defects`` and ``pi_in_notes``.

    Raises:
        ValueError: ``contacts`` < 1 or ``invalid_share`` outside [0, 1].
    """
    if contacts < 1:
        raise ValueError("contacts must be >= 1")
    if not 0.0 <= invalid_share <= 1.0:
        raise ValueError("invalid_share must be within [0, 1]")

    from faker import Faker  # imported here so loaders and DAG parsing do not pay for it

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    # Independent streams per table: changing how one table is drawn leaves the others unchanged.
    rng_c = random.Random(f"{seed}:customers")
    rng_p = random.Random(f"{seed}:contacts")
    rng_b = random.Random(f"{seed}:bank_accounts")
    rng_k = random.Random(f"{seed}:contracts")
    rng_d = random.Random(f"{seed}:defects")

    # Faker is slow per call, so draw pools once and sample them with the seeded Random.
    last_pool = [fake.last_name() for _ in range(3000)]
    first_m = [fake.first_name_male() for _ in range(600)]
    first_f = [fake.first_name_female() for _ in range(600)]
    user_pool = [fake.user_name() for _ in range(1500)]
    street_pool = [fake.street_name() for _ in range(800)]
    corp_pool = [fake.domain_word() for _ in range(400)]
    prefix_pool = list(dict.fromkeys(fake.company_prefix() for _ in range(400)))

    regions = load_regions()
    by_pref: dict[str, list[Region]] = {}
    for reg in regions:
        by_pref.setdefault(reg.code[:4], []).append(reg)
    hubs = [p for p in HUB_WEIGHTS if p in by_pref]
    hub_cum = list(itertools.accumulate(HUB_WEIGHTS[p] for p in hubs))

    def pick_region(rng: random.Random) -> Region:
        if rng.random() < HUB_SHARE:
            return rng.choice(by_pref[rng.choices(hubs, cum_weights=hub_cum)[0]])
        return rng.choice(regions)

    start_us = _epoch_us(dt.date(2015, 1, 1))
    asof_us = _epoch_us(AS_OF)

    # ---- enterprise_customers
    n_cust = max(1, contacts // 5)
    ind_names = [i[0] for i in INDUSTRIES]
    ind_weights = [i[1] for i in INDUSTRIES]
    ind_words = {i[0]: i[2] for i in INDUSTRIES}
    names_u, uscc_u = _Uniq(), _Uniq()
    cust: dict[str, list] = {k: [] for k in CRM_SCHEMAS["enterprise_customers"].names}
    cust_region: list[Region] = []
    for cid in range(1, n_cust + 1):
        reg = pick_region(rng_c)
        industry = rng_c.choices(ind_names, weights=ind_weights)[0]
        short_city = reg.city[:-1] if reg.city.endswith("市") else reg.city

        def draw_name(reg=reg, industry=industry, short_city=short_city) -> str:
            if rng_c.random() < 0.8:
                zihao = "".join(rng_c.sample(ZIHAO_CHARS, rng_c.choice((2, 2, 3))))
            else:
                zihao = rng_c.choice(prefix_pool)
            word = rng_c.choice(ind_words[industry])
            form = rng_c.choice(("有限公司",) * 9 + ("股份有限公司",))
            r = rng_c.random()
            if r < 0.5:
                return f"{reg.city}{zihao}{word}{form}"
            if r < 0.85:
                return f"{short_city}{zihao}{word}{form}"
            return f"{zihao}{word}（{short_city}）{form}"

        created = _rand_ts(rng_c, start_us, asof_us - 30 * 86_400_000_000)
        modern = created >= _epoch_us(dt.date(2016, 1, 1)) and rng_c.random() < 0.7

        def draw_uscc(reg=reg, modern=modern) -> str:
            body = "91" + reg.code + _org_code(rng_c, modern)
            return body + uscc.calc_check_digit(body)

        cust["customer_id"].append(cid)
        cust["company_name"].append(names_u.take(draw_name))
        cust["uscc"].append(uscc_u.take(draw_uscc))
        cust["industry"].append(industry)
        cust["registered_city"].append(reg.city)
        cust["created_at"].append(created)
        cust["updated_at"].append(created if rng_c.random() < 0.2 else _rand_ts(rng_c, created, asof_us))
        cust_region.append(reg)

    # ---- contacts
    # Every customer has one contact; the rest follow a skewed (few big accounts) distribution.
    cust_ids = list(range(1, n_cust + 1))
    skew = [1.0 / (i**0.7) for i in cust_ids]
    owners = cust_ids[: min(n_cust, contacts)]
    owners += rng_p.choices(cust_ids, weights=skew, k=contacts - len(owners))
    rng_p.shuffle(owners)

    age_buckets = ((10, 13, 3), (14, 17, 2), (18, 30, 25), (31, 45, 35), (46, 60, 25), (61, 80, 10))
    age_cum = list(itertools.accumulate(b[2] for b in age_buckets))
    mobile_u, rid_u, mail_u = _Uniq(), _Uniq(), _Uniq()
    # Regions grouped by validity ranges (a few dozen distinct ones) make per-year pools cheap.
    by_years: dict[tuple[tuple[int, int], ...], list[Region]] = {}
    for reg in regions:
        by_years.setdefault(reg.years, []).append(reg)
    valid_by_year: dict[int, list[Region]] = {}
    mail_names = [d for d, _ in MAIL_DOMAINS]
    mail_cum = list(itertools.accumulate(w for _, w in MAIL_DOMAINS))

    n_notes_pi = round(NOTES_PI_SHARE * contacts)
    pi_rows = set(rng_p.sample(range(contacts), n_notes_pi))

    con: dict[str, list] = {k: [] for k in CRM_SCHEMAS["contacts"].names}
    con_region: list[Region] = []
    pi_in_notes: dict[int, str] = {}
    for i in range(contacts):
        contact_id = i + 1
        owner = owners[i]
        male = rng_p.random() < 0.5
        given = rng_p.choice(first_m if male else first_f)
        if len(given) == 1 and rng_p.random() < 0.45:
            second = rng_p.choice(first_m if male else first_f)
            if len(second) == 1 and second != given:
                given += second
        name = rng_p.choice(last_pool) + given

        lo_age, hi_age, _ = rng_p.choices(age_buckets, cum_weights=age_cum)[0]
        earliest = _years_before(AS_OF, hi_age + 1) + dt.timedelta(days=1)
        birth = _rand_date(rng_p, earliest, _years_before(AS_OF, lo_age))

        # Place of residence: usually the employer's city.
        home = (
            rng_p.choice(by_pref[cust_region[owner - 1].code[:4]])
            if rng_p.random() < 0.6
            else pick_region(rng_p)
        )
        # Place of household registration (in the ID number): often the same county, else any
        # division that existed in the birth year (what stdnum.cn.ric checks).
        if valid_in(home, birth.year) and rng_p.random() < 0.5:
            origin = home
        else:
            pool = valid_by_year.get(birth.year)
            if pool is None:
                pool = valid_by_year[birth.year] = [
                    r for group in by_years.values() if valid_in(group[0], birth.year) for r in group
                ]
            origin = rng_p.choice(pool)

        def draw_rid(origin=origin, birth=birth, male=male) -> str:
            seq = rng_p.randrange(1, 500) * 2 + (1 if male else 0)
            body = f"{origin.code}{birth:%Y%m%d}{seq:03d}"
            return body + ric.calc_check_digit(body + "0")

        rid = rid_u.take(draw_rid)
        mobile_digits = mobile_u.take(lambda: _mobile_digits(rng_p))
        mobile = _format_mobile(rng_p, mobile_digits)

        def draw_mail() -> str:
            r = rng_p.random()
            if r < 0.3:
                return f"{rng_p.randrange(10_000_000, 3_000_000_000)}@qq.com"
            user = rng_p.choice(user_pool)
            if rng_p.random() < 0.5:
                user += str(rng_p.randrange(1, 2000))
            if r < 0.8:
                return f"{user}@{rng_p.choices(mail_names, cum_weights=mail_cum)[0]}"
            tld = rng_p.choice((".com", ".cn", ".com.cn", ".net"))
            return f"{user}@{rng_p.choice(corp_pool)}{tld}"

        email = mail_u.take(draw_mail)

        if home.code[:2] in MUNICIPALITIES or home.city == home.county:
            locality = f"{home.city}{home.county}" if home.city != home.county else home.county
            locality = locality if locality.startswith(home.province) else home.province + locality
        else:
            locality = f"{home.province}{home.city}{home.county}"
        street = f"{rng_p.choice(street_pool)}{rng_p.randint(1, 999)}号"
        if rng_p.random() < 0.75:
            compound = rng_p.choice(COMPOUND_WORDS) + rng_p.choice(COMPOUND_SUFFIXES)
            room = f"{rng_p.randint(1, 33)}{rng_p.randint(1, 8):02d}"
            unit = f"{rng_p.randint(1, 30)}栋{rng_p.randint(1, 6)}单元{room}室"
            address = f"{locality}{street}{compound}{unit}"
        else:
            address = f"{locality}{street}{rng_p.randint(1, 28)}楼{rng_p.randint(1, 20):02d}室"

        created = _rand_ts(rng_p, cust["created_at"][owner - 1], asof_us)
        updated = created if rng_p.random() < 0.25 else _rand_ts(rng_p, created, asof_us)

        if i in pi_rows:
            if rng_p.random() < 0.6:
                other = _format_mobile(rng_p, mobile_u.take(lambda: _mobile_digits(rng_p)))
                notes = rng_p.choice(NOTE_PI_MOBILE).format(mobile=other.replace(" ", ""))
                pi_in_notes[contact_id] = "mobile"
            else:
                notes = rng_p.choice(NOTE_PI_RID).format(rid=rid)
                pi_in_notes[contact_id] = "resident_id"
        elif rng_p.random() < NOTES_EMPTY_SHARE / (1 - NOTES_PI_SHARE):
            notes = None
        else:
            notes = rng_p.choice(NOTE_TEMPLATES).format(
                product=rng_p.choice(PRODUCTS),
                wan=rng_p.choice((5, 8, 10, 20, 30, 50, 80, 120, 200)),
                month=rng_p.randint(1, 12),
                day=rng_p.randint(1, 28),
                disc=rng_p.choice((8, 8.5, 9, 9.5)),
                users=rng_p.choice((50, 100, 200, 500, 1000, 3000)),
                # 11-digit ticket numbers start with 2, so they look like but are not mobiles.
                ticket=f"{AS_OF.year - rng_p.randint(0, 3)}{rng_p.randrange(10**7):07d}",
                waybill=f"SF{rng_p.randrange(10**12):012d}",
            )

        con["contact_id"].append(contact_id)
        con["customer_id"].append(owner)
        con["name"].append(name)
        con["mobile"].append(mobile)
        con["resident_id"].append(rid)
        con["email"].append(email)
        con["address"].append(address)
        con["birth_date"].append(birth)
        con["gender"].append("男" if male else "女")
        con["notes"].append(notes)
        con["created_at"].append(created)
        con["updated_at"].append(updated)
        con_region.append(home)

    # ---- defects: exactly one per chosen contact, kinds rotated so each kind appears.
    n_def = 0
    if invalid_share > 0:
        n_def = max(1, min(contacts, int(invalid_share * contacts + 0.5)))
    kinds = list(DEFECT_COLUMNS)
    rng_d.shuffle(kinds)
    defects: dict[int, str] = {}
    for j, row in enumerate(sorted(rng_d.sample(range(contacts), n_def))):
        kind = kinds[j % len(kinds)]
        if kind == DEFECT_RESIDENT_ID_CHECKSUM:
            good = con["resident_id"][row]
            bad = rng_d.choice([c for c in "0123456789X" if c != good[-1]])
            con["resident_id"][row] = good[:-1] + bad
        elif kind == DEFECT_MOBILE_LENGTH:
            digits = "".join(c for c in con["mobile"][row].removeprefix("+86") if c.isdigit())
            pos = rng_d.randrange(1, 11)
            if rng_d.random() < 0.5:
                digits = digits[:pos] + digits[pos + 1 :]  # a digit dropped
            else:
                digits = digits[:pos] + str(rng_d.randrange(10)) + digits[pos:]  # one typed twice
            con["mobile"][row] = digits
        else:
            con["email"][row] = _break_email(rng_d, con["email"][row])
        defects[row + 1] = kind

    # ---- bank_accounts
    card_u = _Uniq()
    bank_names = [b[0] for b in BANKS]
    bank_cum = list(itertools.accumulate(b[1] for b in BANKS))
    bank_bins = {b[0]: b[2] for b in BANKS}
    acct: dict[str, list] = {k: [] for k in CRM_SCHEMAS["bank_accounts"].names}
    for i in range(contacts):
        n = rng_b.choices((0, 1, 2), cum_weights=(30, 85, 100))[0]
        home = con_region[i]
        birth = con["birth_date"][i]
        for _ in range(n):
            bank = rng_b.choices(bank_names, cum_weights=bank_cum)[0]
            prefix, length = rng_b.choice(bank_bins[bank])

            def draw_card(prefix=prefix, length=length) -> str:
                k = length - 7
                body = f"{prefix}{rng_b.randrange(10**k):0{k}d}"
                return body + luhn.calc_check_digit(body)

            city = home.city.removesuffix("市")
            if rng_b.random() < 0.4:
                branch = f"{bank}{city}分行"
            else:
                county = home.county
                county = county[:-1] if len(county) > 2 and county[-1] in "区县市" else county
                branch = f"{bank}{city}{county}支行"
            lo = max(dt.date(2003, 1, 1), _add_years(birth, 6))
            acct["account_id"].append(len(acct["account_id"]) + 1)
            acct["contact_id"].append(i + 1)
            acct["bank_name"].append(branch)
            acct["account_number"].append(card_u.take(draw_card))
            acct["opened_on"].append(_rand_date(rng_b, lo, AS_OF))

    # ---- contracts
    amount_buckets = ((5_000, 50_000, 35), (50_000, 500_000, 45), (500_000, 5_000_000, 17),
                      (5_000_000, 50_000_000, 3))  # fmt: skip
    kont: dict[str, list] = {k: [] for k in CRM_SCHEMAS["contracts"].names}
    for cid in range(1, n_cust + 1):
        created_day = dt.date(1970, 1, 1) + dt.timedelta(microseconds=cust["created_at"][cid - 1])
        for _ in range(rng_k.choices((1, 2, 3, 4), weights=(35, 30, 20, 15))[0]):
            contract_id = len(kont["contract_id"]) + 1
            signed = _rand_date(rng_k, max(created_day, dt.date(2016, 1, 1)), AS_OF)
            expires = _add_years(signed, rng_k.choice((1, 1, 2, 3))) - dt.timedelta(days=1)
            lo, hi, _ = rng_k.choices(amount_buckets, weights=[b[2] for b in amount_buckets])[0]
            cents = rng_k.randrange(lo * 100, hi * 100)
            r = rng_k.random()
            if r < 0.6:
                cents -= cents % 10_000  # quoted in whole hundreds of yuan
            elif r < 0.85:
                cents -= cents % 100
            if rng_k.random() < 0.06:
                status = "terminated"
            else:
                status = "active" if expires >= AS_OF else "expired"
            kont["contract_id"].append(contract_id)
            kont["customer_id"].append(cid)
            kont["contract_no"].append(f"HT{signed.year}-{contract_id:06d}")
            kont["amount"].append(Decimal(f"{cents // 100}.{cents % 100:02d}"))
            kont["currency"].append("CNY")
            kont["signed_on"].append(signed)
            kont["expires_on"].append(expires)
            kont["status"].append(status)

    tables = {
        "enterprise_customers": pa.Table.from_pydict(cust, schema=CRM_SCHEMAS["enterprise_customers"]),
        "contacts": pa.Table.from_pydict(con, schema=CRM_SCHEMAS["contacts"]),
        "bank_accounts": pa.Table.from_pydict(acct, schema=CRM_SCHEMAS["bank_accounts"]),
        "contracts": pa.Table.from_pydict(kont, schema=CRM_SCHEMAS["contracts"]),
    }
    return CRMData(
        tables=tables,
        defects={"enterprise_customers": {}, "contacts": defects, "bank_accounts": {}, "contracts": {}},
        pi_in_notes=pi_in_notes,
        seed=seed,
    )
