"""Build and render the run report of one pipeline run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from custody.fsio import atomic_write_bytes
from custody.documents import (
    BackupDocument,
    ClassificationDocument,
    RunManifest,
    TableManifest,
    TableValidation,
    ValidationDocument,
)

TEMPLATES = Path(__file__).parent / "templates"

# What each report section evidences; article numbers as in REGULATORY.md.
REFERENCES = {
    "reconciliation": ["PIPL Art 51 (management measures)", "GDPR Art 5(1)(d) (accuracy)"],
    "validation": ["PIPL Art 8 (quality of PI)", "GDPR Art 5(1)(d)"],
    "classification": ["PIPL Art 28 (sensitive PI)", "PIPL Art 51 (classification management)",
                       "GB/T 35273-2020 Annex B"],
    "encryption": ["PIPL Art 51 (encryption, de-identification)", "GDPR Art 32(1)(a)"],
    "inventory": ["PIPL Art 51 (classification management)", "GDPR Art 30 (records of processing)"],
    "minors": ["PIPL Art 28 (PI of minors under 14 is sensitive)", "PIPL Art 31 (guardian consent)"],
    "backups": ["GDPR Art 32(1)(c) (ability to restore)", "PIPL Art 21 (entrusted processors)"],
    "audit": ["PIPL Art 54 (compliance audits)", "PIPL Art 51 (management measures)", "GDPR Art 5(2) (accountability)",
              "RFC 9162 (Merkle tree)"],
}

LABELS = {
    "en": {
        "title": "Custody run report", "source": "Source", "run": "Run", "created": "Generated",
        "dialect": "Source database", "policy": "Classification policy",
        "reconciliation": "Reconciliation", "table": "Table", "source_rows": "Source rows",
        "extracted": "Extracted", "valid": "Valid", "quarantined": "Quarantined",
        "failing_share": "Failing share", "limit": "Limit", "status": "Status", "ok": "OK", "failed": "FAILED",
        "validation": "Validation results (Great Expectations)", "expectation": "Expectation",
        "column": "Column", "evaluated": "Evaluated", "unexpected": "Unexpected",
        "reasons": "Quarantine reasons", "reason": "Reason", "rows": "Rows",
        "classification": "Column classification", "pi_type": "PI type", "level": "Level",
        "confidence": "Confidence", "evidence": "Evidence", "levels_summary": "Columns by level",
        "encryption": "Encryption", "objects": "Encrypted objects", "coverage": "Encryption coverage",
        "algorithm": "Algorithm", "keks": "Key-encryption keys",
        "backups": "Backups", "location": "Store", "snapshot": "Snapshot", "uploaded": "Uploaded",
        "reused": "Reused", "bytes": "Bytes", "snapshot_sha256": "Snapshot document SHA-256",
        "object": "Object", "sha256": "SHA-256 (ciphertext)", "refs": "Rules",
        "not_run": "This stage did not run or did not finish.",
        "public": "public", "internal": "internal", "sensitive": "sensitive", "none": "—",
        "quarantined_at_extract": "Quarantined at extraction", "mode": "Mode",
        "drift": "Inventory drift", "new_sensitive": "New sensitive columns", "level_changes": "Level changes",
        "vanished": "Vanished columns", "previous_run": "Compared with run", "baseline": "First run: baseline recorded",
        "no_drift": "No change since the previous run", "old_level": "Old level", "new_level": "New level",
        "minors": "Records of minors", "minors_rows": "Records", "basis": "Basis columns", "as_of": "Ages as of",
        "not_counted": "no birth-date or resident-ID column", "datadocs": "Great Expectations Data Docs",
        "note": "This report holds counts, hashes and classifications only; no personal values.",
        "audit": "Audit log", "audit_range": "Entries about this run", "audit_size": "Entries in the log",
        "audit_checkpoint": "Latest checkpoint", "audit_size_at": "Tree size", "audit_root": "Root hash (SHA-256)",
        "audit_signed_at": "Signed at", "audit_signers": "Signed by", "audit_stores": "Kept in",
        "audit_verified": "Verification of the log", "audit_ok": "the log matches every checkpoint",
        "audit_failed": "FAILED", "audit_refused": "Checkpoint refused", "audit_none": "no checkpoint yet",
        "audit_findings": "Findings", "audit_first_bad": "First bad entry",
    },
    "zh-CN": {
        "title": "Custody 运行报告", "source": "数据源", "run": "运行", "created": "生成时间",
        "dialect": "源数据库", "policy": "分类策略",
        "reconciliation": "数据核对", "table": "表", "source_rows": "源行数",
        "extracted": "已抽取", "valid": "有效", "quarantined": "已隔离",
        "failing_share": "失败比例", "limit": "上限", "status": "状态", "ok": "通过", "failed": "未通过",
        "validation": "校验结果（Great Expectations）", "expectation": "期望",
        "column": "列", "evaluated": "已校验", "unexpected": "不符合",
        "reasons": "隔离原因", "reason": "原因", "rows": "行数",
        "classification": "字段分类分级", "pi_type": "个人信息类型", "level": "级别",
        "confidence": "置信度", "evidence": "依据", "levels_summary": "各级别字段数",
        "encryption": "加密", "objects": "加密对象", "coverage": "加密覆盖率",
        "algorithm": "算法", "keks": "密钥加密密钥",
        "backups": "备份", "location": "存储位置", "snapshot": "快照", "uploaded": "上传",
        "reused": "复用", "bytes": "字节", "snapshot_sha256": "快照文档 SHA-256",
        "object": "对象", "sha256": "SHA-256（密文）", "refs": "依据条款",
        "not_run": "该阶段未运行或未完成。",
        "public": "公开", "internal": "内部", "sensitive": "敏感", "none": "—",
        "quarantined_at_extract": "抽取时隔离", "mode": "模式",
        "drift": "清单变化", "new_sensitive": "新增敏感字段", "level_changes": "级别变化",
        "vanished": "消失的字段", "previous_run": "对比运行", "baseline": "首次运行：已建立基线",
        "no_drift": "无变化", "old_level": "原级别", "new_level": "新级别",
        "minors": "未成年人记录", "minors_rows": "未成年人记录数", "basis": "依据字段", "as_of": "年龄计算日期",
        "not_counted": "无出生日期或身份证号字段", "datadocs": "Great Expectations 数据文档",
        "note": "本报告仅包含计数、哈希值与分类结果，不含任何个人信息值。",
        "audit": "审计日志", "audit_range": "本次运行的日志条目", "audit_size": "日志条目总数",
        "audit_checkpoint": "最新检查点", "audit_size_at": "树大小", "audit_root": "根哈希（SHA-256）",
        "audit_signed_at": "签名时间", "audit_signers": "签名密钥", "audit_stores": "保存位置",
        "audit_verified": "日志校验", "audit_ok": "日志与所有检查点一致",
        "audit_failed": "未通过", "audit_refused": "检查点被拒绝", "audit_none": "尚无检查点",
        "audit_findings": "发现的问题", "audit_first_bad": "首个异常条目",
    },
}


def reconciliation(tm: TableManifest, validation: TableValidation | None) -> dict[str, Any]:
    """The report's reconciliation row of one table: source = extracted = valid + quarantined.

    ``extracted`` counts every row read (staged + quarantined at extraction); ``quarantined``
    adds extraction-time and validation quarantine. ``validation``: the table's entry of the
    validation document (``valid_rows``, ``quarantined_rows`` over the staged rows) or None.
    """
    read = tm.extracted_rows + tm.quarantined_at_extract
    valid = validation.valid_rows if validation else None
    quarantined = (validation.quarantined_rows + tm.quarantined_at_extract) if validation else None
    return {
        "table": tm.table, "source_rows": tm.source_rows, "extracted_rows": read, "valid_rows": valid,
        "quarantined_rows": quarantined, "quarantined_at_extract": tm.quarantined_at_extract,
        "reconciled": validation is not None and tm.source_rows == read == valid + quarantined,
    }


def build_run_report(
    manifest: RunManifest,
    *,
    validation: ValidationDocument | None = None,
    classification: ClassificationDocument | None = None,
    backup: BackupDocument | None = None,
    audit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report document from the run manifest and the stage documents.

    A stage document that is None is reported as not run. ``audit``: the audit-log section
    (``custody.stages.report.audit_section``: range of entries, latest checkpoint, verification),
    or None. Returns a JSON-serialisable dict (canonical JSON, no values).
    """
    recon = []
    for tm in manifest.tables:
        v = validation.table(tm.table) if validation else None
        row = reconciliation(tm, v)
        row.update(
            failing_share=v.failing_share if v else None,
            max_failing_share=v.max_failing_share if v else None,
            passed=bool(v) and v.passed,
            mode=tm.extraction.mode,
        )
        recon.append(row)
    entries = [*manifest.objects(), *(validation.objects() if validation else [])]
    objects = [
        {"object_id": e.object_id, "kind": e.kind, "rows": e.rows, "bytes": e.ciphertext_bytes,
         "sha256": e.sha256, "kek_id": e.kek_id, "scope": e.scope}
        for e in entries
    ]
    levels: dict[str, int] = {}
    if classification:
        for t in classification.tables:
            for c in t.columns:
                levels[c.level] = levels.get(c.level, 0) + 1
    encrypted = sum(1 for o in objects if o["sha256"] and o["kek_id"])
    return {
        "format": "custody-run-report",
        "version": 1,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": manifest.source,
        "run_key": manifest.run_key,
        "run_id": manifest.run_id,
        "dialect": manifest.dialect,
        "references": REFERENCES,
        "reconciliation": recon,
        "validation": validation.body() if validation else None,
        "datadocs": validation.datadocs if validation else None,
        "classification": classification.body() if classification else None,
        "levels": levels,
        "encryption": {
            "algorithm": "AES-256-GCM (streaming, key-committing), per-object data keys",
            "objects": len(objects),
            "encrypted_objects": encrypted,
            "coverage": (encrypted / len(objects)) if objects else 1.0,
            "kek_ids": sorted({o["kek_id"] for o in objects if o["kek_id"]}),
            "objects_list": objects,
        },
        "backup": backup.body() if backup else None,
        "audit": audit,
    }


def write_run_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.en.html`` and ``report.zh-CN.html`` into ``out_dir`` atomically.

    Returns ``{"json": path, "html": path (English), "html_zh": path}``.
    """
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("run_report.html.j2")
    out_dir = Path(out_dir)
    paths = {
        "json": out_dir / "report.json",
        "html": out_dir / "report.en.html",
        "html_zh": out_dir / "report.zh-CN.html",
    }
    atomic_write_bytes(paths["json"], json.dumps(report, indent=1, ensure_ascii=False).encode(), mode=0o644)
    for lang, key in (("en", "html"), ("zh-CN", "html_zh")):
        html = template.render(r=report, t=LABELS[lang], lang=lang)
        atomic_write_bytes(paths[key], html.encode("utf-8"), mode=0o644)
    return paths
