"""Words of the compliance report in English and Simplified Chinese: headings, field labels, PI
types, levels, rule citations and evidence vocabulary, so every rendering is translated in full.

``text(lang, group, key)`` looks a word up and falls back to the key itself (an id such as a
store location or a request id is shown as it is). A test checks that every PI type of the
policy, every citation of ``compliance.REFERENCES`` and every section has both languages.
"""

from __future__ import annotations

LANGS = ("en", "zh-CN")

SECTIONS = {
    "en": {
        "summary": "Summary", "inventory": "Personal information inventory",
        "sensitive": "Sensitive PI and minors under 14", "lawful_basis": "Lawful basis coverage",
        "retention": "Retention and overdue deletion", "backups": "Backups, verifications and restore drills",
        "purges": "Purges and deletion certificates", "requests": "Data-subject requests",
        "cross_border": "Cross-border transfers (year to date)", "compliance_audit": "Compliance audit obligations",
        "pipia": "Personal information impact assessments", "incidents": "Security incidents",
        "milestones": "Deal milestones", "audit_log": "Audit log integrity",
        "record_of_processing": "Record of processing activities (GDPR Art 30)", "charts": "Charts",
    },
    "zh-CN": {
        "summary": "概要", "inventory": "个人信息清单",
        "sensitive": "敏感个人信息与不满十四周岁未成年人信息", "lawful_basis": "合法性基础覆盖情况",
        "retention": "保存期限与逾期删除", "backups": "备份、校验与恢复演练",
        "purges": "清除与删除证明", "requests": "个人权利请求",
        "cross_border": "数据出境（本年累计）", "compliance_audit": "合规审计义务",
        "pipia": "个人信息保护影响评估", "incidents": "安全事件",
        "milestones": "交易里程碑", "audit_log": "审计日志完整性",
        "record_of_processing": "处理活动记录（GDPR 第30条）", "charts": "图表",
    },
}

FIELDS = {
    "en": {
        "title": "Custody compliance report", "period": "Period", "previous": "Previous period",
        "generated": "Generated", "refs": "Rules", "note": "Counts, ids and hashes only; no personal values.",
        "level": "Level", "pi_type": "PI type", "current": "This period", "prev": "Previous period",
        "change": "Change", "columns": "Columns", "source": "Source", "table": "Table", "tables": "Tables",
        "sensitive_columns": "Sensitive columns", "sensitive_records": "Records holding sensitive PI",
        "minor_records": "Records of minors under 14", "encrypted_records": "Encrypted records",
        "encryption_coverage": "Encryption coverage", "target": "Target", "records": "Records",
        "basis": "Lawful basis", "sources": "Sources", "covered": "Sources with a basis", "coverage": "Coverage",
        "no_basis": "NONE DECLARED", "plans": "Retention plans", "plans_applied": "Plans applied",
        "overdue_snapshots": "Snapshots overdue for deletion", "oldest_overdue_days": "Oldest overdue (days)",
        "forgotten_in_period": "Snapshots deleted in the period", "backups": "Backups written",
        "backup_failures": "Backup failures", "stores": "Stores", "verifications": "Verifications",
        "verification_failures": "Verification failures", "restores": "Restores", "drills": "Restore drills",
        "drills_passed": "Drills passed", "drill": "Drill", "started": "Started", "rto": "RTO (s)",
        "rpo": "RPO (s)", "rto_limit": "RTO limit (s)", "rpo_limit": "RPO limit (s)", "passed": "Passed",
        "purge_plans": "Purge plans", "executions": "Purges executed", "certificates": "Certificates issued",
        "keys_destroyed": "Keys destroyed (crypto-shredding)", "certificate_ids": "Certificate ids",
        "received": "Received in the period", "open": "Open", "closed": "Closed", "overdue": "Overdue",
        "request": "Request", "kind": "Kind", "state": "State", "due": "Due", "year": "Year",
        "transfers": "Transfers", "individuals": "Individuals", "sensitive_individuals": "Individuals (sensitive PI)",
        "threshold": "Threshold", "limit": "Limit", "count": "Count", "share": "Share", "alert": "Alert (80 %)",
        "exceeded": "Exceeded", "individuals_est": "Individuals processed (estimate)",
        "officer_threshold": "Protection officer threshold", "officer_required": "Protection officer required",
        "two_year_threshold": "Biennial audit threshold", "frequency": "Audit frequency",
        "last_report": "Last compliance report", "pipia_records": "Assessments recorded",
        "latest": "Latest", "oldest_age_days": "Oldest (days)", "opened": "Opened in the period",
        "closed_n": "Closed in the period", "open_now": "Open now", "incident_ids": "Open incidents",
        "recorded": "Recorded in the period", "milestone": "Milestone", "deal": "Deal", "date": "Date",
        "entries": "Entries in the log", "entries_in_period": "Entries in the period", "verified": "Verified",
        "checkpoints": "Checkpoints verified", "checkpoint_size": "Latest checkpoint (entries)",
        "checkpoint_root": "Checkpoint root (SHA-256)", "checkpoint_signed_at": "Checkpoint signed at",
        "first_bad_entry": "First bad entry", "findings": "Findings", "controller": "Controller",
        "purposes": "Purposes", "subject_categories": "Categories of data subjects",
        "data_categories": "Categories of personal data", "recipients": "Recipients",
        "transfers_rop": "Transfers to third countries", "erasure_time_limits": "Time limits for erasure",
        "security_measures": "Security measures", "yes": "yes", "no": "no", "not_verified": "not verified",
        "none": "none", "chart_levels": "Columns by level", "chart_types": "Columns by PI type",
        "chart_cac": "Cross-border counts against CAC thresholds (share)",
        "chart_sensitive": "Sensitive records: encrypted and not", "encrypted": "Encrypted",
        "not_encrypted": "Not encrypted", "figure": "Figure", "value": "Value", "period_when": "When",
    },
    "zh-CN": {
        "title": "Custody 合规报告", "period": "报告期", "previous": "上一报告期",
        "generated": "生成时间", "refs": "依据条款", "note": "本报告仅含计数、标识符与哈希值，不含任何个人信息值。",
        "level": "级别", "pi_type": "个人信息类型", "current": "本期", "prev": "上期",
        "change": "变化", "columns": "字段数", "source": "数据源", "table": "表", "tables": "表数",
        "sensitive_columns": "敏感字段数", "sensitive_records": "含敏感个人信息的记录数",
        "minor_records": "不满十四周岁未成年人记录数", "encrypted_records": "已加密记录数",
        "encryption_coverage": "加密覆盖率", "target": "目标", "records": "记录数",
        "basis": "合法性基础", "sources": "数据源数", "covered": "已声明基础的数据源", "coverage": "覆盖率",
        "no_basis": "未声明", "plans": "保存期限计划数", "plans_applied": "已执行计划数",
        "overdue_snapshots": "逾期未删除的快照", "oldest_overdue_days": "最长逾期（天）",
        "forgotten_in_period": "本期删除的快照", "backups": "已写入备份",
        "backup_failures": "备份失败", "stores": "存储位置", "verifications": "校验次数",
        "verification_failures": "校验失败", "restores": "恢复次数", "drills": "恢复演练",
        "drills_passed": "通过的演练", "drill": "演练", "started": "开始时间", "rto": "RTO（秒）",
        "rpo": "RPO（秒）", "rto_limit": "RTO 上限（秒）", "rpo_limit": "RPO 上限（秒）", "passed": "通过",
        "purge_plans": "清除计划", "executions": "已执行清除", "certificates": "已出具删除证明",
        "keys_destroyed": "已销毁密钥（密码学删除）", "certificate_ids": "证明编号",
        "received": "本期收到", "open": "处理中", "closed": "已办结", "overdue": "逾期",
        "request": "请求", "kind": "类型", "state": "状态", "due": "期限", "year": "年度",
        "transfers": "出境次数", "individuals": "个人数", "sensitive_individuals": "个人数（敏感个人信息）",
        "threshold": "门槛", "limit": "门槛值", "count": "累计", "share": "占比", "alert": "预警（80%）",
        "exceeded": "已超过", "individuals_est": "处理的个人数（估算）",
        "officer_threshold": "个人信息保护负责人门槛", "officer_required": "须指定个人信息保护负责人",
        "two_year_threshold": "每两年审计门槛", "frequency": "审计频率",
        "last_report": "上次合规报告", "pipia_records": "已记录的评估",
        "latest": "最近一次", "oldest_age_days": "最早一份（天）", "opened": "本期新发",
        "closed_n": "本期关闭", "open_now": "未关闭", "incident_ids": "未关闭事件",
        "recorded": "本期记录", "milestone": "里程碑", "deal": "交易", "date": "日期",
        "entries": "日志条目总数", "entries_in_period": "本期条目数", "verified": "校验结果",
        "checkpoints": "已校验检查点", "checkpoint_size": "最新检查点（条目数）",
        "checkpoint_root": "检查点根哈希（SHA-256）", "checkpoint_signed_at": "检查点签名时间",
        "first_bad_entry": "首个异常条目", "findings": "发现的问题", "controller": "控制者",
        "purposes": "处理目的", "subject_categories": "数据主体类别",
        "data_categories": "个人数据类别", "recipients": "接收方",
        "transfers_rop": "向第三国传输", "erasure_time_limits": "删除时限",
        "security_measures": "安全措施", "yes": "是", "no": "否", "not_verified": "未校验",
        "none": "无", "chart_levels": "各级别字段数", "chart_types": "各类型个人信息字段数",
        "chart_cac": "出境数量与网信办门槛之比",
        "chart_sensitive": "敏感记录：已加密与未加密", "encrypted": "已加密",
        "not_encrypted": "未加密", "figure": "指标", "value": "数值", "period_when": "时间",
    },
}

LEVELS = {
    "en": {"public": "public", "internal": "internal", "sensitive": "sensitive"},
    "zh-CN": {"public": "公开", "internal": "内部", "sensitive": "敏感"},
}

PI_TYPES = {
    "en": {
        "resident_id": "resident ID number", "passport": "passport number", "travel_permit": "travel permit",
        "bank_account": "bank account number", "ssn": "social security number", "person_name": "person name",
        "mobile_phone": "mobile number", "phone": "telephone number", "email": "e-mail address",
        "postal_address": "postal address", "birth_date": "date of birth", "gender": "gender",
        "ip_address": "IP address", "device_id": "device identifier", "free_text": "free text about a person",
        "org_name": "organisation name", "uscc": "unified social credit code", "industry": "industry",
    },
    "zh-CN": {
        "resident_id": "居民身份证号码", "passport": "护照号码", "travel_permit": "通行证号码",
        "bank_account": "银行账号", "ssn": "社会保障号码", "person_name": "姓名",
        "mobile_phone": "手机号码", "phone": "电话号码", "email": "电子邮件地址",
        "postal_address": "通信地址", "birth_date": "出生日期", "gender": "性别",
        "ip_address": "IP 地址", "device_id": "设备标识符", "free_text": "涉及个人的自由文本",
        "org_name": "组织名称", "uscc": "统一社会信用代码", "industry": "行业",
    },
}

CITATIONS = {
    "en": {
        "PIPL Art 13": "PIPL Art 13 (lawful bases)", "PIPL Art 19": "PIPL Art 19 (retention as necessary)",
        "PIPL Art 21": "PIPL Art 21 (entrusted processors)", "PIPL Art 22": "PIPL Art 22 (transfer on merger or sale)",
        "PIPL Art 28-31": "PIPL Art 28-31 (sensitive PI; minors under 14)",
        "PIPL Art 38-40": "PIPL Art 38-40 (export mechanisms)",
        "PIPL Art 44-50": "PIPL Art 44-50 (individuals' rights)",
        "PIPL Art 47": "PIPL Art 47 (deletion)",
        "PIPL Art 51": "PIPL Art 51 (management measures: classification, encryption)",
        "PIPL Art 52": "PIPL Art 52 (protection officer)", "PIPL Art 54": "PIPL Art 54 (compliance audits)",
        "PIPL Art 55-56": "PIPL Art 55-56 (impact assessments, kept 3 years)",
        "PIPL Art 57": "PIPL Art 57 (breach remedy and notification)",
        "GB/T 35273-2020": "GB/T 35273-2020 (PI security specification)",
        "GDPR Art 5(1)(e)": "GDPR Art 5(1)(e) (storage limitation)", "GDPR Art 5(2)": "GDPR Art 5(2) (accountability)",
        "GDPR Art 17": "GDPR Art 17 (erasure)", "GDPR Art 30": "GDPR Art 30 (records of processing)",
        "GDPR Art 32": "GDPR Art 32 (security, restore in time, testing)",
        "GDPR Art 33": "GDPR Art 33 (72-hour notice)",
        "CAC Order 16": "CAC Order 16 (2024) cross-border data flow thresholds",
        "Audit Measures 2025": "Measures for PI Protection Compliance Audits (2025)",
        "RFC 9162": "RFC 9162 (Merkle tree, signed checkpoints)",
    },
    "zh-CN": {
        "PIPL Art 13": "《个人信息保护法》第十三条（合法性基础）",
        "PIPL Art 19": "《个人信息保护法》第十九条（保存期限为实现目的所必要的最短时间）",
        "PIPL Art 21": "《个人信息保护法》第二十一条（委托处理）",
        "PIPL Art 22": "《个人信息保护法》第二十二条（合并、分立、出售时的告知）",
        "PIPL Art 28-31": "《个人信息保护法》第二十八至三十一条（敏感个人信息；不满十四周岁未成年人）",
        "PIPL Art 38-40": "《个人信息保护法》第三十八至四十条（出境条件）",
        "PIPL Art 44-50": "《个人信息保护法》第四十四至五十条（个人的权利）",
        "PIPL Art 47": "《个人信息保护法》第四十七条（删除）",
        "PIPL Art 51": "《个人信息保护法》第五十一条（分类管理、加密等管理措施）",
        "PIPL Art 52": "《个人信息保护法》第五十二条（个人信息保护负责人）",
        "PIPL Art 54": "《个人信息保护法》第五十四条（合规审计）",
        "PIPL Art 55-56": "《个人信息保护法》第五十五至五十六条（影响评估，保存三年以上）",
        "PIPL Art 57": "《个人信息保护法》第五十七条（补救与通知）",
        "GB/T 35273-2020": "GB/T 35273-2020《个人信息安全规范》",
        "GDPR Art 5(1)(e)": "GDPR 第5条第1款(e)项（存储限制）", "GDPR Art 5(2)": "GDPR 第5条第2款（问责）",
        "GDPR Art 17": "GDPR 第17条（删除权）", "GDPR Art 30": "GDPR 第30条（处理活动记录）",
        "GDPR Art 32": "GDPR 第32条（安全、及时恢复、定期测试）", "GDPR Art 33": "GDPR 第33条（72小时内通知）",
        "CAC Order 16": "《促进和规范数据跨境流动规定》（国家网信办令第16号）数量门槛",
        "Audit Measures 2025": "《个人信息保护合规审计管理办法》（2025）",
        "RFC 9162": "RFC 9162（默克尔树，签名检查点）",
    },
}

# Evidence vocabulary: lawful bases, thresholds, frequencies, states, measures and categories.
TERMS = {
    "en": {
        "consent": "consent", "contract": "contract with the individual", "hr": "human resources",
        "legal_duty": "legal duty", "emergency": "emergency", "news": "news reporting",
        "public": "already-public PI", "other_law": "other law",
        "standard_contract_pi": "standard contract or certification (PI)",
        "security_assessment_pi": "security assessment (PI)",
        "security_assessment_sensitive": "security assessment (sensitive PI)",
        "at_least_every_two_years": "at least every two years", "regularly": "regularly",
        "received": "received", "verifying": "verifying identity", "in_progress": "in progress",
        "completed": "completed", "closed": "closed", "rejected": "rejected", "refused": "refused",
        "withdrawn": "withdrawn", "fulfilled": "fulfilled", "access": "access", "copy": "copy",
        "correct": "correction", "delete": "deletion", "portability": "portability", "restrict": "restriction",
        "transfer_custody": "custody of customer information during the transaction",
        "basis:consent": "processing on consent", "basis:contract": "performance of contracts with customers",
        "basis:hr": "human-resources management", "basis:legal_duty": "legal obligations",
        "basis:other_law": "as other laws provide", "basis:public": "already-public information",
        "customers": "customers and their contacts", "employees": "employees",
        "transferee": "the transferee (at closing)", "transferor": "the transferor",
        "retention:customer_contract": "contract term plus the statutory limitation period",
        "envelope_encryption": "AES-256-GCM envelope encryption of every staged and backed-up object",
        "scope_keys": "data keys per scope, destroyable one scope at a time (crypto-shredding)",
        "keyed_pseudonyms": "keyed pseudonyms (HMAC-SHA256) instead of identifiers in logs",
        "audit_log": "tamper-evident audit log with signed checkpoints",
        "restore_drills": "daily restore drills with measured RTO and RPO",
        "access_control": "report access by DAG permission; no script in reports",
        "due_diligence": "due diligence", "signing": "signing", "closing": "closing",
        "post_closing": "post-closing",
    },
    "zh-CN": {
        "consent": "个人同意", "contract": "订立、履行个人作为一方当事人的合同所必需", "hr": "人力资源管理所必需",
        "legal_duty": "履行法定职责或法定义务所必需", "emergency": "应对突发事件", "news": "新闻报道",
        "public": "已公开的个人信息", "other_law": "法律、行政法规规定的其他情形",
        "standard_contract_pi": "标准合同或认证（个人信息）",
        "security_assessment_pi": "安全评估（个人信息）",
        "security_assessment_sensitive": "安全评估（敏感个人信息）",
        "at_least_every_two_years": "至少每两年一次", "regularly": "定期",
        "received": "已受理", "verifying": "核验身份中", "in_progress": "处理中",
        "completed": "已完成", "closed": "已关闭", "rejected": "已驳回", "refused": "已拒绝",
        "withdrawn": "已撤回", "fulfilled": "已满足", "access": "查阅", "copy": "复制",
        "correct": "更正", "delete": "删除", "portability": "转移", "restrict": "限制处理",
        "transfer_custody": "交易期间客户信息的保管",
        "basis:consent": "基于同意的处理", "basis:contract": "履行与客户的合同",
        "basis:hr": "人力资源管理", "basis:legal_duty": "履行法定义务",
        "basis:other_law": "其他法律规定的情形", "basis:public": "已公开的信息",
        "customers": "客户及其联系人", "employees": "员工",
        "transferee": "受让方（交割时）", "transferor": "转让方",
        "retention:customer_contract": "合同期限加法定诉讼时效",
        "envelope_encryption": "对每个暂存和备份对象进行 AES-256-GCM 信封加密",
        "scope_keys": "按范围划分数据密钥，可逐个范围销毁（密码学删除）",
        "keyed_pseudonyms": "日志中以带密钥的假名（HMAC-SHA256）代替标识符",
        "audit_log": "防篡改审计日志及签名检查点",
        "restore_drills": "每日恢复演练，测量 RTO 与 RPO",
        "access_control": "按 DAG 权限访问报告；报告中不运行脚本",
        "due_diligence": "尽职调查", "signing": "签约", "closing": "交割",
        "post_closing": "交割后",
    },
}

_GROUPS = {"section": SECTIONS, "field": FIELDS, "level": LEVELS, "pi_type": PI_TYPES, "cite": CITATIONS,
           "term": TERMS}


def text(lang: str, group: str, key: str | None) -> str:
    """The word for ``key`` in ``group`` (``section``, ``field``, ``level``, ``pi_type``, ``cite``,
    ``term``) in ``lang``; the key itself when it has none (ids, store locations), ``—`` for None."""
    if key is None:
        return "—"
    return _GROUPS[group][lang].get(key, key)


def translator(lang: str):
    """``t(group, key)`` bound to ``lang``, for templates and the PDF writer."""
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    return lambda group, key: text(lang, group, key)
