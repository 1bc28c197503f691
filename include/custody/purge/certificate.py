"""The destruction certificate of a purge: JSON (sealed document) and HTML in English and Chinese.

Fields follow NIST SP 800-88 Rev. 1, Appendix G ("Sample Certificate of Sanitization"), adapted
from media to data: *what* was sanitized (sources, scopes, tables, rows, objects, S3 versions and
delete markers, bytes, content hashes) instead of a device's make and serial number; *method*
"cryptographic erase + deletion" (Purge by Cryptographic Erase, SP 800-88 2.6, then deletion of
every copy); *tool* and version; the destroyed **keys** with their destruction dates; the
**verification** method and result; the **requester** and **approvers**; the **times**; and the
**audit** sequence numbers and checkpoint that anchor it in the audit log. No value is on it.
PIPL Art 47, 56; GB/T 35273-2020 8.3.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from custody.canonical import canonical_json
from custody.documents import (
    DestructionCertificate,
    PurgeApprovalDocument,
    PurgeExecutionDocument,
    PurgePlanDocument,
)
from custody.fsio import atomic_write_bytes

TEMPLATES = Path(__file__).parent / "templates"
METHOD = ("cryptographic erase of the scope keys (NIST SP 800-88 Rev. 1, 2.6), then deletion of every copy: "
          "S3 object versions and delete markers, local snapshot store, staging")

LABELS = {
    "en": {
        "title": "Certificate of destruction", "certificate": "Certificate", "plan": "Purge plan",
        "plan_hash": "Plan SHA-256", "policy": "Retention policy version", "issued": "Issued",
        "what": "What was destroyed", "method": "Method", "tool": "Tool", "keys": "Keys destroyed",
        "scope": "Scope", "key_ids": "Key ids", "destroyed_at": "Destroyed at",
        "residual": "Residual wrapped copies expire by",
        "verification": "Verification", "people": "Responsibility", "requester": "Requested by",
        "approvers": "Approved by", "times": "Times", "audit": "Audit log", "hashes": "Content hashes (SHA-256)",
        "field": "Field", "value": "Value", "note": "No personal information appears on this certificate.",
    },
    "zh-CN": {
        "title": "数据销毁证明", "certificate": "证明编号", "plan": "清除计划", "plan_hash": "计划 SHA-256",
        "policy": "保存期限策略版本", "issued": "签发时间", "what": "销毁对象", "method": "销毁方法", "tool": "工具",
        "keys": "已销毁密钥", "scope": "密钥范围", "key_ids": "密钥编号", "destroyed_at": "销毁时间",
        "residual": "残余封装副本失效时间", "verification": "验证", "people": "责任人", "requester": "申请人",
        "approvers": "审批人", "times": "时间", "audit": "审计日志", "hashes": "内容哈希 (SHA-256)", "field": "项目",
        "value": "值", "note": "本证明不含任何个人信息。",
    },
}


def tool_version() -> str:
    """The installed Custody distribution's version (``0+unknown`` when run from a checkout)."""
    try:
        return version("custody")
    except PackageNotFoundError:
        return "0+unknown"


def build_certificate(plan: PurgePlanDocument, approval: PurgeApprovalDocument, execution: PurgeExecutionDocument,
                      *, audit: dict[str, int | str], issued_at: datetime | None = None) -> DestructionCertificate:
    """The certificate of an executed and verified plan (value-free: ids, counts, hashes, times)."""
    kinds = Counter(i.kind for i in plan.items)
    what: dict[str, int | str | list[str]] = {
        "sources": sorted({i.source for i in plan.items}),
        "scopes": sorted({i.scope for i in plan.items if i.scope}),
        "tables": sorted({i.table for i in plan.items if i.table}),
        "rows": sum(i.rows for i in plan.items if i.kind in ("staging_object", "store_object")
                    and "rowkeys" not in i.ref),
        "scope_keys": kinds["scope_key"], "s3_versions": kinds["s3_version"],
        "s3_delete_markers": kinds["s3_delete_marker"], "store_snapshots": kinds["store_snapshot"],
        "store_objects": kinds["store_object"], "staging_objects": kinds["staging_object"],
        "staging_runs": kinds["staging_document"],
        "bytes": sum(i.bytes for i in plan.items),
    }
    steps = {s.step: s for s in execution.steps}
    if any(s.followups for s in execution.steps):
        what["followups"] = sorted(f for s in execution.steps for f in s.followups)
    return DestructionCertificate(
        certificate_id=uuid.uuid4().hex, plan_id=plan.plan_id, plan_sha256=plan.plan_hash(),
        policy_version=plan.policy_version,
        issued_at=(issued_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        what=what, content_hashes=sorted({i.content_hash for i in plan.items if i.content_hash}),
        method=METHOD, tool="custody", tool_version=tool_version(), keys=execution.keys,
        verification=execution.verification, requester=plan.requester, approvers=[approval.approver],
        times={"planned": plan.created_at, "approved": approval.answered_at, "guarded": approval.checked_at,
               "executed": execution.started_at, "finished": execution.finished_at,
               "verified": str(execution.verification.get("checked_at", ""))},
        audit={**audit, "steps": ",".join(sorted(steps))},
    )


def certificate_sha256(cert: DestructionCertificate) -> str:
    """SHA-256 (hex) of the certificate's canonical JSON without seal: the hash in the audit log."""
    import hashlib

    return hashlib.sha256(canonical_json(cert.body())).hexdigest()


def write_certificate_html(cert: DestructionCertificate, out_dir: Path) -> dict[str, Path]:
    """Write ``certificate.en.html`` and ``certificate.zh-CN.html`` (and ``certificate.json``) to
    ``out_dir`` atomically; returns their paths by ``html``, ``html_zh``, ``json``."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("certificate.html.j2")
    paths = {"html": out_dir / "certificate.en.html", "html_zh": out_dir / "certificate.zh-CN.html",
             "json": out_dir / "certificate.json"}
    body = cert.body()
    atomic_write_bytes(paths["json"], canonical_json(body), mode=0o644)
    for lang, key in (("en", "html"), ("zh-CN", "html_zh")):
        atomic_write_bytes(paths[key], template.render(c=body, t=LABELS[lang], lang=lang).encode("utf-8"), mode=0o644)
    return paths
