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
