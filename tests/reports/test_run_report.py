"""The run report (JSON and HTML in English and Chinese): what an operator and an auditor read."""

from __future__ import annotations

import re

import pytest

from custody.documents import CheckResult, RunManifest, TableManifest, TableValidation, ValidationDocument
from custody.reports import build_run_report, write_run_report


def _manifest() -> RunManifest:
    tm = TableManifest(table="contacts", source_table="contacts", primary_key=["id"],
                       columns=[{"name": "id", "arrow_type": "int64", "nullable": False},
                                {"name": "email", "arrow_type": "string", "nullable": True}],
                       source_rows=10, extracted_rows=10, content_hash="ab" * 16, chunks=[])
    return RunManifest(source="crm", run_key="run-1", dialect="sqlite", tables=[tm])


def _validation() -> ValidationDocument:
    results = [
        CheckResult(expectation="expect_column_values_to_match_regex", column="email", check="email",
                    reason="email_invalid", evaluated=10, missing=3, unexpected=1, gx_unexpected=1, success=False),
        CheckResult(expectation="expect_column_values_to_not_be_null", column="id", check="not_null",
                    reason="id_null", evaluated=10, missing=0, unexpected=0, gx_unexpected=0, success=True),
    ]
    table = TableValidation(table="contacts", source_rows=10, extracted_rows=10, valid_rows=9, quarantined_rows=1,
                            failing_share=0.1, max_failing_share=0.2, passed=True, results=results)
    return ValidationDocument(source="crm", run_key="run-1", tables=[table])


def _cells(html: str, column: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(<td><code>expect_[^<]*</code></td>.*?)</tr>", html, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows if f"<td>{column}</td>" in r]


@pytest.mark.parametrize(("lang", "header"), [("html", "Missing (null)"), ("html_zh", "缺失（空值）")])
def test_html_shows_the_null_count_of_every_validated_column(tmp_path, lang, header):
    paths = write_run_report(build_run_report(_manifest(), validation=_validation()), tmp_path)
    html = paths[lang].read_text(encoding="utf-8")
    assert f"<th>{header}</th>" in html
    email = _cells(html, "email")[0]
    assert email[2:5] == ["10", "3", "1"]  # evaluated, missing (null), unexpected
    assert _cells(html, "id")[0][2:5] == ["10", "0", "0"]


def test_the_report_stage_writes_a_report_without_a_manifest_and_cleans_the_runs_temporary_files(
        tmp_path, monkeypatch, new_catalog, new_keyring):
    import json

    from custody.stages import Runtime, stage_report
    from custody.stages.failures import StageFailure, run_outcome

    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    rt = Runtime.from_env()
    new_catalog(rt.settings.home / "catalog.db")
    new_keyring(rt.settings.keyring)
    # A killed extract_part left half an object; another run's temporary file is not this run's.
    leftover = rt.settings.staging_dir / "crm" / "run-9" / "tables" / "contacts" / "p0001" / ".tmp-chunk-00000.cdy.ab12"
    other = rt.settings.staging_dir / "crm" / "run-8" / "tables" / "contacts" / "p0000" / ".tmp-chunk-00000.cdy.cd34"
    for path in (leftover, other):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"partial")
    outcome = run_outcome(
        {"plan_extract": "success", "extract_part[0]": "success", "extract_part[1]": "failed",
         "commit_extract": "upstream_failed", "back_up": "upstream_failed"},
        [StageFailure(stage="extract_part", map_index=1, error="SourceUnavailable", transient=True,
                      message="crm.contacts part 1: the database refused the read (OperationalError)")])
    half_site = rt.settings.report_dir / "crm" / "run-9" / ".datadocs.building-4242"
    half_site.mkdir(parents=True)
    (half_site / "index.html").write_text("half built")
    paths = stage_report(rt, "crm", "run-9", outcome=outcome)
    assert not half_site.exists()
    report = json.loads(open(paths["json"], encoding="utf-8").read())
    assert report["source"] == "crm" and report["run_key"] == "run-9" and report["reconciliation"] == []
    assert report["outcome"]["state"] == "failed" and report["outcome"]["failed_stages"] == ["extract_part[1]"]
    assert report["outcome"]["failures"][0]["message"].startswith("crm.contacts part 1")
    html = open(paths["html"], encoding="utf-8").read()
    assert "The run FAILED: extract_part[1]" in html and "transient (retried)" in html
    assert "not run (an earlier stage failed)" in html
    assert not leftover.exists() and other.exists()


def test_a_failed_task_without_a_recorded_reason_is_still_named():
    from custody.stages.failures import run_outcome

    outcome = run_outcome({"plan_extract": "success", "extract_part[0]": "failed", "commit_extract": "upstream_failed"},
                          [])
    assert outcome.state == "failed" and outcome.failed == ["extract_part[0]"]
    (failure,) = outcome.failures
    assert (failure.stage, failure.map_index, failure.error) == ("extract_part", 0, "TaskFailed")
    assert run_outcome({"plan_extract": "success", "report": "success"}, []).state == "success"
