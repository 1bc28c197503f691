"""Posting a milestone's Asset event to Airflow's REST API (``custody milestone record --actions airflow``).

``POST /api/v2/assets/events`` with the asset of the milestone (``asset_uri``) and the record's
ids as ``extra``; the scheduler then runs the DAG the Asset schedules
(``custody_milestone_<milestone>``). A bearer token is read from ``CUSTODY_AIRFLOW_TOKEN`` when set
(``airflow`` deployments with the simple auth manager in all-admins mode need none). The event
carries ids and the date, never the note.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from custody.deal.config import asset_uri
from custody.deal.record import MilestoneRecord


class AirflowApiError(Exception):
    """The API server refused or could not be reached; the message gives the status and the path."""


def post_milestone_event(base_url: str, record: MilestoneRecord, *, timeout: float = 30.0) -> dict[str, Any]:
    """Post the Asset event of ``record``; returns the API's answer (event id, asset URI).

    Raises ``AirflowApiError``."""
    import httpx

    token = os.environ.get("CUSTODY_AIRFLOW_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    uri = asset_uri(record.milestone)
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as client:
        found = client.get(f"/api/v2/assets?uri_pattern={quote(uri, safe='')}")
        if found.status_code != 200:
            raise AirflowApiError(f"GET /api/v2/assets answered {found.status_code}")
        ids = [a["id"] for a in found.json().get("assets", []) if a.get("uri") == uri]
        if not ids:
            raise AirflowApiError(f"Airflow knows no asset {uri}: is dags/custody_milestone_actions.py deployed?")
        extra = {"deal": record.deal, "milestone": record.milestone, "date": record.date,
                 "milestone_id": record.milestone_id, "via": "cli"}
        posted = client.post("/api/v2/assets/events", json={"asset_id": ids[0], "extra": extra})
        if posted.status_code not in (200, 201):
            raise AirflowApiError(f"POST /api/v2/assets/events answered {posted.status_code}")
        return posted.json()
