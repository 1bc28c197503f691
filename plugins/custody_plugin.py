"""Custody view in the Airflow UI: the run reports, newest first, behind Airflow's login.

Adds a "Custody reports" entry to the Browse menu (an embedded page served by a FastAPI app
mounted at ``/custody``). Reports hold counts, hashes and classifications only.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from airflow.api_fastapi.core_api.security import requires_authenticated

app = FastAPI(title="Custody reports", dependencies=[Depends(requires_authenticated())])


TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def _templates():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    # A path segment in a link: percent-encoded (quote), then HTML-escaped by autoescape.
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    return env


def _report_dir():
    from custody.settings import Settings

    return Settings.from_env().report_dir


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    from custody.reports.index import list_reports

    return _templates().get_template("reports_index.html.j2").render(reports=list_reports(_report_dir()))


@app.get("/reports/{source}/{run_key}/datadocs/{rel:path}")
def datadocs_file(source: str, run_key: str, rel: str) -> FileResponse:
    from custody.reports.index import datadocs_path

    try:
        return FileResponse(datadocs_path(_report_dir(), source, run_key, rel))
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail="no such file") from None


@app.get("/reports/{source}/{run_key}/{name}")
def report_file(source: str, run_key: str, name: str) -> FileResponse:
    from custody.reports.index import report_path

    try:
        return FileResponse(report_path(_report_dir(), source, run_key, name))
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail="no such report") from None


class CustodyPlugin(AirflowPlugin):
    """Registers the reports app and its menu entry."""

    name = "custody"
    fastapi_apps = [{"app": app, "url_prefix": "/custody", "name": "Custody reports"}]
    external_views = [
        {"name": "Custody reports", "href": "custody/", "url_route": "custody", "destination": "nav",
         "category": "browse"}
    ]
