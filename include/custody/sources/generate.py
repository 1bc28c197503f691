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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import pyarrow as pa
import sqlalchemy as sa
from stdnum import luhn
from stdnum.cn import ric, uscc

DEFAULT_SEED = 20261130
#: Reference "today" for ages, contract status and timestamps; fixed so output never drifts.
AS_OF = dt.date(2026, 11, 30)

DEFECT_RESIDENT_ID_CHECKSUM = "resident_id_checksum"
DEFECT_MOBILE_LENGTH = "mobile_length"
DEFECT_EMAIL_FORMAT = "email_format"
#: Defect kind -> the contacts column it breaks.
DEFECT_COLUMNS: dict[str, str] = {
    DEFECT_RESIDENT_ID_CHECKSUM: "resident_id",
    DEFECT_MOBILE_LENGTH: "mobile",
    DEFECT_EMAIL_FORMAT: "email",
}

#: Share of contacts whose notes repeat a mobile or resident ID number inline.
NOTES_PI_SHARE = 0.04
#: Share of contacts without any note.
NOTES_EMPTY_SHARE = 0.15

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(14, 2)

#: Arrow schema of each generated table (types follow docs/contracts.md).
CRM_SCHEMAS: dict[str, pa.Schema] = {
    "enterprise_customers": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("company_name", pa.string()),
            ("uscc", pa.string()),
            ("industry", pa.string()),
            ("registered_city", pa.string()),
            ("created_at", TS),
            ("updated_at", TS),
        ]
    ),
    "contacts": pa.schema(
        [
            ("contact_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("name", pa.string()),
            ("mobile", pa.string()),
            ("resident_id", pa.string()),
            ("email", pa.string()),
            ("address", pa.string()),
            ("birth_date", pa.date32()),
            ("gender", pa.string()),
            ("notes", pa.string()),
            ("created_at", TS),
            ("updated_at", TS),
        ]
    ),
    "bank_accounts": pa.schema(
        [
            ("account_id", pa.int64()),
            ("contact_id", pa.int64()),
            ("bank_name", pa.string()),
            ("account_number", pa.string()),
            ("opened_on", pa.date32()),
        ]
    ),
    "contracts": pa.schema(
        [
            ("contract_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("contract_no", pa.string()),
            ("amount", MONEY),
            ("currency", pa.string()),
            ("signed_on", pa.date32()),
            ("expires_on", pa.date32()),
            ("status", pa.string()),
        ]
    ),
}

# --- SQL definitions ---------------------------------------------------------------------------
# utf8mb4 on MariaDB/MySQL: names and addresses are CJK and utf8mb3 would reject rare characters.
# Both prefixes are given because SQLAlchemy reads mariadb_* only under the "mariadb" dialect name.
_MYSQL_KW = {"mysql_charset": "utf8mb4", "mariadb_charset": "utf8mb4"}
_TSZ = sa.DateTime(timezone=True)

#: SQLAlchemy Core metadata of the four CRM tables, used by ``custody.sources.loaders``.
CRM_TABLES = sa.MetaData()

sa.Table(
    "enterprise_customers",
    CRM_TABLES,
    sa.Column("customer_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("company_name", sa.String(200), nullable=False),
    sa.Column("uscc", sa.String(18), nullable=False, unique=True),
    sa.Column("industry", sa.String(64), nullable=False),
    sa.Column("registered_city", sa.String(64), nullable=False),
    sa.Column("created_at", _TSZ, nullable=False),
    sa.Column("updated_at", _TSZ, nullable=False),
    **_MYSQL_KW,
)
sa.Table(
    "contacts",
    CRM_TABLES,
    sa.Column("contact_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column(
        "customer_id",
        sa.BigInteger,
        sa.ForeignKey("enterprise_customers.customer_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(64), nullable=False),
    # Widths leave room for the formatted and deliberately broken values.
    sa.Column("mobile", sa.String(32), nullable=False),
    sa.Column("resident_id", sa.String(32), nullable=False),
    sa.Column("email", sa.String(128), nullable=False),
    sa.Column("address", sa.String(255), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("gender", sa.String(8), nullable=False),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("created_at", _TSZ, nullable=False),
    sa.Column("updated_at", _TSZ, nullable=False),
    **_MYSQL_KW,
)
sa.Table(
    "bank_accounts",
    CRM_TABLES,
    sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("contact_id", sa.BigInteger, sa.ForeignKey("contacts.contact_id"), nullable=False, index=True),
    sa.Column("bank_name", sa.String(128), nullable=False),
    sa.Column("account_number", sa.String(19), nullable=False, unique=True),
    sa.Column("opened_on", sa.Date, nullable=False),
    **_MYSQL_KW,
)
sa.Table(
    "contracts",
    CRM_TABLES,
    sa.Column("contract_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column(
        "customer_id",
        sa.BigInteger,
        sa.ForeignKey("enterprise_customers.customer_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("contract_no", sa.String(32), nullable=False, unique=True),
    sa.Column("amount", sa.Numeric(14, 2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("signed_on", sa.Date, nullable=False),
    sa.Column("expires_on", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    **_MYSQL_KW,
)

#: Primary-key column of each CRM table (the surrogate row key that reports may show).
CRM_KEYS: dict[str, str] = {
    name: table.primary_key.columns.keys()[0] for name, table in CRM_TABLES.tables.items()
}


@dataclass(frozen=True)
class CRMData(Mapping[str, pa.Table]):
    """Result of :func:`generate_crm`; behaves as a read-only ``dict[str, pyarrow.Table]``.

    Attributes:
        tables: table name -> ``pyarrow.Table`` (schemas in ``CRM_SCHEMAS``), in load order
            ``enterprise_customers``, ``contacts``, ``bank_accounts``, ``contracts``.
        defects: table name -> {primary key -> defect kind}. Only ``contacts`` carries defects;
            kinds are the keys of ``DEFECT_COLUMNS``. Each listed row has exactly one defect.
        pi_in_notes: contact_id -> ``"mobile"`` or ``"resident_id"`` for the notes that repeat
            such a number inline (ground truth for free-text detectors).
        seed: the seed used.
        as_of: the fixed reference date ("today") of the data set.
    """

    tables: dict[str, pa.Table]
    defects: dict[str, dict[int, str]]
    pi_in_notes: dict[int, str]
    seed: int
    as_of: dt.date = AS_OF

    def __getitem__(self, name: str) -> pa.Table:
        return self.tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)


# --- Reference data ------------------------------------------------------------------------------

_MUNICIPALITIES = {"11", "12", "31", "50"}
# Weight of prefecture-level hubs: most customers of a Chinese IT firm sit in the big cities.
_HUB_WEIGHTS = {
    "1101": 10, "3101": 10, "4403": 9, "4401": 7, "3301": 6, "3201": 4, "3205": 4, "5101": 5,
    "4201": 4, "5001": 3, "1201": 3, "6101": 3, "3702": 2, "3701": 2, "3502": 2, "3501": 2,
    "4301": 3, "4101": 2, "3401": 2, "2101": 2, "2102": 2, "4419": 2, "4406": 2, "3302": 2,
}  # fmt: skip
_HUB_SHARE = 0.75


@dataclass(frozen=True)
class _Region:
    code: str  # 6-digit GB/T 2260 county-level code
    province: str
    city: str  # prefecture-level city (municipality name for 北京/天津/上海/重庆)
    county: str
    years: tuple[tuple[int, int], ...]  # (first, last) years in which the code was assigned


def _segments(value: str) -> tuple[str | None, tuple[tuple[int, int], ...]]:
    """Parse ``[1983-1995]东区,[1996-]芙蓉区`` into (current name or None, validity ranges).

    Mirrors ``stdnum.cn.ric.get_birth_place`` so that every generated code passes its check.
    """
    current = None
    ranges = []
    for part in value.split(","):
        if not part.startswith("["):
            return part, ((0, 9999),)
        span, name = part[1:].split("]")
        start, end = span.split("-")
        ranges.append((int(start) if start else 0, int(end) if end else 9999))
        if not end:
            current = name
    return current, tuple(ranges)


@lru_cache(maxsize=1)
def _regions() -> tuple[_Region, ...]:
    """County-level divisions still in use, read from python-stdnum's GB/T 2260 table."""
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    provinces: dict[str, str] = {}
    names: dict[str, str] = {}
    ranges: dict[str, tuple[tuple[int, int], ...]] = {}
    prov = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, _, attr = line.strip().partition(" ")
        value = attr.split("=", 1)[1].strip('"')
        if not line.startswith(" "):
            prov = code
            provinces[prov] = value
            continue
        full = prov + code
        current, spans = _segments(value)
        if current is not None:
            names[full] = current
            ranges[full] = spans
    regions = []
    for code, county in names.items():
        # Skip Taiwan/HK/Macau (no GB 11643 numbers), province/prefecture rows and placeholders.
        if int(code[:2]) >= 71 or code.endswith("00") or county in ("市辖区", "县"):
            continue
        if code[:2] in _MUNICIPALITIES:
            city = provinces[code[:2]]
        else:
            pref = names.get(code[:4] + "00", "")
            # 省直辖县级行政区划 and similar: the county-level city is its own city.
            city = pref if pref.endswith(("市", "州", "盟", "地区")) else county
        regions.append(_Region(code, provinces[code[:2]], city, county, ranges[code]))
    return tuple(regions)


def _valid_in(region: _Region, year: int) -> bool:
    return any(lo <= year <= hi for lo, hi in region.years)


_INDUSTRIES: list[tuple[str, int, tuple[str, ...]]] = [
    ("信息传输、软件和信息技术服务业", 24,
     ("软件", "信息技术", "网络科技", "数据科技", "智能科技", "云计算")),
    ("制造业", 20, ("电子", "机械", "精密制造", "新材料", "汽车零部件", "智能装备")),
    ("批发和零售业", 12, ("商贸", "贸易", "供应链管理", "电子商务")),
    ("金融业", 5, ("融资租赁", "商业保理", "投资管理")),
    ("租赁和商务服务业", 8, ("企业管理咨询", "人力资源", "广告")),
    ("科学研究和技术服务业", 6, ("检测技术", "生物科技", "环境科技")),
    ("交通运输、仓储和邮政业", 5, ("物流", "货运代理", "仓储服务")),
    ("建筑业", 5, ("建设工程", "建筑装饰工程", "市政工程")),
    ("房地产业", 4, ("置业", "房地产开发", "物业管理")),
    ("卫生和社会工作", 4, ("医疗科技", "健康管理")),
    ("教育", 3, ("教育科技", "文化传播")),
    ("住宿和餐饮业", 2, ("餐饮管理", "酒店管理")),
    ("电力、热力、燃气及水生产和供应业", 2, ("新能源", "能源科技")),
]  # fmt: skip

# Characters that Chinese firms put in their trade names (字号).
_ZIHAO_CHARS = "华信达恒瑞鑫博创联智云腾海天宏兴安中泰新盛东方锐科通远嘉德金元宇辰星汇聚诚誉鼎晟启明"

_MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 145 147 150 151 152 153 155 156 157 158 159 "
    "166 170 171 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 "
    "196 198 199"
).split()

_MAIL_DOMAINS = (
    ("qq.com", 8), ("163.com", 22), ("126.com", 10), ("sina.com", 6), ("foxmail.com", 6),
    ("139.com", 5), ("sohu.com", 3), ("aliyun.com", 3), ("yeah.net", 2), ("outlook.com", 3),
)  # fmt: skip

# (bank, [(card prefix, length)]) -- prefixes follow the issuers' public BIN ranges; 62 = UnionPay.
_BANKS: list[tuple[str, int, tuple[tuple[str, int], ...]]] = [
    ("中国工商银行", 20, (("622202", 19), ("621226", 19), ("622208", 19))),
    ("中国建设银行", 18, (("621700", 19), ("622700", 19), ("436742", 19))),
    ("中国农业银行", 15, (("622848", 19), ("622845", 19))),
    ("中国银行", 12, (("621661", 19), ("456351", 19))),
    ("交通银行", 7, (("622262", 19), ("622260", 17))),
    ("招商银行", 10, (("621483", 16), ("622588", 16), ("622609", 16))),
    ("中国邮政储蓄银行", 6, (("621799", 19), ("622188", 19))),
    ("中国民生银行", 3, (("622622", 16),)),
    ("兴业银行", 3, (("622909", 18),)),
    ("中信银行", 3, (("622690", 16),)),
    ("上海浦东发展银行", 3, (("622521", 16),)),
]

_COMPOUND_WORDS = (
    "阳光 锦绣 翠湖 金色 和谐 幸福 滨江 东方 紫荆 丽景 怡景 御景 书香 枫林 盛世 新城 华庭 碧水".split()
)
_COMPOUND_SUFFIXES = "花园 小区 家园 公寓 雅苑 嘉园 名邸 新村".split()
_PRODUCTS = "ERP系统 CRM平台 数据中台 云主机 私有云 安全网关 OA系统 BI报表 API网关 运维服务".split()

# Ordinary follow-up notes. Numbers in them (dates, order and contract numbers, amounts) are
# deliberately present so free-text detectors must tell them apart from phones and ID numbers.
_NOTE_TEMPLATES = (
    "已电话沟通，客户对{product}感兴趣，下周安排产品演示。",
    "客户反馈{product}试用顺利，等待采购部门审批。",
    "拜访客户，了解到明年预算约{wan}万元，需持续跟进。",
    "客户要求{month}月{day}日前提供正式报价单。",
    "报价已发送，客户认为价格偏高，申请{disc}折优惠中。",
    "合同已寄出，等待客户盖章回传。",
    "客户IT负责人更换，需重新建立联系。",
    "技术交流会已完成，客户关注数据安全与等保合规。",
    "客户暂无采购计划，半年后再次回访。",
    "工单号{ticket}已处理完毕，客户确认满意。",
    "续约意向明确，预计{month}月签署续约合同。",
    "客户提出接口对接需求，已转交解决方案团队评估。",
    "参加了客户组织的招标答疑会，标书截止{month}月{day}日。",
    "客户对售后响应时效有投诉，已升级至区域经理。",
    "{product}二期需求沟通中，涉及约{users}个用户。",
    "发票已开具，快递单号{waybill}。",
    "客户财务要求按季度付款，待法务确认条款。",
    "线上会议演示{product}，客户希望增加移动端功能。",
)
_NOTE_PI_MOBILE = (
    "客户要求改用手机{mobile}联系",
    "联系人已换号，新号码{mobile}，旧号码停用。",
    "前台转告：有事请打{mobile}找对接人。",
    "客户微信同手机号{mobile}，方便时可加微信沟通。",
)
_NOTE_PI_RID = (
    "客户提供身份证号{rid}用于开具发票。",
    "合同签署人身份证：{rid}，已核对原件。",
    "办理对公账户变更，经办人证件号码{rid}。",
)


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
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"


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

    regions = _regions()
    by_pref: dict[str, list[_Region]] = {}
    for reg in regions:
        by_pref.setdefault(reg.code[:4], []).append(reg)
    hubs = [p for p in _HUB_WEIGHTS if p in by_pref]
    hub_cum = list(itertools.accumulate(_HUB_WEIGHTS[p] for p in hubs))

    def pick_region(rng: random.Random) -> _Region:
        if rng.random() < _HUB_SHARE:
            return rng.choice(by_pref[rng.choices(hubs, cum_weights=hub_cum)[0]])
        return rng.choice(regions)

    start_us = _epoch_us(dt.date(2015, 1, 1))
    asof_us = _epoch_us(AS_OF)

    # ---- enterprise_customers
    n_cust = max(1, contacts // 5)
    ind_names = [i[0] for i in _INDUSTRIES]
    ind_weights = [i[1] for i in _INDUSTRIES]
    ind_words = {i[0]: i[2] for i in _INDUSTRIES}
    names_u, uscc_u = _Uniq(), _Uniq()
    cust: dict[str, list] = {k: [] for k in CRM_SCHEMAS["enterprise_customers"].names}
    cust_region: list[_Region] = []
    for cid in range(1, n_cust + 1):
        reg = pick_region(rng_c)
        industry = rng_c.choices(ind_names, weights=ind_weights)[0]
        short_city = reg.city[:-1] if reg.city.endswith("市") else reg.city

        def draw_name(reg=reg, industry=industry, short_city=short_city) -> str:
            if rng_c.random() < 0.8:
                zihao = "".join(rng_c.sample(_ZIHAO_CHARS, rng_c.choice((2, 2, 3))))
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
    by_years: dict[tuple[tuple[int, int], ...], list[_Region]] = {}
    for reg in regions:
        by_years.setdefault(reg.years, []).append(reg)
    valid_by_year: dict[int, list[_Region]] = {}
    mail_names = [d for d, _ in _MAIL_DOMAINS]
    mail_cum = list(itertools.accumulate(w for _, w in _MAIL_DOMAINS))

    n_notes_pi = round(NOTES_PI_SHARE * contacts)
    pi_rows = set(rng_p.sample(range(contacts), n_notes_pi))

    con: dict[str, list] = {k: [] for k in CRM_SCHEMAS["contacts"].names}
    con_region: list[_Region] = []
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
        if _valid_in(home, birth.year) and rng_p.random() < 0.5:
            origin = home
        else:
            pool = valid_by_year.get(birth.year)
            if pool is None:
                pool = valid_by_year[birth.year] = [
                    r for group in by_years.values() if _valid_in(group[0], birth.year) for r in group
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

        if home.code[:2] in _MUNICIPALITIES or home.city == home.county:
            locality = f"{home.city}{home.county}" if home.city != home.county else home.county
            locality = locality if locality.startswith(home.province) else home.province + locality
        else:
            locality = f"{home.province}{home.city}{home.county}"
        street = f"{rng_p.choice(street_pool)}{rng_p.randint(1, 999)}号"
        if rng_p.random() < 0.75:
            compound = rng_p.choice(_COMPOUND_WORDS) + rng_p.choice(_COMPOUND_SUFFIXES)
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
                notes = rng_p.choice(_NOTE_PI_MOBILE).format(mobile=other.replace(" ", ""))
                pi_in_notes[contact_id] = "mobile"
            else:
                notes = rng_p.choice(_NOTE_PI_RID).format(rid=rid)
                pi_in_notes[contact_id] = "resident_id"
        elif rng_p.random() < NOTES_EMPTY_SHARE / (1 - NOTES_PI_SHARE):
            notes = None
        else:
            notes = rng_p.choice(_NOTE_TEMPLATES).format(
                product=rng_p.choice(_PRODUCTS),
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
    bank_names = [b[0] for b in _BANKS]
    bank_cum = list(itertools.accumulate(b[1] for b in _BANKS))
    bank_bins = {b[0]: b[2] for b in _BANKS}
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
