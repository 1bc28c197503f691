"""The compliance report from a seeded catalog: every section's figures, trends over two periods,
the JSON against its schema, the HTML charts and the PDF's Chinese text and embedded font."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from custody.audit.log import AuditLog
from custody.catalog.schema import (
    inventory_column,
    inventory_event,
    restore_drill,
    snapshot_retention_decision,
    snapshot_retention_plan,
)
from custody.config import SourcesFile
from custody.reports.compliance import ComplianceReport, json_schema
from custody.reports.compliance_collect import build_compliance_report, period_for
from custody.reports.compliance_labels import SECTIONS
from custody.reports.compliance_output import write_compliance_report
from custody.reports.compliance_view import num

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "compliance-report.schema.json").read_text(encoding="utf-8"))
PERIOD = period_for()
START = datetime.fromisoformat(PERIOD.start).replace(tzinfo=UTC)
BEFORE, DURING = START - timedelta(days=5), START + timedelta(seconds=1)
SOURCES = SourcesFile.model_validate({"version": 1, "sources": [
    {"name": "crm", "conn_id": "custody_crm", "lawful_basis": "contract", "retention_class": "customer_contract",
     "tables": [{"name": "contacts"}]}]})
INTEGRITY = {"ok": True, "checkpoints": 2, "first_bad_entry": None, "findings": [],
             "latest_checkpoint": {"size": 41, "root": "ab" * 32, "signed_at": "2026-12-01T00:00:00Z"}}
PSEUDONYM = "0123456789abcdef0123456789abcdef"


def _event(source, table, column, kind, pi_type, old, new, at):
    return dict(source=source, run_key="r", table_name=table, column_name=column, kind=kind, pi_type=pi_type,
                old_level=old, new_level=new, at=at)


def seed(url: str) -> None:
    """Two periods of inventory history, and an audit log with every section's actions."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(inventory_event), [
            _event("crm", "contacts", "name", "new_column", "person_name", None, "internal", BEFORE),
            _event("crm", "contacts", "resident_id", "new_column", "resident_id", None, "sensitive", BEFORE),
            _event("crm", "contacts", "email", "new_column", "email", None, "internal", BEFORE),
            _event("crm", "bank_accounts", "account_number", "new_column", "bank_account", None, "sensitive", DURING),
            _event("crm", "contacts", "email", "level_change", "email", "internal", "sensitive", DURING),
        ])
        # A source recorded before the event history: counted from first_seen.
        conn.execute(sa.insert(inventory_column).values(
            source="legacy", table_name="people", column_name="phone", pi_type="phone", level="internal",
            confidence=0.9, evidence="{}", policy_version="1", first_seen=BEFORE, last_seen=BEFORE, last_run_key="r"))
        conn.execute(sa.insert(restore_drill), [
            dict(drill_id="d1", started_at=DURING, location="local", snapshot_id="s", tables=3, rows=10, rto_s=12.5,
                 rpo_s=60.0, rto_limit_s=3600, rpo_limit_s=86400, passed=True, failure=None, result="{}"),
            dict(drill_id="d2", started_at=DURING, location="local", snapshot_id="s", tables=3, rows=10, rto_s=4000.0,
                 rpo_s=None, rto_limit_s=3600, rpo_limit_s=86400, passed=False, failure="rto", result="{}")])
        conn.execute(sa.insert(snapshot_retention_plan), [
            dict(plan_id="p1", location="local", plan_key="k1", created_at=BEFORE, policy="{}", kept=1, forgotten=1,
                 status="recorded"),
            dict(plan_id="p2", location="local", plan_key="k2", created_at=BEFORE, policy="{}", kept=1, forgotten=1,
                 status="applied", applied_at=BEFORE, objects_deleted=3)])
        conn.execute(sa.insert(snapshot_retention_decision), [
            dict(plan_id="p1", snapshot_id="snap-a", snapshot_key="snapshots/crm/a.json", source="crm",
                 snapshot_created_at="2026-01-01", action="forget", reasons="[]"),
            dict(plan_id="p1", snapshot_id="snap-b", snapshot_key="snapshots/crm/b.json", source="crm",
                 snapshot_created_at="2026-01-02", action="keep", reasons="[]")])
    engine.dispose()
    with AuditLog(url) as log:
        a = log.append
        a("extract.part", subject={"source": "crm", "run_key": "r0", "table": "contacts", "part": 0},
          counts={"extracted_rows": 5, "objects": 1}, key_ids=["sk-a"])  # an older run: not counted
        a("extract.part", subject={"source": "crm", "run_key": "r1", "table": "contacts", "part": 0},
          counts={"extracted_rows": 600, "objects": 2}, key_ids=["sk-a"])
        a("extract.part", subject={"source": "crm", "run_key": "r1", "table": "contacts", "part": 1},
          counts={"extracted_rows": 400, "objects": 0})
        a("extract.part", subject={"source": "crm", "run_key": "r1", "table": "bank_accounts", "part": 0},
          counts={"extracted_rows": 250, "objects": 1}, key_ids=["sk-a"])
        a("classify", subject={"source": "crm", "run_key": "r1"}, counts={"sensitive": 3, "minors": 7})
        a("backup", subject={"source": "crm", "run_key": "r1", "store": "/var/backups"}, counts={"objects": 3})
        a("backup", subject={"source": "crm", "run_key": "r1", "store": "s3://b/p"}, counts={"objects": 3})
        a("backup", subject={"source": "crm", "run_key": "r1", "store": "s3://b/p"}, outcome="failure",
          reason="ClientError")
        a("verify", subject={"store": "/var/backups", "snapshot": "*"})
        a("verify", subject={"store": "/var/backups", "snapshot": "*"}, outcome="failure")
        a("restore.database", subject={"store": "/var/backups", "target": "postgresql"})
        a("forget", subject={"store": "/var/backups", "plan_id": "p2"}, counts={"kept": 1, "forgotten": 1})
        a("purge.plan", subject={"plan_id": "pp1", "scope": "crm/customer_contract/2020"})
        a("purge.execute", subject={"plan_id": "pp1", "scope": "crm/customer_contract/2020"})
        a("purge.certificate", subject={"certificate_id": "cert-1", "plan_id": "pp1"})
        a("key.destroy", subject={"key_id": "sk-old", "certificate_id": "cert-1"})
        for rid, details in (("dsr-1", {"state": "received", "kind": "delete", "due": "2000-01-01"}),
                             ("dsr-1", {"state": "completed"}),
                             ("dsr-2", {"state": "received", "kind": "access", "due": "2000-01-02"}),
                             ("dsr-3", {"state": "received", "kind": "copy", "due": "2999-01-01"})):
            a("dsr.transition", subject={"request_id": rid}, details=details, data_subject=PSEUDONYM)
        a("transfer.record", subject={"deal": "d1", "target": "acquirer-sg"},
          counts={"individuals": 85_000, "sensitive_individuals": 2_000},
          details={"country": "SG", "mechanism": "standard_contract"})
        a("incident.open", subject={"incident_id": "inc-1"})
        a("incident.open", subject={"incident_id": "inc-2"})
        a("incident.close", subject={"incident_id": "inc-1"})
        a("milestone.record", subject={"deal": "d1", "milestone_id": "m1"},
          details={"milestone": "signing", "date": "2026-12-01"})
        a("pipia.record", subject={"deal": "d1"})
        a("report", subject={"report": "compliance"}, details={"period": PERIOD.label})


@pytest.fixture(scope="module")
def built(tmp_path_factory, new_catalog):
    folder = tmp_path_factory.mktemp("compliance")
    url = new_catalog(folder / "catalog.db")
    seed(url)
    report = build_compliance_report(url, period=PERIOD, sources=SOURCES, integrity=INTEGRITY)
    out = write_compliance_report(report, folder / "out")
    return report, out


def test_inventory_by_level_and_type_with_the_previous_period(built):
    r = built[0]
    assert [t.key for t in r.inventory.by_level] == ["internal", "sensitive"]  # policy order, each once
    assert len({t.key for t in r.inventory.by_pi_type}) == len(r.inventory.by_pi_type) == 5
    levels = {t.key: (t.current, t.previous, t.change) for t in r.inventory.by_level}
    # before: name, email, legacy phone internal; resident_id sensitive.
    # now: email became sensitive, account_number is new and sensitive.
    assert levels == {"internal": (2, 3, -1), "sensitive": (3, 1, 2)}
    types = {t.key: (t.current, t.previous) for t in r.inventory.by_pi_type}
    assert types["bank_account"] == (1, 0) and types["email"] == (1, 1) and types["phone"] == (1, 1)
    assert r.inventory.columns == 5
    assert {s.source: s.sensitive_columns for s in r.inventory.sources} == {"crm": 3, "legacy": 0}
    # the headline figures of both periods, side by side
    assert (r.summary.columns, r.summary.sensitive_columns, r.summary.requests_overdue) == (5, 3, 1)
    assert (r.previous_summary.columns, r.previous_summary.sensitive_columns) == (4, 1)
    assert (r.previous_summary.sensitive_records, r.previous_summary.audit_entries) == (0, 0)


def test_sensitive_records_minors_and_encryption_coverage(built):
    s = built[0].sensitive
    assert (s.sensitive_columns, s.sensitive_records, s.encrypted_records, s.minor_records) == (3, 1250, 850, 7)
    assert s.encryption_coverage == pytest.approx(850 / 1250)
    assert {(t.table, t.records, t.encrypted_records) for t in s.tables} == {
        ("contacts", 1000, 600), ("bank_accounts", 250, 250)}


def test_lawful_basis_retention_backups_and_purges(built):
    r = built[0]
    assert (r.lawful_basis.sources, r.lawful_basis.covered, r.lawful_basis.coverage) == (2, 1, 0.5)
    assert {x.source: x.basis for x in r.lawful_basis.rows} == {"crm": "contract", "legacy": None}
    assert (r.retention.plans, r.retention.plans_applied, r.retention.overdue_snapshots) == (2, 1, 1)
    assert r.retention.oldest_overdue_days >= 5 and r.retention.forgotten_in_period == 1
    b = r.backups
    assert (b.backups, b.backup_failures, b.verifications, b.verification_failures, b.restores) == (2, 1, 2, 1, 1)
    assert b.stores == ["/var/backups", "s3://b/p"]
    assert [(d.drill_id, d.rto_s, d.passed) for d in b.drills] == [("d1", 12.5, True), ("d2", 4000.0, False)]
    assert b.drills_passed == 1
    p = r.purges
    assert (p.plans, p.executions, p.certificates, p.keys_destroyed, p.certificate_ids) == (1, 1, 1, 1, ["cert-1"])


def test_requests_transfers_thresholds_incidents_and_audit(built):
    r = built[0]
    q = r.requests
    assert (q.received, q.open, q.closed, q.overdue) == (3, 2, 1, 1)
    assert {i.request_id: (i.kind, i.state, i.overdue) for i in q.items} == {
        "dsr-1": ("delete", "completed", False), "dsr-2": ("access", "received", True),
        "dsr-3": ("copy", "received", False)}
    c = r.cross_border
    assert (c.transfers, c.individuals, c.sensitive_individuals) == (1, 85_000, 2_000)
    th = {t.key: (t.share, t.alert, t.exceeded) for t in c.thresholds}
    assert th == {"standard_contract_pi": (0.85, True, False), "security_assessment_pi": (0.085, False, False),
                  "security_assessment_sensitive": (0.2, False, False)}
    assert (r.incidents.opened, r.incidents.closed, r.incidents.open_now, r.incidents.incident_ids) == (
        2, 1, 1, ["inc-2"])
    assert r.milestones.items == [{"milestone_id": "m1", "deal": "d1", "milestone": "signing", "date": "2026-12-01"}]
    assert r.pipia.records == 1 and r.compliance_audit.last_report_at is not None
    assert r.compliance_audit.individuals == 1000 and r.compliance_audit.frequency == "regularly"
    assert not r.compliance_audit.officer_required
    assert (r.audit_log.verified, r.audit_log.checkpoint_size, r.audit_log.checkpoint_root) == (True, 41, "ab" * 32)
    assert r.audit_log.entries == r.audit_log.entries_in_period == 27
    rop = r.record_of_processing
    assert rop.transfers == ["SG"] and "bank_account" in rop.data_categories and "transferee" in rop.recipients
    assert r.references["requests"] == ["PIPL Art 44-50", "GDPR Art 17"]


def test_json_validates_against_the_schema_kept_in_docs(built):
    assert SCHEMA == json_schema(), "docs/compliance-report.schema.json is stale: custody report compliance --schema"
    data = json.loads(built[1]["files"]["compliance.json"].read_bytes())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert ComplianceReport.model_validate(data) == built[0]
    broken = {**data, "sensitive": {**data["sensitive"], "encryption_coverage": 1.5}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(broken)


def test_html_has_inline_svg_charts_translated_and_no_script(built):
    files = built[1]["files"]
    zh = files["compliance.zh-CN.html"].read_text(encoding="utf-8")
    en = files["compliance.en.html"].read_text(encoding="utf-8")
    for html in (zh, en):
        assert len(re.findall(r"<svg\b", html)) >= 3
        assert "<script" not in html.lower()
        assert re.findall(r"https?://(?!www\.w3\.org/)", html) == []  # nothing loaded from elsewhere
    for title in SECTIONS["zh-CN"].values():
        assert title in zh
    # PI types, levels, citations and evidence terms translated, not only headings
    for word in ("银行账号", "居民身份证号码", "敏感", "《个人信息保护法》第十三条", "标准合同或认证（个人信息）",
                 "履行与客户的合同", "定期"):
        assert word in zh, word
    assert "bank account number" in en and "PIPL Art 13 (lawful bases)" in en
    # The CJK glyphs the page uses travel with it, so Chinese renders without a system CJK font.
    font = re.search(r"url\(data:font/ttf;base64,([A-Za-z0-9+/=]+)\)", zh)
    assert font, "no embedded font"
    cmap = TTFont(io.BytesIO(base64.b64decode(font.group(1)))).getBestCmap()
    assert all(ord(ch) in cmap for ch in "个人信息清单银行账号审计日志完整性0123456789")


def _pdf_text(path: Path) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(path).pages))


def test_pdf_carries_chinese_titles_and_the_json_figures_with_an_embedded_font(built):
    report, out = built
    assert out["pdf_missing"] is None
    path = out["files"]["compliance.zh-CN.pdf"]
    text = _pdf_text(path)
    for sid in ("inventory", "sensitive", "lawful_basis", "cross_border", "audit_log", "record_of_processing"):
        assert SECTIONS["zh-CN"][sid].replace(" ", "") in text, sid
    figures = [report.sensitive.sensitive_records, report.sensitive.encrypted_records, report.sensitive.minor_records,
               report.cross_border.individuals, report.retention.overdue_snapshots, report.audit_log.entries]
    for n in figures:
        assert num(n) in text, n
    assert "68.0%" in text and "居民身份证号码" in text and report.audit_log.checkpoint_root in text
    fonts = [f for page in PdfReader(path).pages for f in page["/Resources"]["/Font"].values()]
    descriptors = [d.get_object()["/FontDescriptor"] for f in fonts for d in f.get_object()["/DescendantFonts"]]
    assert descriptors and all(("/FontFile3" in d or "/FontFile2" in d) for d in descriptors)  # embedded
    assert "PIPLArt13(lawfulbases)" in _pdf_text(out["files"]["compliance.en.pdf"])


def test_without_the_cjk_font_the_json_and_html_still_come_out(built, tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTODY_CJK_FONT", str(tmp_path / "missing.otf"))
    out = write_compliance_report(built[0], tmp_path / "out")
    assert "missing.otf" in out["pdf_missing"]
    assert sorted(out["files"]) == ["compliance.en.html", "compliance.json", "compliance.zh-CN.html"]
    html = out["files"]["compliance.zh-CN.html"].read_text(encoding="utf-8")
    assert "个人信息清单" in html and "@font-face" not in html  # the reader's own fonts then
