"""The UI plugin: registered, login required, reports only for who may read the source's DAG,
no path outside the reports folder, and a Content-Security-Policy on every response.

Authorization runs through Airflow's real auth manager (SimpleAuthManager) and real JWTs: an
admin, and viewers of two teams. Each team owns the DAG bundle of one source (Airflow's
multi-team model), so a viewer may read one source's DAG and not the other's.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SALES, MUSIC = "plugsales", "plugmusic"  # sources whose DAGs belong to the teams below


def _report(run: Path, source: str, run_key: str, generated_at: str, *, passed: bool = True) -> None:
    run.mkdir(parents=True)
    (run / "report.json").write_text(json.dumps({
        "source": source, "run_key": run_key, "generated_at": generated_at,
        "reconciliation": [{"extracted_rows": 10, "quarantined_rows": 1, "reconciled": True, "passed": passed}],
        "levels": {"sensitive": 2}}))
    (run / "report.en.html").write_text(f"<html>report {source}</html>")
    (run / "datadocs").mkdir()
    (run / "datadocs" / "index.html").write_text(f"<html>docs {source}</html>")


@pytest.fixture
def teams(airflow_env):
    """Teams ``sales`` and ``music`` owning the DAG bundles of the two sources' DAGs."""
    from sqlalchemy import delete

    from airflow.models import dag as dag_module
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.team import Team, dag_bundle_team_association_table
    from airflow.utils.session import create_session

    pairs = {SALES: "sales", MUSIC: "music"}
    with create_session() as session:
        for source, team in pairs.items():
            t = Team(name=team)
            bundle = DagBundleModel(name=f"bundle_{source}")
            bundle.teams.append(t)
            session.add_all([t, bundle])
            session.flush()
            session.add(DagModel(dag_id=f"custody_pipeline_{source}", bundle_name=bundle.name,
                                 fileloc=f"/dags/{source}.py"))
    dag_module._team_name_cache.clear()  # Airflow caches a DAG's team for a while
    yield pairs
    with create_session() as session:
        session.execute(delete(DagModel).where(DagModel.dag_id.in_([f"custody_pipeline_{s}" for s in pairs])))
        session.execute(delete(dag_bundle_team_association_table))
        session.execute(delete(DagBundleModel).where(DagBundleModel.name.in_([f"bundle_{s}" for s in pairs])))
        session.execute(delete(Team).where(Team.name.in_(list(pairs.values()))))
    dag_module._team_name_cache.clear()


@pytest.fixture
def plugin(airflow_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-" + "k" * 64)
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER",
                       "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    reports = tmp_path / "reports"
    _report(reports / "crm" / "run-1", "crm", "run-1", "2026-11-30T10:00:00+00:00")
    _report(reports / SALES / "run-2", SALES, "run-2", "2026-11-30T09:00:00+00:00")
    _report(reports / MUSIC / "run-3", MUSIC, "run-3", "2026-11-30T08:00:00+00:00")
    from airflow.api_fastapi.app import create_auth_manager, purge_cached_app

    purge_cached_app()
    create_auth_manager()
    spec = importlib.util.spec_from_file_location("custody_plugin", ROOT / "plugins" / "custody_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    purge_cached_app()


def _token(role: str, teams: list[str] | None = None) -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"u-{role}", role=role, teams=teams))


def _client(module, token: str | None = None):
    from fastapi.testclient import TestClient

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(module.app, headers=headers)


def test_plugin_registers_app_and_menu(plugin):
    p = plugin.CustodyPlugin
    assert p.fastapi_apps[0]["url_prefix"] == "/custody"
    assert p.external_views[0]["destination"] == "nav" and not p.external_views[0]["href"].startswith("/")
    run_view = p.external_views[1]
    assert run_view["destination"] == "dag_run" and run_view["href"] == "custody/runs/{DAG_ID}/{RUN_ID}"


def test_login_required(plugin):
    res = _client(plugin).get("/")
    assert res.status_code in (401, 403)
    assert "script-src" not in res.headers["content-security-policy"]  # default-src 'none' covers scripts
    assert res.headers["content-security-policy"].startswith("default-src 'none'")


def test_every_response_carries_a_policy_that_allows_no_script(plugin):
    client = _client(plugin, _token("admin"))
    for path in ("/reports", "/reports/crm/run-1/report.en.html", "/reports/crm/run-1/datadocs/index.html",
                 "/reports/crm/run-1/manifest.json", "/reports/crm/nope/report.json"):
        res = client.get(path)
        csp = res.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "'unsafe-eval'" not in csp and "http" not in csp, path
        assert res.headers["x-content-type-options"] == "nosniff", path


def test_index_is_a_template_with_quoted_links_and_escaped_text(plugin, tmp_path):
    run = tmp_path / "reports" / "crm" / "run-a.b_c"
    _report(run, "crm", "run a&b<x>", "2026-11-30T11:00:00+00:00", passed=False)
    doc = json.loads((run / "report.json").read_text())
    doc["levels"] = {"<b>odd&level</b>": 1}
    (run / "report.json").write_text(json.dumps(doc))
    (tmp_path / "reports" / "crm" / "run x").mkdir()  # a folder that is no run key: never listed
    (tmp_path / "reports" / "crm" / "run x" / "report.json").write_text(json.dumps(doc))
    page = _client(plugin, _token("admin")).get("/reports").text
    assert page.startswith("<!doctype html>")
    # Links and names come from the folders (what is served and authorized), text is HTML-escaped.
    assert 'href="reports/crm/run-a.b_c/report.en.html"' in page and "run a&amp;b" not in page
    assert "&lt;b&gt;odd&amp;level&lt;/b&gt; 1" in page and "<b>odd" not in page
    assert "run x" not in page and "run%20x" not in page
    assert page.index("run-a.b_c") < page.index("run-1")  # newest first
    assert '<td class="failed">FAILED</td>' in page


def test_lists_reports_and_serves_files(plugin):
    client = _client(plugin, _token("admin"))
    page = client.get("/reports")
    assert page.status_code == 200 and "run-1" in page.text and "OK" in page.text
    assert client.get("/reports/crm/run-1/report.en.html").text == "<html>report crm</html>"
    assert client.get("/reports/crm/run-1/..%2F..%2Fkeys").status_code == 404
    assert client.get("/reports/crm/run-1/manifest.json").status_code == 404
    assert client.get("/reports/crm/run-1/datadocs/index.html").text == "<html>docs crm</html>"
    assert client.get("/reports/crm/run-1/datadocs/..%2F..%2F..%2Fkeys%2Fkek.json").status_code == 404


@pytest.mark.parametrize("dots", ["..", "%2E%2E", "%2e%2e", "."])
def test_dot_segments_as_source_or_run_key_serve_nothing_outside_the_reports(plugin, tmp_path, dots):
    from custody.reports.index import report_path

    outside = tmp_path / "outside"  # CUSTODY_HOME/outside: beside the reports folder, not in it
    outside.mkdir()
    (outside / "report.json").write_text('{"secret": "outside the reports folder"}')
    (tmp_path / "report.json").write_text('{"secret": "CUSTODY_HOME itself"}')
    (outside / "datadocs").mkdir()
    (outside / "datadocs" / "index.html").write_text("outside")
    client = _client(plugin, _token("admin"))
    for path in (f"/reports/{dots}/outside/report.json", f"/reports/{dots}/{dots}/report.json",
                 f"/reports/{dots}/outside/datadocs/index.html", f"/reports/crm/{dots}/report.json"):
        res = client.get(path)
        assert res.status_code == 404 and "secret" not in res.text and "outside" not in res.text, path
    for source, run_key in (("..", "outside"), ("..", ".."), (".", "run-1"), ("crm", "..")):
        with pytest.raises(FileNotFoundError):
            report_path(tmp_path / "reports", source, run_key, "report.json")


def test_a_symlinked_run_folder_leading_outside_is_refused(plugin, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "report.en.html").write_text("not a report")
    (tmp_path / "reports" / "crm" / "run-link").symlink_to(outside, target_is_directory=True)
    res = _client(plugin, _token("admin")).get("/reports/crm/run-link/report.en.html")
    assert res.status_code == 404 and "not a report" not in res.text


def test_reports_are_shown_only_to_who_may_read_the_sources_dag(plugin, teams):
    sales = _client(plugin, _token("viewer", ["sales"]))
    music = _client(plugin, _token("viewer", ["music"]))
    admin = _client(plugin, _token("admin"))
    page = admin.get("/reports").text
    assert SALES in page and MUSIC in page and "run-1" in page
    page = sales.get("/reports").text
    assert SALES in page and MUSIC not in page
    assert "run-1" in page  # crm's DAG belongs to no team: every viewer may read it
    assert sales.get(f"/reports/{SALES}/run-2/report.en.html").status_code == 200
    for path in (f"/reports/{MUSIC}/run-3/report.en.html", f"/reports/{MUSIC}/run-3/report.json",
                 f"/reports/{MUSIC}/run-3/datadocs/index.html", f"/reports/{MUSIC}/no-such-run/report.json"):
        res = sales.get(path)
        assert res.status_code == 403 and MUSIC not in res.text, path
    assert music.get(f"/reports/{MUSIC}/run-3/report.en.html").text == f"<html>report {MUSIC}</html>"
    assert music.get(f"/reports/{SALES}/run-2/report.en.html").status_code == 403
    assert SALES not in music.get("/reports").text


def test_a_user_without_a_role_reads_no_report(plugin):
    nobody = _client(plugin, _token(None))
    assert nobody.get("/reports/crm/run-1/report.en.html").status_code == 403
    assert "run-1" not in nobody.get("/reports").text



def test_the_index_names_the_stage_that_failed(plugin, tmp_path):
    run = tmp_path / "reports" / "crm" / "run-9"
    _report(run, "crm", "run-9", "2026-11-30T12:00:00+00:00")
    doc = json.loads((run / "report.json").read_text())
    doc["outcome"] = {"state": "failed", "failed_stages": ["plan_extract"]}
    (run / "report.json").write_text(json.dumps(doc))
    page = _client(plugin, _token("admin")).get("/reports").text
    assert '<td class="failed">FAILED: plan_extract</td>' in page  # reconciled rows, but a stage failed
