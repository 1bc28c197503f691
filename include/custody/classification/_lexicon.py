"""Word lists the detectors use: Chinese surnames, organisation suffixes, Latin given names,
GB/T 4754 industry sections, and the header lexicon (``data/header_lexicon.yaml``: pinyin and
abbreviated column names).

Data only, no logic beyond loading. The surname table is the union of the *Hundred Family
Surnames* (百家姓) and the common modern surnames of the 2020 census ranking (e.g. 肖, 付, 覃, 邝
are missing from the classical text). It is used as value evidence for ``person_name`` and never
on its own: a person-name decision always needs header evidence as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

_SINGLE = (
    # Hundred Family Surnames, single-character part.
    "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛奚范彭郎"
    "鲁韦昌马苗凤花方俞任袁柳酆鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康伍余元卜顾孟平黄"
    "和穆萧尹姚邵湛汪祁毛禹狄米贝明臧计伏成戴谈宋茅庞熊纪舒屈项祝董梁杜阮蓝闵席季麻强贾路娄危江童颜郭"
    "梅盛林刁钟徐邱骆高夏蔡田樊胡凌霍虞万支柯昝管卢莫经房裘缪干解应宗丁宣贲邓郁单杭洪包诸左石崔吉钮龚"
    "程嵇邢滑裴陆荣翁荀羊於惠甄曲家封芮羿储靳汲邴糜松井段富巫乌焦巴弓牧隗山谷车侯宓蓬全郗班仰秋仲伊宫"
    "宁仇栾暴甘钭厉戎祖武符刘景詹束龙叶幸司韶郜黎蓟薄印宿白怀蒲邰从鄂索咸籍赖卓蔺屠蒙池乔阴郁胥能苍双"
    "闻莘党翟谭贡劳逄姬申扶堵冉宰郦雍却璩桑桂濮牛寿通边扈燕冀郏浦尚农温别庄晏柴瞿阎充慕连茹习宦艾鱼容"
    "向古易慎戈廖庾终暨居衡步都耿满弘匡国文寇广禄阙东欧殳沃利蔚越夔隆师巩厍聂晁勾敖融冷訾辛阚那简饶空"
    "曾毋沙乜养鞠须丰巢关蒯相查后荆红游竺权逯盖益桓公晋楚闫法汝鄢涂钦岳帅缑亢况郈有琴商牟佘佴伯赏墨哈"
    "谯笪年爱阳佟言福"
    # Common modern surnames absent from the classical text or written in simplified variants.
    # Traditional forms of the commonest surnames (Taiwan, Hong Kong, Macau records).
    "陳張劉黃趙吳孫楊鄭馮衛蔣韓許呂華魏葉蕭謝鄧蘇羅龍賴錢盧鍾顏譚鄒龔閻傅萬湯莊賈蔡廖郭曾邱潘戴"
    "肖付覃兰邝冼麦植谌禤练粟母庹揭代么仝区朴芦苑迟官原栗楼盘位豆卿初门来鹿邸辜阿亓修赫鲜玉银战斯衣"
    "檀信展智奉尧闭由但冶宾呼苟隋涂丛南海漆敬普尉"
)

_COMPOUND = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
    "宇文",
    "司徒",
    "令狐",
    "端木",
    "夏侯",
    "独孤",
    "南宫",
    "西门",
    "轩辕",
    "呼延",
    "百里",
    "万俟",
    "申屠",
    "赫连",
    "澹台",
    "公冶",
    "宗政",
    "濮阳",
    "淳于",
    "单于",
    "太叔",
    "仲孙",
    "钟离",
    "鲜于",
    "闾丘",
    "司空",
    "亓官",
    "司寇",
    "子车",
    "颛孙",
    "巫马",
    "公西",
    "漆雕",
    "乐正",
    "壤驷",
    "公良",
    "拓跋",
    "夹谷",
    "宰父",
    "谷梁",
    "段干",
    "东郭",
    "南门",
    "羊舌",
    "微生",
    "梁丘",
    "左丘",
    "东门",
    "第五",
)

#: Single-character Chinese surnames.
CN_SURNAMES: frozenset[str] = frozenset(_SINGLE)
#: Two-character (compound) Chinese surnames.
CN_COMPOUND_SURNAMES: frozenset[str] = frozenset(_COMPOUND)

#: Endings of Chinese organisation names (company, factory, bank, school, association ...).
HAN_ORG_ENDINGS: tuple[str, ...] = (
    "有限责任公司", "股份有限公司", "有限公司", "集团", "公司", "企业", "总厂", "分厂", "厂", "商行", "事务所",
    "研究院", "研究所", "中心", "合作社", "银行", "分行", "支行", "工作室", "门市部", "经营部", "个体工商户",
    "商店", "超市", "医院", "学校", "大学", "学院", "协会", "基金会",
)  # fmt: skip
#: Legal forms as companies write them, lower case without dots (ISO 20275 Entity Legal Forms:
#: US/UK Inc, Ltd, LLC, PLC; DE GmbH, AG, KG, KGaA, OHG, UG, GbR, e.K., e.V.; FR SARL, SAS, EURL;
#: ES S.A., S.L., S.L.U., S.Coop., S.C.P., S.Com.; IT S.p.A., S.r.l., S.n.c., S.a.s.; PT/BR Lda,
#: Ltda, EIRELI, EI, ME, EPP, S/A; NL B.V., N.V., V.O.F.; Nordic AB, AS, A/S, ASA, Oy, Oyj; CZ/SK
#: s.r.o., a.s.; JP K.K.), and organisation words.
LEGAL_FORMS: tuple[str, ...] = (
    "inc", "incorporated", "ltd", "limited", "llc", "llp", "plc", "gmbh", "ag", "kg", "kgaa", "ohg", "ug",
    "gbr", "ek", "ev", "sa", "sas", "srl", "sro", "spa", "snc", "sl", "slu", "sau", "scoop", "scp", "scom",
    "sarl", "eurl", "lda", "ltda", "eireli", "ei", "me", "epp", "s/a", "as", "a/s", "asa", "bv", "nv", "vof",
    "ab", "oy", "oyj", "kk", "pty", "pte", "co", "corp", "corporation", "company", "group", "holdings",
    "partners", "bank", "university", "association", "foundation",
)  # fmt: skip
# Abbreviations written with dots between their letters (S.A., s.r.o., B.V., e.V., S.Coop.).
_DOTTED = frozenset("sa sas srl sro spa snc sl slu sau scp as bv nv vof ab kk ek ev ei me".split()) | {"scoop", "scom"}
#: Words that open the name of a foundation, association or cooperative (Stichting X, Fundação X).
ORG_PREFIXES: tuple[str, ...] = (
    "Stichting", "Vereniging", "Coöperatie", "Stiftung", "Verein", "Genossenschaft", "Fondation", "Association",
    "Fundação", "Associação", "Cooperativa", "Fundación", "Asociación", "Fondazione", "Associazione",
)  # fmt: skip


def _form_re2(form: str) -> str:
    if form in ("scoop", "scom"):
        return "s\\.?" + form[1:]
    if form in _DOTTED:
        return "\\.?".join(form)
    return form


#: Organisation name endings, as an RE2 alternation (matched at the end of a value): a Han name
#: ending in :data:`HAN_ORG_ENDINGS`, or a name whose last word (after a space or comma) is one of
#: :data:`LEGAL_FORMS`, dots allowed.
ORG_SUFFIX_RE2 = (
    r"^\p{Han}.+(?:" + "|".join(HAN_ORG_ENDINGS) + r")$"
    r"|(?i:^\S.*[\s,]+(?:" + "|".join(_form_re2(f) for f in LEGAL_FORMS) + r")\.?$)"
)

# Faker ships given-name lists per locale; they are a maintained, permissively licensed dictionary.
_GIVEN_NAME_LOCALES = (
    "en_US",
    "en_GB",
    "de_DE",
    "fr_FR",
    "es_ES",
    "pt_BR",
    "pt_PT",
    "it_IT",
    "nl_NL",
    "pl_PL",
    "cs_CZ",
    "sv_SE",
    "no_NO",
    "da_DK",
    "fi_FI",
    "hu_HU",
)


@lru_cache(maxsize=1)
def latin_surnames() -> frozenset[str]:
    """Case-folded Latin-script surnames from Faker's locale data (the locales of
    :func:`latin_given_names`); empty when Faker is not importable. Corroborates a surname column
    under a header (``LastName``, ``xing``): a single token is a weak hint on its own."""
    import importlib

    names: set[str] = set()
    for locale in _GIVEN_NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except (ImportError, AttributeError):
            provider = None
        for attr in ("last_names", "last_names_male", "last_names_female"):
            values = getattr(provider, attr, ()) or ()
            names.update(str(v).casefold() for v in values)
    return frozenset(n for n in names if n.replace("-", "").replace("'", "").isalpha())


@lru_cache(maxsize=1)
def latin_given_names() -> frozenset[str]:
    """Case-folded Latin-script given names (about 15,000), loaded once from Faker's locale data.

    Used only to corroborate a *generic* ``name`` header (a column called ``name`` may hold
    artists, products or genres just as well as people). Returns an empty set when Faker is not
    importable, in which case a generic ``name`` header with Latin values is never taken as a
    person name on its own.
    """
    import importlib

    names: set[str] = set()
    for locale in _GIVEN_NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except (ImportError, AttributeError):
            provider = None  # a missing locale only shrinks the dictionary
        for attr in ("first_names", "first_names_male", "first_names_female"):
            values = getattr(provider, attr, ()) or ()
            names.update(str(v).casefold() for v in values)
    return frozenset(n for n in names if n.isalpha() or "-" in n)


#: Industry sections (门类) of GB/T 4754-2017 *Industrial classification for national economic
#: activities*, A to T: how registrations and credit reports name an organisation's industry.
GBT4754_SECTIONS: tuple[str, ...] = (
    "农、林、牧、渔业",
    "采矿业",
    "制造业",
    "电力、热力、燃气及水生产和供应业",
    "建筑业",
    "批发和零售业",
    "交通运输、仓储和邮政业",
    "住宿和餐饮业",
    "信息传输、软件和信息技术服务业",
    "金融业",
    "房地产业",
    "租赁和商务服务业",
    "科学研究和技术服务业",
    "水利、环境和公共设施管理业",
    "居民服务、修理和其他服务业",
    "教育",
    "卫生和社会工作",
    "文化、体育和娱乐业",
    "公共管理、社会保障和社会组织",
    "国际组织",
)


@dataclass(frozen=True)
class LexiconEntry:
    """One entry of the header lexicon: the PI types it is evidence for, its strength, and the
    header regex built from its terms (see ``data/header_lexicon.yaml``)."""

    types: tuple[str, ...]
    strength: str
    weight: float
    form: str  # "pinyin" or "abbreviation"
    pattern: str


def _term_re(term: str) -> str:
    return r" ?".join(re.escape(word) for word in term.split())


@lru_cache(maxsize=1)
def header_lexicon() -> tuple[LexiconEntry, ...]:
    """The header lexicon of ``data/header_lexicon.yaml``, one entry per (types, strength, form).

    A pinyin term matches whole header tokens, optionally after one owner prefix (``khxm``); an
    abbreviation matches whole tokens with its spaces optional (``cust_nm``, ``CustNm``, ``custnm``).
    Raises ``ValueError`` for an entry without types or terms, or an unknown strength.
    """
    raw = yaml.safe_load(
        resources.files("custody.classification").joinpath("data", "header_lexicon.yaml").read_text("utf-8")
    )
    weights = raw["weights"]
    owners = "|".join(re.escape(o) for o in sorted(raw["owners"], key=len, reverse=True))
    out = []
    for i, e in enumerate(raw["entries"]):
        types = tuple(e.get("types") or ())
        strength = e.get("strength", "strong")
        if not types or strength not in weights:
            raise ValueError(f"header lexicon entry {i}: needs types and a strength in {sorted(weights)}")
        for form, prefix in (("pinyin", rf"(?:{owners})?"), ("abbreviation", "")):
            terms = e.get(form if form == "pinyin" else "abbreviations") or []
            if not terms:
                continue
            alternation = "|".join(_term_re(t) for t in sorted(terms, key=len, reverse=True))
            pattern = rf"(?:^| ){prefix}(?:{alternation})(?: |$)"
            out.append(LexiconEntry(types, strength, float(weights[strength]), form, pattern))
    if not out:
        raise ValueError("header lexicon has no entries")
    return tuple(out)
