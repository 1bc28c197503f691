"""Every word of the compliance report exists in both languages, and the run's period rules."""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from custody.classification.policy import load_policy
from custody.config import load_sources
from custody.reports import compliance
from custody.reports.compliance_collect import period_for, run_period
from custody.reports.compliance_labels import CITATIONS, FIELDS, LANGS, LEVELS, PI_TYPES, SECTIONS, TERMS, text

ROOT = Path(__file__).resolve().parents[2]


def test_every_pi_type_level_citation_and_section_is_translated():
    policy_types = set(load_policy().levels)
    cited = {c for refs in compliance.REFERENCES.values() for c in refs}
    for lang in LANGS:
        assert policy_types <= set(PI_TYPES[lang]), lang
        assert cited <= set(CITATIONS[lang]), lang
        assert set(compliance.REFERENCES) <= set(SECTIONS[lang]), lang
        assert set(LEVELS[lang]) == {"public", "internal", "sensitive"}
    for group in (SECTIONS, FIELDS, PI_TYPES, CITATIONS, TERMS):
        assert set(group["en"]) == set(group["zh-CN"])
    bases = {s.lawful_basis for s in load_sources().sources}
    assert all(text("zh-CN", "term", f"basis:{b}") != f"basis:{b}" for b in bases)
    assert all(text("zh-CN", "term", t) != t for t in compliance.CAC_THRESHOLDS)
    # Chinese really is Chinese: every value carries a CJK character, not English copied across
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in v) for v in SECTIONS["zh-CN"].values())
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in v) for v in PI_TYPES["zh-CN"].values())


def test_periods_are_calendar_months_and_a_scheduled_run_reports_the_month_just_ended():
    p = period_for("2026-03")
    assert (p.start, p.end, p.previous_start, p.previous_end) == ("2026-03-01", "2026-04-01", "2026-02-01",
                                                                  "2026-03-01")
    assert period_for("2026-12").end == "2027-01-01" and period_for("2026-01").previous_start == "2025-12-01"
    with pytest.raises(ValueError, match="YYYY-MM"):
        period_for("2026-13")
    at = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert run_period(True, at) == "2026-11"  # the monthly run: last month
    assert run_period(False, at) == "2026-12"  # a milestone or manual run: the month to date
    assert run_period(True, at, "2025-07") == "2025-07"


def test_milestone_assets_join_the_monthly_schedule_when_named(monkeypatch):
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    monkeypatch.syspath_prepend(str(ROOT / "dags"))
    monkeypatch.delitem(sys.modules, "custody_compliance_report", raising=False)
    module = importlib.import_module("custody_compliance_report")
    dag = module.custody_compliance_report()
    # Monthly, OR'ed with every deal milestone's Asset, the very Assets custody_milestone updates
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert {(a.name, a.uri) for a in dag.timetable.asset_condition.objects} == {
        (f"custody_milestone_{m}", f"custody://milestone/{m}")
        for m in ("due_diligence", "signing", "closing", "post_closing")}
    assert module.schedule(()).__class__ is CronTriggerTimetable
    both = module.schedule(("custody_milestone_signing", "custody_milestone_closing"))
    assert isinstance(both, AssetOrTimeSchedule) and isinstance(both.timetable, CronTriggerTimetable)
    assert {a.name for a in both.asset_condition.objects} == {"custody_milestone_signing", "custody_milestone_closing"}
