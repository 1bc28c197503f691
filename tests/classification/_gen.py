"""Runtime generators for classification tests: Faker with fixed seeds, checksums from stdnum.

Nothing here is real data; every identifier is generated and made valid (or invalid) on purpose.
"""

from __future__ import annotations

import datetime
import random

import pyarrow as pa
from faker import Faker
from stdnum import luhn
from stdnum.cn import ric, uscc

# Address codes stdnum knows for every birth year used here
# (Beijing Dongcheng, Chaoyang, Haidian; Tianjin Heping).
KNOWN_AREA_CODES = ("110101", "110105", "110108", "120101")
MOBILE_PREFIXES = ("138", "139", "150", "151", "186", "187", "135", "136", "177", "199", "158", "189")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def make_resident_id(rng: random.Random, area: str | None = None, born: datetime.date | None = None) -> str:
    """18-character resident ID with a valid MOD 11-2 check character."""
    area = area or rng.choice(KNOWN_AREA_CODES)
    born = born or datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365 * 55))
    body = f"{area}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def make_old_resident_id(rng: random.Random, area: str | None = None) -> str:
    """15-digit (pre-1999) resident ID: area + YYMMDD + 3-digit sequence, no check character."""
    area = area or rng.choice(KNOWN_AREA_CODES)
    born = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365 * 50))
    return f"{area}{born:%y%m%d}{rng.randrange(0, 1000):03d}"


def make_bank_card(rng: random.Random, prefix: str = "62", length: int = 19, valid: bool = True) -> str:
    """Card number with a correct (or deliberately wrong) Luhn check digit."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    check = luhn.calc_check_digit(body)
    if not valid:
        check = str((int(check) + 1 + rng.randrange(8)) % 10)
    return body + check


def make_mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))


def make_uscc(rng: random.Random) -> str:
    body = "91" + rng.choice(KNOWN_AREA_CODES) + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def make_notes(fake: Faker, rng: random.Random, n: int, embed_share: float = 0.04) -> tuple[list[str], dict]:
    """Chinese free-text notes; about ``embed_share`` of them embed a mobile number or resident ID."""
    notes, counts = [], {"mobile_phone": 0, "resident_id": 0}
    for _ in range(n):
        text = fake.text(max_nb_chars=rng.randrange(40, 120)).replace("\n", "")
        if rng.random() < embed_share:
            if rng.random() < 0.5:
                text = f"客户来电，备用电话{make_mobile(rng)}，请回访。" + text
                counts["mobile_phone"] += 1
            else:
                text = text + f"核验身份证号{make_resident_id(rng)}无误"
                counts["resident_id"] += 1
        notes.append(text)
    return notes, counts


def crm_contacts(n: int = 1200, seed: int = 7, english_headers: bool = False) -> tuple[pa.Table, dict]:
    """A Chinese CRM contacts table like the acceptance scenario; returns (table, embedded counts)."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    notes, counts = make_notes(fake, rng, n)
    cols = {
        "contact_id": pa.array(range(1, n + 1), pa.int64()),
        "姓名": [fake.name() for _ in range(n)],
        "身份证号": [make_resident_id(rng) for _ in range(n)],
        "手机": [make_mobile(rng) for _ in range(n)],
        "邮箱": [fake.email() for _ in range(n)],
        "地址": [fake.address() for _ in range(n)],
        "出生日期": pa.array(
            [fake.date_of_birth(minimum_age=18, maximum_age=90) for _ in range(n)], pa.date32()
        ),
        "公司": [fake.company() for _ in range(n)],
        "统一社会信用代码": [make_uscc(rng) for _ in range(n)],
        "银行账号": [make_bank_card(rng) for _ in range(n)],
        "备注": notes,
        "余额": pa.array([round(rng.random() * 10000, 2) for _ in range(n)], pa.float64()),
    }
    if english_headers:
        names = [
            "customer_id",
            "full_name",
            "resident_id",
            "mobile",
            "email",
            "address",
            "birth_date",
            "company_name",
            "uscc",
            "account_number",
            "notes",
            "amount",
        ]
        cols = dict(zip(names, cols.values()))
    return pa.table(cols), counts
