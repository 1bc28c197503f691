"""Custody view in the Airflow UI: the run reports, newest first, behind Airflow's login.

Adds a "Custody reports" entry to the Browse menu (an embedded page served by a FastAPI app
mounted at ``/custody``). Reports hold counts, hashes and classifications only.
"""

from __future__ import annotations

import html

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from airflow.api_fastapi.core_api.security import requires_authenticated

app = FastAPI(title="Custody reports", dependencies=[Depends(requires_authenticated())])


def _report_dir():
    from custody.settings import Settings

    return Settings.from_env().report_dir


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    from custody.reports.index import list_reports

    rows = []
    for r in list_reports(_report_dir()):
        base = f"reports/{html.escape(r['source'])}/{html.escape(r['run_key'])}"
        levels = ", ".join(f"{k} {v}" for k, v in sorted(r["levels"].items()))
        rows.append(
            f"<tr><td>{html.escape(r['generated_at'])}</td><td>{html.escape(r['source'])}</td>"
            f"<td><code>{html.escape(r['run_key'])}</code></td><td>{r['tables']}</td><td>{r['rows']}</td>"
            f"<td>{r['quarantined']}</td><td>{'OK' if r['ok'] else 'FAILED'}</td><td>{html.escape(levels)}</td>"
            f"<td><a href='{base}/report.en.html'>en</a> · <a href='{base}/report.zh-CN.html'>中文</a> · "
            f"<a href='{base}/report.json'>json</a></td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan=9>No reports yet: trigger custody_pipeline.</td></tr>"
    return (
        "<!doctype html><meta charset=utf-8><title>Custody reports</title>"
        "<style>body{font:14px system-ui;margin:1.5rem}td,th{border:1px solid #ccd;padding:.2rem .5rem}"
        "table{border-collapse:collapse}</style><h1>Custody run reports</h1><table><tr><th>generated</th>"
        "<th>source</th><th>run</th><th>tables</th><th>rows</th><th>quarantined</th><th>status</th>"
        f"<th>columns by level</th><th>report</th></tr>{body}</table>"
    )


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
