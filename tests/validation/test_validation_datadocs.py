"""GX Data Docs per run: built from counts, linked by path, and holding no value of the data."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from custody.validation import (
    ColumnCheck,
    KeyTracker,
    TableRules,
    build_data_docs,
    summarize,
    validate_chunk,
    value_free_result,
)

RULES = TableRules(
    table="contacts",
    key_columns=["contact_id"],
    checks=[
        ColumnCheck(column="email", check="email"),
        ColumnCheck(column="mobile", check="cn_mobile"),
        ColumnCheck(column="resident_id", check="cn_resident_id"),
        ColumnCheck(column="postal_code", check="regex", args={"pattern": r"^[0-9]{6}$"}),
        ColumnCheck(column="credit", check="between", args={"min": 0, "max": 1000}),
        ColumnCheck(column="card_no", check="cn_bank_card", origin="inventory"),
    ],
)


@pytest.fixture
def site(data, tmp_path):
    """A validated chunk with failures in every check, its validation document and its Data Docs."""
    good = data.resident_id("110101", "19800101", "123")
    table = pa.table(
        {
            "contact_id": pa.array([1, 2, 3, 3, 4], pa.int64()),
            "email": [
                "zhang.wei@example.cn",
                "broken.address.at.example",
                "li.na@example.cn",
                "wang@example.cn",
                None,
            ],
            "mobile": ["13800138000", "13900139000", "12800128777", "13700137000", "+86 136 0013 6000"],
            "resident_id": [
                good,
                data.wrong_check(data.resident_id("310104", "19900202", "555")),
                good,
                good,
                good,
            ],
            "postal_code": ["100010", "200000", "ABCDEF", "300000", "400000"],
            "credit": pa.array(
                [Decimal("10.00"), Decimal("1000.50"), Decimal("20.00"), Decimal("30.00"), None],
                pa.decimal128(10, 2),
            ),
            "card_no": ["6222021234567890128", "6222021234567890129", None, "6222021234567890128", None],
        }
    )
    out = validate_chunk(table, RULES, tracker=KeyTracker("contacts"))
    report = summarize([out], table="contacts")
    doc = {
        "format": "custody-validation",
        "source": "crm",
        "run_key": "manual__run-1-abcd1234",
        "tables": [{"table": "contacts", "results": [c.model_dump(mode="json") for c in report.checks]}],
    }
    index = build_data_docs(
        doc, tmp_path / "reports" / "crm" / "run-1" / "datadocs", rules={"contacts": RULES}
    )
    return table, out, doc, index


def _strings(table: pa.Table) -> set[str]:
    out = set()
    for col in table.columns:
        for v in col.to_pylist():
            if v is not None and len(str(v)) >= 5:
                out.add(str(v))
    return out


def test_site_is_built_per_run_and_shows_results(site):
    table, out, _doc, index = site
    assert index.name == "index.html" and index.is_file()
    assert index.parent.name == "datadocs" and index.parent.parent.name == "run-1"
    pages = [p for p in index.parent.rglob("*.html") if "validations" in p.parts]
    assert len(pages) == 1
    html = pages[0].read_text(encoding="utf-8")
    assert "crm.contacts" in html and "manual__run-1-abcd1234" in html
    assert "16-19 digit bank card numbers passing Luhn" in html  # custom expectation rendered in words
    assert "^[0-9]{6}$" in html  # the rule (from config) is shown; it is not data
    assert out.rows_quarantined > 0


def test_data_docs_hold_no_value_of_the_data(site):
    """Grep every file of the generated site for every cell value of the validated chunk."""
    table, out, _doc, index = site
    needles = _strings(table) | _strings(out.quarantine.drop_columns(["_quarantine_reasons"]))
    assert len(needles) >= 15
    found = []
    for path in index.parent.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".json", ".js", ".css", ".txt"):
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [(path.name, v) for v in needles if v in text]
    assert found == []


def test_site_runs_no_script_and_loads_nothing_from_another_origin(site):
    """GX's pages pull jQuery, Bootstrap and Vega from public CDNs and fill the index by script."""
    import re

    _table, _out, doc, index = site
    foreign = re.compile(r"""(?:src|href|srcset)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
    pages = list(index.parent.rglob("*.html"))
    assert len(pages) >= 3
    for path in [*pages, *index.parent.rglob("*.css")]:
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text.lower() and " onclick=" not in text.lower(), path.name
        # Links a reader may follow are fine; what a page loads by itself must be local.
        loaded = re.findall(r"<(?:link|img|source|iframe)\b[^>]*>", text, re.I)
        assert [tag for tag in loaded if foreign.search(tag)] == [], path.name
        assert not re.search(r"url\(\s*[\"']?\s*(?:https?:)?//", text), path.name
    # The index is a static page: every table, its status and working links to its pages.
    html = index.read_text(encoding="utf-8")
    assert "crm.contacts" in html and "failed" in html
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert any(h.startswith("validations/") for h in hrefs) and "expectations/crm/contacts.html" in hrefs
    assert all((index.parent / h).is_file() for h in hrefs)
    page = next(p for p in pages if "validations" in p.parts)
    assert "16-19 digit bank card numbers passing Luhn" in page.read_text(encoding="utf-8")  # still rendered


def test_rebuild_replaces_the_site(site, tmp_path):
    _table, _out, doc, index = site
    stray = index.parent / "stray.html"
    stray.write_text("old", encoding="utf-8")
    again = build_data_docs(doc, index.parent)
    assert again == index and again.is_file() and not stray.exists()
    assert not list(index.parent.parent.glob(".datadocs.building-*"))


def test_value_free_result_keeps_counts_only():
    gx_result = {
        "element_count": 10,
        "missing_count": 1,
        "unexpected_count": 2,
        "unexpected_percent": 22.2,
        "partial_unexpected_list": ["13800138000"],
        "partial_unexpected_counts": [{"value": "x", "count": 1}],
        "unexpected_list": ["a"],
        "unexpected_index_list": [3, 4],
        "unexpected_index_query": "df.filter(...)",
        "observed_value": "secret",
        "details": {"value_counts": [{"value": "secret", "count": 1}]},
        "missing_percent": True,
    }
    assert value_free_result(gx_result) == {
        "element_count": 10,
        "missing_count": 1,
        "unexpected_count": 2,
        "unexpected_percent": 22.2,
    }


def test_templates_compile_once_per_process_and_render_the_same_site(site, tmp_path, monkeypatch):
    """After warm_templates, a build loads every GX template from the process's bytecode cache (no
    GX template is compiled again) and the pages are the ones built before, byte for byte."""
    import jinja2
    from custody.validation import datadocs

    _table, _out, doc, index = site
    run_time = __import__("datetime").datetime(2026, 12, 1, tzinfo=__import__("datetime").UTC)
    first = build_data_docs(doc, tmp_path / "a", rules={"contacts": RULES}, run_time=run_time)
    assert datadocs.warm_templates() > 20
    compiled: list[str] = []
    real = jinja2.Environment.compile

    def spy(self, source, name=None, filename=None, *args, **kwargs):
        compiled.append(str(filename))
        return real(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", spy)
    second = build_data_docs(doc, tmp_path / "b", rules={"contacts": RULES}, run_time=run_time)
    assert not [f for f in compiled if "great_expectations" in f]
    pages = sorted(p.relative_to(first.parent) for p in first.parent.rglob("*.html"))
    assert pages == sorted(p.relative_to(second.parent) for p in second.parent.rglob("*.html"))
    assert len(pages) >= 3
    for page in pages:
        a = (first.parent / page).read_text(encoding="utf-8")
        b = (second.parent / page).read_text(encoding="utf-8")
        assert a == b, page


def test_the_cached_view_keeps_gxs_constructor_parameters(tmp_path):
    """GX builds views from configuration by the constructor's parameters: after the cache is
    installed, custom styles and views directories still reach a view built that way."""
    import inspect

    from custody.validation import datadocs
    from great_expectations.data_context.util import instantiate_class_from_config
    from great_expectations.render.view.view import DefaultJinjaPageView

    datadocs.cache_gx_templates()
    assert inspect.getfullargspec(DefaultJinjaPageView.__init__).args == [
        "self", "custom_styles_directory", "custom_views_directory"]
    view = instantiate_class_from_config(
        config={"class_name": "DefaultJinjaPageView", "module_name": "great_expectations.render.view"},
        runtime_environment={"custom_styles_directory": str(tmp_path / "styles"),
                             "custom_views_directory": str(tmp_path / "views")},
        config_defaults={},
    )
    assert view.custom_styles_directory == str(tmp_path / "styles")
    assert view.env.bytecode_cache is datadocs._TEMPLATE_CACHE
