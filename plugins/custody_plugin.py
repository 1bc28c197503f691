"""Custody view in the Airflow UI: the run reports, newest first, behind Airflow's login.

Adds a "Custody reports" entry to the Browse menu (an embedded page served by a FastAPI app
mounted at ``/custody``). Reports hold counts, hashes and classifications only, but they still
describe a source's customer data, so they are shown only to whom may read that source:

- **Authorization**: a user sees and opens the reports (and Data Docs) of source ``S`` only when
  Airflow's auth manager lets them read the DAG ``custody_pipeline_S``
  (``is_authorized_dag(method="GET", details=DagDetails(id=..., team_name=...))``, as Airflow's
  own API authorizes DAG reads). Others get 403; the index lists only readable sources.
- **Containment**: every path is built from plain segments (never ``.``, ``..`` or a separator,
  also percent-encoded), resolved, and must stay inside the reports folder
  (``custody.reports.index``).
- **No foreign code**: every response carries a ``Content-Security-Policy`` that allows no script
  and nothing from another origin; the Data Docs pages are rewritten at build time to need none.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from airflow.api_fastapi.core_api.security import get_user, requires_authenticated

app = FastAPI(title="Custody reports", dependencies=[Depends(requires_authenticated())])

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: No script, no plugin, no frame, nothing from another origin; inline styles only (the reports'
#: own <style>). frame-ancestors 'self': the Airflow UI (same origin) embeds the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


@app.middleware("http")
async def _security_headers(request: Request, call_next: Any) -> Any:
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


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


def may_read_source(user: Any, source: str) -> bool:
    """Whether Airflow's auth manager lets ``user`` read the DAG of ``source`` (GET on the DAG,
    with the DAG's team, as Airflow's own ``requires_access_dag`` asks)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.models.dag import DagModel

    from custody.config import pipeline_dag_id

    dag_id = pipeline_dag_id(source)
    details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id))
    return get_auth_manager().is_authorized_dag(method="GET", details=details, user=user)


User = Annotated[Any, Depends(get_user)]


def _authorize(user: Any, source: str) -> None:
    if not may_read_source(user, source):
        raise HTTPException(status_code=403, detail="not allowed to read this source's reports")


@app.get("/", response_class=HTMLResponse)
def index(user: User) -> str:
    from custody.reports.index import list_reports

    readable: dict[str, bool] = {}
    reports = [r for r in list_reports(_report_dir())
               if readable.setdefault(r["source"], may_read_source(user, r["source"]))]
    return _templates().get_template("reports_index.html.j2").render(reports=reports)


@app.get("/reports/{source}/{run_key}/datadocs/{rel:path}")
def datadocs_file(source: str, run_key: str, rel: str, user: User) -> FileResponse:
    from custody.reports.index import datadocs_path

    _authorize(user, source)
    try:
        return FileResponse(datadocs_path(_report_dir(), source, run_key, rel))
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail="no such file") from None


@app.get("/reports/{source}/{run_key}/{name}")
def report_file(source: str, run_key: str, name: str, user: User) -> FileResponse:
    from custody.reports.index import report_path

    _authorize(user, source)
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
