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
    ColumnClassification,
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
        "column": "Column", "evaluated": "Evaluated", "missing": "Missing (null)", "unexpected": "Unexpected",
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
        "public_columns": "Public columns and why",
        "public_rule": "Public must be earned: a column is public only when a detector finds publicly "
                       "disclosable data or a person's override says so; every other column is at least internal.",
        "why_public": "Why public", "public_by_detector": "Publicly disclosable data found by detector",
        "public_by_override": "Override by", "no_public": "No column is public.",
        "file_notes": "Files to look at (empty, header only, columns dropped)", "file": "File",
        "file_note": "Note",
        "outcome": "Run outcome", "run_failed": "The run FAILED", "run_ok": "Every stage succeeded.",
        "run_unknown": "Outcome not recorded (run outside Airflow).", "stage": "Stage", "error": "Error",
        "code": "SQLSTATE / errno", "retried": "Kind", "reason_why": "Why",
        "transient": "transient (retried)", "permanent": "permanent (not retried)",
        "unreadable": "Document that could not be read",
        "states": {"success": "succeeded", "failed": "FAILED", "upstream_failed": "not run (an earlier stage failed)",
                   "skipped": "skipped", "running": "running", "up_for_retry": "waiting to retry"},
        "audit": "Audit log", "audit_range": "Entries about this run", "audit_size": "Entries in the log",
        "audit_checkpoint": "Latest checkpoint", "audit_size_at": "Tree size", "audit_root": "Root hash (SHA-256)",
        "audit_signed_at": "Signed at", "audit_signers": "Signed by", "audit_stores": "Kept in",
        "audit_verified": "Verification of the log", "audit_ok": "the log matches every checkpoint",
        "audit_failed": "FAILED", "audit_refused": "Checkpoint refused", "audit_none": "no checkpoint yet",
        "audit_findings": "Findings", "audit_first_bad": "First bad entry",
        "purge": "Retention and purge", "purge_plan": "Plan", "purge_status": "Status",
        "purge_items": "Items", "purge_blocked": "Blocked by legal hold", "purge_keys": "Scope keys",
        "purge_approver": "Approved by", "purge_certificate": "Certificate", "purge_none": "No purge plan.",
        "purge_states": {"planned": "awaiting approval", "approved": "approved", "executed": "executed",
                         "verified": "verified", "certified": "certified"},
    },
    "zh-CN": {
        "title": "Custody 运行报告", "source": "数据源", "run": "运行", "created": "生成时间",
        "dialect": "源数据库", "policy": "分类策略",
        "reconciliation": "数据核对", "table": "表", "source_rows": "源行数",
        "extracted": "已抽取", "valid": "有效", "quarantined": "已隔离",
        "failing_share": "失败比例", "limit": "上限", "status": "状态", "ok": "通过", "failed": "未通过",
        "validation": "校验结果（Great Expectations）", "expectation": "期望",
        "column": "列", "evaluated": "已校验", "missing": "缺失（空值）", "unexpected": "不符合",
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
        "public_columns": "公开字段及依据",
        "public_rule": "公开须有依据：仅当检测器识别出可依法公开的信息，或经人工认定（记录认定人及理由）时，"
                       "字段才为公开；其余字段至少为内部。",
        "why_public": "公开依据", "public_by_detector": "检测器识别为可公开信息：",
        "public_by_override": "人工认定：", "no_public": "无公开字段。",
        "file_notes": "需关注的文件（空文件、仅有表头、已删除的列）", "file": "文件", "file_note": "说明",
        "outcome": "运行结果", "run_failed": "本次运行失败", "run_ok": "所有阶段均已成功。",
        "run_unknown": "未记录运行结果（非 Airflow 运行）。", "stage": "阶段", "error": "错误",
        "code": "SQLSTATE / 错误码", "retried": "类型", "reason_why": "原因",
        "transient": "暂时性（已重试）", "permanent": "永久性（不重试）",
        "unreadable": "无法读取的文档",
        "states": {"success": "成功", "failed": "失败", "upstream_failed": "未运行（前序阶段失败）",
                   "skipped": "已跳过", "running": "运行中", "up_for_retry": "等待重试"},
        "audit": "审计日志", "audit_range": "本次运行的日志条目", "audit_size": "日志条目总数",
        "audit_checkpoint": "最新检查点", "audit_size_at": "树大小", "audit_root": "根哈希（SHA-256）",
        "audit_signed_at": "签名时间", "audit_signers": "签名密钥", "audit_stores": "保存位置",
        "audit_verified": "日志校验", "audit_ok": "日志与所有检查点一致",
        "audit_failed": "未通过", "audit_refused": "检查点被拒绝", "audit_none": "尚无检查点",
        "audit_findings": "发现的问题", "audit_first_bad": "首个异常条目",
        "purge": "保存期限与清除", "purge_plan": "计划", "purge_status": "状态", "purge_items": "条目",
        "purge_blocked": "因诉讼保留而暂停", "purge_keys": "密钥范围", "purge_approver": "审批人",
        "purge_certificate": "销毁证明", "purge_none": "无清除计划。",
        "purge_states": {"planned": "待审批", "approved": "已批准", "executed": "已执行", "verified": "已验证",
                         "certified": "已出具证明"},
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


def public_column(table: str, c: ColumnClassification) -> dict[str, Any]:
    """The report's row for one public column: ``{table, column, pi_type, by, detector, who, ref}``
    from its evidence's ``public_basis`` (``by`` is ``detector`` or ``override``; ``ref`` the policy
    rule or the override's why). Public must be earned, so a public column always has a basis; a
    document written before bases were recorded gets ``by`` None and the level's ``policy_ref``."""
    basis = c.evidence.public_basis
    return {
        "table": table,
        "column": c.column,
        "pi_type": c.pi_type,
        "by": basis.by if basis else None,
        "detector": basis.detector if basis else c.evidence.detector,
        "who": basis.who if basis else None,
        "ref": basis.ref if basis else c.policy_ref,
    }


def file_notes(manifest: RunManifest) -> list[dict[str, Any]]:
    """Landed files an operator should look at: empty, header only (no data rows), empty trailing
    columns dropped, blank rows skipped. ``[{"table", "file", "sheet", "rows", "note"}]``; file
    names and counts only."""
    return [{"table": tm.table, "file": f.name, "sheet": f.sheet, "rows": f.rows, "note": f.note}
            for tm in manifest.tables for f in tm.extraction.files if f.note]


def build_run_report(
    manifest: RunManifest | None,
    *,
    validation: ValidationDocument | None = None,
    classification: ClassificationDocument | None = None,
    backup: BackupDocument | None = None,
    outcome: dict[str, Any] | None = None,
    source: str | None = None,
    run_key: str | None = None,
    unreadable: list[str] | None = None,
    audit: dict[str, Any] | None = None,
    purge: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report document from the run manifest and the stage documents.

    A stage document that is None is reported as not run; ``manifest`` may be None too (the
    extraction failed), and then ``source`` and ``run_key`` name the run. ``outcome``: the run's
    outcome (``custody.stages.failures.RunOutcome`` as a dict: ``state``, ``stages``,
    ``failures``), shown first so an operator sees at a glance which stage failed and why;
    ``unreadable``: documents that exist but could not be read, with the error. Returns a
    JSON-serialisable dict (canonical JSON, no values). Raises ``ValueError`` without a manifest
    and without ``source`` / ``run_key``. ``public_columns`` lists every public column with why it
    is public (:func:`public_column`); ``file_notes`` the landed files to look at. ``audit``: the
    audit-log section (``custody.stages.report.audit_section``: range of entries, latest checkpoint,
    verification), or None. ``purge``: the purge section (``custody.purge.report.purge_section``:
    plans touching this source, their approvals and certificates), or None.
    """
    if manifest is None and not (source and run_key):
        raise ValueError("a report without a run manifest needs the source and run key")
    recon = []
    for tm in manifest.tables if manifest else []:
        v = validation.table(tm.table) if validation else None
        row = reconciliation(tm, v)
        row.update(
            failing_share=v.failing_share if v else None,
            max_failing_share=v.max_failing_share if v else None,
            passed=bool(v) and v.passed,
            mode=tm.extraction.mode,
        )
        recon.append(row)
    entries = [*(manifest.objects() if manifest else []), *(validation.objects() if validation else [])]
    objects = [
        {"object_id": e.object_id, "kind": e.kind, "rows": e.rows, "bytes": e.ciphertext_bytes,
         "sha256": e.sha256, "kek_id": e.kek_id, "scope": e.scope}
        for e in entries
    ]
    levels: dict[str, int] = {}
    public: list[dict[str, Any]] = []
    if classification:
        for t in classification.tables:
            for c in t.columns:
                levels[c.level] = levels.get(c.level, 0) + 1
                if c.level == "public":
                    public.append(public_column(t.table, c))
    encrypted = sum(1 for o in objects if o["sha256"] and o["kek_id"])
    return {
        "format": "custody-run-report",
        "version": 1,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": manifest.source if manifest else source,
        "run_key": manifest.run_key if manifest else run_key,
        "run_id": manifest.run_id if manifest else None,
        "dialect": manifest.dialect if manifest else None,
        "outcome": _outcome(outcome, manifest, unreadable or []),
        "references": REFERENCES,
        "reconciliation": recon,
        "files": file_notes(manifest) if manifest else [],
        "validation": validation.body() if validation else None,
        "datadocs": validation.datadocs if validation else None,
        "classification": classification.body() if classification else None,
        "levels": levels,
        "public_columns": public,
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
        "purge": purge,
    }


def _outcome(outcome: dict[str, Any] | None, manifest: RunManifest | None, unreadable: list[str]) -> dict[str, Any]:
    """The report's ``outcome``: ``state`` (``success`` / ``failed`` / ``unknown`` when run outside
    Airflow), ``failed_stages``, ``stages`` (task -> state), ``failures`` and ``unreadable``."""
    out = {"state": "unknown", "stages": {}, "failures": [], **(outcome or {})}
    if manifest is None and out["state"] == "unknown":
        out["state"] = "failed"  # no manifest: extraction did not finish
    if unreadable:
        out["state"] = "failed"
    out["failed_stages"] = [t for t, s in out["stages"].items() if s == "failed"]
    out["unreadable"] = list(unreadable)
    return out


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
