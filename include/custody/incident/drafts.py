"""Notification drafts: PIPL Art 57 and GDPR Art 33, in Chinese (zh-CN) and English.

Written from the incident (kind, times, the 72-hour deadline, the scopes revoked) and its affected
inventory (counts by PI type, level and region): no personal value can reach them, since neither
input holds one. They are drafts for the people who notify the regulator and the individuals:
the facts Custody knows are filled in, the rest (cause, likely consequences, contact) is marked
to be completed. Templates: ``templates/<regulation>.<language>.md.j2`` (Jinja2).

PIPL Art 57: the categories of PI involved, the cause and possible harm, remedial measures taken,
what individuals can do, the processor's contact. GDPR Art 33(3): the nature of the breach with
categories and approximate numbers of data subjects and records, the DPO's contact, likely
consequences, measures taken or proposed; Art 33(1): within 72 hours of becoming aware.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custody.fsio import atomic_write_bytes

TEMPLATES = Path(__file__).parent / "templates"
DRAFTS = (("pipl_art57", "zh-CN"), ("pipl_art57", "en"), ("gdpr_art33", "zh-CN"), ("gdpr_art33", "en"))

PI_TYPES_ZH = {
    "person_name": "姓名", "resident_id": "居民身份证号", "mobile_phone": "手机号码", "phone": "电话号码",
    "email": "电子邮箱", "bank_card": "银行卡号", "bank_account": "银行账号", "passport": "护照号码",
    "travel_permit": "往来通行证号码", "birth_date": "出生日期", "gender": "性别", "address": "地址",
    "street_address": "街道地址", "postal_code": "邮政编码", "org_name": "单位名称", "uscc": "统一社会信用代码",
    "driving_licence": "驾驶证号", "ip_address": "IP 地址", "city": "城市",
}
LEVELS_ZH = {"public": "公开", "internal": "内部", "sensitive": "敏感", "core": "核心"}
KINDS = {
    "breach": ("个人信息泄露", "personal data breach"),
    "key_exposure": ("密钥暴露", "exposure of an encryption key"),
    "unauthorised_access": ("未经授权的访问", "unauthorised access"),
    "loss": ("个人信息丢失", "loss of personal data"),
    "drill": ("应急演练", "incident response drill"),
}


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    # Markdown for people to edit, not HTML: nothing to escape, and undefined names fail loudly.
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=False,
                       keep_trailing_newline=True)


def _context(incident: dict[str, Any], affected: dict[str, Any], now: datetime) -> dict[str, Any]:
    notify_by = datetime.fromisoformat(incident["notify_by"])
    remaining = (notify_by - now).total_seconds() / 3600
    pi_types: dict[str, int] = {}
    levels: dict[str, int] = {}
    regions: dict[str, int] = {}
    for s in affected["scopes"]:
        for k, v in s["pi_types"].items():
            pi_types[k] = pi_types.get(k, 0) + v
        for k, v in s["levels"].items():
            levels[k] = levels.get(k, 0) + v
        for k, v in s["subjects_by_region"].items():
            regions[k] = regions.get(k, 0) + v
    return {
        "incident": incident, "affected": affected, "kind_zh": KINDS[incident["kind"]][0],
        "kind_en": KINDS[incident["kind"]][1], "drafted_at": now.isoformat(timespec="seconds"),
        "hours_left": max(0.0, round(remaining, 1)), "overdue": remaining < 0,
        "pi_types": dict(sorted(pi_types.items())), "levels": dict(sorted(levels.items())),
        "regions": dict(sorted(regions.items(), key=lambda kv: (-kv[1], kv[0]))),
        "pi_zh": lambda t: PI_TYPES_ZH.get(t, t), "level_zh": lambda v: LEVELS_ZH.get(v, v),
    }


def write_drafts(out_dir: Path, incident: dict[str, Any], affected: dict[str, Any], *,
                 now: datetime | None = None) -> dict[str, dict[str, str]]:
    """Render the four drafts into ``out_dir`` (``<regulation>.<language>.md``); return
    ``{"<regulation>.<language>": {"path", "sha256"}}``. Rewrites them on a rerun (same inputs,
    same text apart from the drafting time and hours left)."""
    env = _env()
    ctx = _context(incident, affected, now or datetime.now(UTC))
    out = {}
    for regulation, language in DRAFTS:
        text = env.get_template(f"{regulation}.{language}.md.j2").render(**ctx).encode("utf-8")
        path = Path(out_dir) / f"{regulation}.{language}.md"
        atomic_write_bytes(path, text, mode=0o640)
        out[f"{regulation}.{language}"] = {"path": str(path), "sha256": hashlib.sha256(text).hexdigest()}
    return out
