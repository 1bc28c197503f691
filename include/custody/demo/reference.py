"""Reference data the CRM generator draws from: administrative divisions, industries, banks, notes.

Divisions come from python-stdnum's GB/T 2260 table (so every generated resident ID passes
``stdnum.cn.ric``); the other lists are weighted pools that make the data look like a Chinese IT
firm's customers. Nothing here is random: ``custody.demo.generate`` samples these with its own
seeded generators.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

MUNICIPALITIES = {"11", "12", "31", "50"}
# Weight of prefecture-level hubs: most customers of a Chinese IT firm sit in the big cities.
HUB_WEIGHTS = {
    "1101": 10, "3101": 10, "4403": 9, "4401": 7, "3301": 6, "3201": 4, "3205": 4, "5101": 5,
    "4201": 4, "5001": 3, "1201": 3, "6101": 3, "3702": 2, "3701": 2, "3502": 2, "3501": 2,
    "4301": 3, "4101": 2, "3401": 2, "2101": 2, "2102": 2, "4419": 2, "4406": 2, "3302": 2,
}  # fmt: skip
HUB_SHARE = 0.75


@dataclass(frozen=True)
class Region:
    """A county-level division of GB/T 2260 and the years its code was in use."""

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
def load_regions() -> tuple[Region, ...]:
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
        if code[:2] in MUNICIPALITIES:
            city = provinces[code[:2]]
        else:
            pref = names.get(code[:4] + "00", "")
            # 省直辖县级行政区划 and similar: the county-level city is its own city.
            city = pref if pref.endswith(("市", "州", "盟", "地区")) else county
        regions.append(Region(code, provinces[code[:2]], city, county, ranges[code]))
    return tuple(regions)


def valid_in(region: Region, year: int) -> bool:
    """Whether ``region``'s code was assigned in ``year`` (what ``stdnum.cn.ric`` checks)."""
    return any(lo <= year <= hi for lo, hi in region.years)


INDUSTRIES: list[tuple[str, int, tuple[str, ...]]] = [
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
ZIHAO_CHARS = "华信达恒瑞鑫博创联智云腾海天宏兴安中泰新盛东方锐科通远嘉德金元宇辰星汇聚诚誉鼎晟启明"

MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 145 147 150 151 152 153 155 156 157 158 159 "
    "166 170 171 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 "
    "196 198 199"
).split()

MAIL_DOMAINS = (
    ("qq.com", 8), ("163.com", 22), ("126.com", 10), ("sina.com", 6), ("foxmail.com", 6),
    ("139.com", 5), ("sohu.com", 3), ("aliyun.com", 3), ("yeah.net", 2), ("outlook.com", 3),
)  # fmt: skip

# (bank, [(card prefix, length)]) -- prefixes follow the issuers' public BIN ranges; 62 = UnionPay.
BANKS: list[tuple[str, int, tuple[tuple[str, int], ...]]] = [
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

COMPOUND_WORDS = (
    "阳光 锦绣 翠湖 金色 和谐 幸福 滨江 东方 紫荆 丽景 怡景 御景 书香 枫林 盛世 新城 华庭 碧水".split()
)
COMPOUND_SUFFIXES = "花园 小区 家园 公寓 雅苑 嘉园 名邸 新村".split()
PRODUCTS = "ERP系统 CRM平台 数据中台 云主机 私有云 安全网关 OA系统 BI报表 API网关 运维服务".split()

# Ordinary follow-up notes. Numbers in them (dates, order and contract numbers, amounts) are
# deliberately present so free-text detectors must tell them apart from phones and ID numbers.
NOTE_TEMPLATES = (
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
NOTE_PI_MOBILE = (
    "客户要求改用手机{mobile}联系",
    "联系人已换号，新号码{mobile}，旧号码停用。",
    "前台转告：有事请打{mobile}找对接人。",
    "客户微信同手机号{mobile}，方便时可加微信沟通。",
)
NOTE_PI_RID = (
    "客户提供身份证号{rid}用于开具发票。",
    "合同签署人身份证：{rid}，已核对原件。",
    "办理对公账户变更，经办人证件号码{rid}。",
)
