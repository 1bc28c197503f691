"""The custody console in the Airflow UI: overview, inventory, backups, purge queue, requests,
milestones and run reports, behind Airflow's login.

A FastAPI app mounted at ``/custody`` serves server-rendered pages (Jinja2 templates in
``templates/``, no script) and a "Custody" entry in the UI's navigation embeds them; a run of a
custody DAG also shows a "Custody" view of that run (external view, destination ``dag_run``).
Pages show figures only (counts, states, dates, ids, pseudonyms), read from the catalog
(``custody.overview``), the run reports and Airflow's own runs and human-in-the-loop requests.
Pages of features whose catalog tables do not exist yet render empty with a label
(``custody.overview.sections``; a new page is one ``Section`` there). Reports and run states
still describe a source's customer data, so they are shown only to whom may read that source:

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

app = FastAPI(title="Custody console", dependencies=[Depends(requires_authenticated())])

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
    env.filters["num"] = lambda n: "-" if n is None else (f"{n:,}" if isinstance(n, int) else f"{n:,.1f}")
    env.filters["utc"] = _utc_text
    return env


def _utc_text(value: Any) -> str:
    """A time as ``YYYY-MM-DD HH:MM`` UTC (``-`` for none)."""
    from datetime import UTC, datetime

    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M")


def _report_dir():
    from custody.settings import Settings

    return Settings.from_env().report_dir


def may_read_dag(user: Any, dag_id: str) -> bool:
    """Whether Airflow's auth manager lets ``user`` read the DAG ``dag_id`` (with its team)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.models.dag import DagModel

    details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id))
    return get_auth_manager().is_authorized_dag(method="GET", details=details, user=user)


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


def _page(name: str, user: Any, *, root: str = "", **values: Any) -> str:
    """Render a console page: ``root`` is the relative way back to ``/custody/`` (links stay
    relative, so the console works under any base URL)."""
    from custody.overview.sections import SECTIONS

    return _templates().get_template(name).render(root=root, sections=SECTIONS, user=getattr(user, "username", ""),
                                                  **values)


def _settings():
    from custody.settings import Settings

    return Settings.from_env()


@cache
def _engine(url: str):
    import sqlalchemy as sa

    return sa.create_engine(url, pool_pre_ping=True)


def _catalog():
    return _engine(_settings().catalog_url)


def _sources() -> list[str]:
    """Configured sources and every source with a report (a source removed from the configuration
    keeps its history)."""
    from custody.config import ConfigError, load_sources
    from custody.reports.index import list_reports

    names = {r["source"] for r in list_reports(_report_dir())}
    try:
        names.update(s.name for s in load_sources().sources)
    except ConfigError:
        pass
    return sorted(names)


def _readable(user: Any) -> list[str]:
    return [s for s in _sources() if may_read_source(user, s)]


def _dag_runs(dag_ids: list[str], per_dag: int = 5) -> dict[str, list[dict[str, Any]]]:
    """The last runs of each DAG from Airflow's metadata database, newest first, with their real
    state (queued, running, success, failed)."""
    from sqlalchemy import select

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    out: dict[str, list[dict[str, Any]]] = {d: [] for d in dag_ids}
    if not dag_ids:
        return out
    with create_session() as session:
        rows = session.execute(select(DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.run_after, DagRun.end_date)
                               .where(DagRun.dag_id.in_(dag_ids)).order_by(DagRun.run_after.desc())).all()
    for dag_id, run_id, state, run_after, end_date in rows:
        if len(out[dag_id]) < per_dag:
            out[dag_id].append({"run_id": run_id, "state": str(getattr(state, "value", state) or "none"),
                                "run_after": run_after, "end_date": end_date})
    return out


def _open_approvals(dag_ids: list[str]) -> list[dict[str, Any]]:
    """Human-in-the-loop requests (approvals) of these DAGs that nobody has answered yet."""
    from sqlalchemy import select

    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    if not dag_ids:
        return []
    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
                   HITLDetail.created_at)
            .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
            .where(TaskInstance.dag_id.in_(dag_ids), HITLDetail.responded_at.is_(None))
            .order_by(HITLDetail.created_at)).all()
    return [{"dag_id": d, "run_id": r, "task_id": t, "map_index": m, "created_at": c} for d, r, t, m, c in rows]


def _custody_dags(user: Any) -> list[str]:
    """Custody's DAGs (``custody_*``: pipelines, drill, purge, requests, ...) ``user`` may read."""
    from sqlalchemy import select

    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        ids = session.scalars(select(DagModel.dag_id).where(DagModel.dag_id.like("custody\\_%", escape="\\"))).all()
    return sorted(d for d in ids if may_read_dag(user, d))


def _approval_link(a: dict[str, Any]) -> str:
    """The Airflow UI page where a human answers the request (``.../required_actions``)."""
    path = f"dags/{quote(a['dag_id'], safe='')}/runs/{quote(a['run_id'], safe='')}/tasks/{quote(a['task_id'], safe='')}"
    if a.get("map_index") is not None and a["map_index"] >= 0:
        path += f"/mapped/{a['map_index']}"
    return path + "/required_actions"


def _source_of(dag_id: str) -> str | None:
    prefix = "custody_pipeline_"
    return dag_id[len(prefix):] if dag_id.startswith(prefix) else None


def _catalog_read(what: Any, default: Any) -> tuple[Any, str | None]:
    """``what()`` or ``default`` and the error's class (a catalog not migrated or unreachable)."""
    try:
        return what(), None
    except Exception as exc:  # shown as a label on the page, never its message
        return default, type(exc).__name__


@app.get("/", response_class=HTMLResponse)
def overview(user: User) -> str:
    """Each readable source's last runs (Airflow's state and the report's), next milestone, open
    approvals and overdue requests; what needs attention; the audit log's integrity."""
    from custody.config import pipeline_dag_id
    from custody.documents import run_key_for
    from custody.overview.attention import audit_integrity, needs_attention
    from custody.overview.runs import last_runs
    from custody.overview.sections import read_section, section

    sources = _readable(user)
    dag_of = {s: pipeline_dag_id(s) for s in sources}
    runs = _dag_runs(list(dag_of.values()))
    reports = {(r.source, r.run_key): r for rs in last_runs(_report_dir(), per_source=50).values() for r in rs}
    # Approvals of any custody DAG the user may read (purge, requests, ...), by source where the
    # DAG names one (custody_<kind>_<source>).
    approvals = [dict(a, link=_approval_link(a)) for a in _open_approvals(_custody_dags(user))]
    settings, engine = _settings(), _catalog()
    milestones, _ = _catalog_read(lambda: read_section(engine, section("milestones"), sources=set(sources)), None)
    requests, _ = _catalog_read(lambda: read_section(engine, section("requests"), sources=set(sources)), None)
    integrity = audit_integrity(settings)
    attention, catalog_error = _catalog_read(lambda: needs_attention(settings, engine, integrity=integrity), [])
    readable = set(sources)
    # Items about a source only for who may read it; stores, drills and the audit log for everyone.
    attention = [a for a in attention if a.topic not in ("run", "drift") or a.subject in readable]
    rows = []
    for s in sources:
        last = []
        for r in runs[dag_of[s]]:
            rep = reports.get((s, run_key_for(r["run_id"])))
            last.append(dict(r, run_key=run_key_for(r["run_id"]), report=rep))
        rows.append({"source": s, "dag_id": dag_of[s], "runs": last,
                     "milestone": _next(milestones, s),
                     "approvals": [a for a in approvals if a["dag_id"].endswith(f"_{s}")],
                     "overdue": _overdue(requests, s)})
    return _page("overview.html.j2", user, rows=rows, attention=attention, integrity=integrity, approvals=approvals,
                 catalog_error=catalog_error, milestones_available=bool(milestones and milestones.available),
                 requests_available=bool(requests and requests.available))


def _next(data: Any, source: str) -> dict[str, Any] | None:
    """The next milestone of ``source`` not yet reached (smallest days left >= 0)."""
    if not data or not data.available:
        return None
    ahead = [r for r in data.rows if r.get("source") in (source, "*") and r.get("days left") is not None
             and r["days left"] >= 0 and not r.get("reached_at")]
    return min(ahead, key=lambda r: r["days left"], default=None)


def _overdue(data: Any, source: str) -> int | None:
    """Open requests of ``source`` past their due date (None: the feature does not exist yet)."""
    if not data or not data.available:
        return None
    # A request without a source is about every source.
    return sum(1 for r in data.rows if r.get("source") in (source, None) and r.get("days left") is not None
               and r["days left"] < 0 and r.get("state") not in ("executed", "closed", "rejected"))


@app.get("/inventory", response_class=HTMLResponse)
def inventory(user: User) -> str:
    """Columns by level and PI type per readable source; drift history."""
    from custody.overview.inventory import drift_events, drift_history, levels_by_type

    sources = set(_readable(user))
    engine = _catalog()
    levels, error = _catalog_read(lambda: levels_by_type(engine), {})
    history, _ = _catalog_read(lambda: drift_history(engine, limit=200), [])
    events, _ = _catalog_read(lambda: drift_events(engine, limit=200), [])
    return _page("inventory.html.j2", user, levels={k: v for k, v in levels.items() if k in sources},
                 history=[h for h in history if h.source in sources][:50],
                 events=[e for e in events if e["source"] in sources][:100], catalog_error=error)


@app.get("/backups", response_class=HTMLResponse)
def backups(user: User) -> str:
    """Snapshots per store (of readable sources), each store's last verification, restore drills."""
    from custody.overview.backups import drills, store_backups

    sources = set(_readable(user))
    engine = _catalog()
    stores, error = _catalog_read(lambda: store_backups(engine), [])
    for st in stores:
        st.snapshots = [x for x in st.snapshots if x["source"] in sources]
    drill_rows, _ = _catalog_read(lambda: drills(engine), [])
    drill_rows = [d for d in drill_rows if not d.snapshot_id or d.snapshot_id.split("/")[0] in sources]
    return _page("backups.html.j2", user, stores=stores, drills=drill_rows, catalog_error=error)


@app.get("/reports", response_class=HTMLResponse)
def index(user: User) -> str:
    """The run reports of readable sources, newest first."""
    from custody.reports.index import list_reports

    readable: dict[str, bool] = {}
    reports = [r for r in list_reports(_report_dir())
               if readable.setdefault(r["source"], may_read_source(user, r["source"]))]
    return _page("reports_index.html.j2", user, reports=reports)


@app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
def run_view(dag_id: str, run_id: str, user: User) -> str:
    """One run of a custody DAG (the view Airflow shows on the run): its state, report, approvals."""
    from custody.documents import run_key_for
    from custody.overview.runs import last_runs

    source = _source_of(dag_id)
    if source is None:
        raise HTTPException(status_code=404, detail="not a custody pipeline run")
    _authorize(user, source)
    state = next((r for r in _dag_runs([dag_id], per_dag=10_000)[dag_id] if r["run_id"] == run_id), None)
    run_key = run_key_for(run_id)
    report = next((r for r in last_runs(_report_dir(), per_source=10_000).get(source, []) if r.run_key == run_key),
                  None)
    approvals = [dict(a, link=_approval_link(a)) for a in _open_approvals([dag_id]) if a["run_id"] == run_id]
    return _page("run.html.j2", user, root="../../", source=source, dag_id=dag_id, run_id=run_id, run_key=run_key,
                 state=state, report=report, approvals=approvals)


def _section_page(key: str):
    def page(user: User) -> str:
        from custody.overview.sections import read_section, section

        sec = section(key)
        data, error = _catalog_read(lambda: read_section(_catalog(), sec, sources=set(_readable(user))), None)
        return _page("section.html.j2", user, section=sec, data=data, catalog_error=error,
                     link=_approval_link)

    page.__name__ = f"section_{key}"
    return page


def _register_sections() -> None:
    from custody.overview.sections import SECTIONS

    for sec in SECTIONS:
        app.get(f"/{sec.key}", response_class=HTMLResponse, name=f"section_{sec.key}")(_section_page(sec.key))


_register_sections()


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
    """Registers the console app, its navigation entry and its view on each DAG run."""

    name = "custody"
    fastapi_apps = [{"app": app, "url_prefix": "/custody", "name": "Custody console"}]
    external_views = [
        {"name": "Custody", "href": "custody/", "url_route": "custody", "destination": "nav",
         "nav_top_level": True},
        # Placeholders the UI fills in; the page answers 404 for a DAG that is not a custody pipeline.
        {"name": "Custody", "href": "custody/runs/{DAG_ID}/{RUN_ID}", "url_route": "custody-run",
         "destination": "dag_run"},
    ]
