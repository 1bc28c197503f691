"""The UI plugin: registered, login required, lists reports, refuses path tricks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plugin(airflow_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    run = tmp_path / "reports" / "crm" / "run-1"
    run.mkdir(parents=True)
    (run / "report.json").write_text(json.dumps({
        "source": "crm", "run_key": "run-1", "generated_at": "2026-11-30T10:00:00+00:00",
        "reconciliation": [{"extracted_rows": 10, "quarantined_rows": 1, "reconciled": True, "passed": True}],
        "levels": {"sensitive": 2}}))
    (run / "report.en.html").write_text("<html>report</html>")
    (run / "datadocs").mkdir()
    (run / "datadocs" / "index.html").write_text("<html>docs</html>")
    spec = importlib.util.spec_from_file_location("custody_plugin", ROOT / "plugins" / "custody_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _client(module, authenticated: bool):
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.core_api.security import get_user

    if authenticated:
        module.app.dependency_overrides[get_user] = lambda: object()
    return TestClient(module.app)


def test_plugin_registers_app_and_menu(plugin):
    p = plugin.CustodyPlugin
    assert p.fastapi_apps[0]["url_prefix"] == "/custody"
    assert p.external_views[0]["destination"] == "nav" and not p.external_views[0]["href"].startswith("/")


def test_login_required(plugin):
    assert _client(plugin, authenticated=False).get("/").status_code in (401, 403)


def test_index_is_a_template_with_quoted_links_and_escaped_text(plugin, tmp_path):
    odd = tmp_path / "reports" / "crm" / "run a&b"
    odd.mkdir(parents=True)
    (odd / "report.json").write_text(json.dumps({
        "source": "crm", "run_key": "run a&b<x>", "generated_at": "2026-11-30T11:00:00+00:00",
        "reconciliation": [{"extracted_rows": 3, "quarantined_rows": 0, "reconciled": True, "passed": False}],
        "levels": {}}))
    page = _client(plugin, authenticated=True).get("/").text
    assert page.startswith("<!doctype html>")
    # Link: percent-encoded path segment; text: HTML-escaped; never raw.
    assert 'href="reports/crm/run%20a%26b%3Cx%3E/report.en.html"' in page
    assert "<code>run a&amp;b&lt;x&gt;</code>" in page and "run a&b<x>" not in page
    assert page.index("run a&amp;b") < page.index("run-1")  # newest first
    assert '<td class="failed">FAILED</td>' in page


def test_lists_reports_and_serves_files(plugin):
    client = _client(plugin, authenticated=True)
    page = client.get("/")
    assert page.status_code == 200 and "run-1" in page.text and "OK" in page.text
    assert client.get("/reports/crm/run-1/report.en.html").text == "<html>report</html>"
    assert client.get("/reports/crm/run-1/..%2F..%2Fkeys").status_code == 404
    assert client.get("/reports/crm/run-1/manifest.json").status_code == 404
    assert client.get("/reports/crm/run-1/datadocs/index.html").text == "<html>docs</html>"
    assert client.get("/reports/crm/run-1/datadocs/..%2F..%2F..%2Fkeys%2Fkek.json").status_code == 404
