"""Milestone commands: ``custody milestone record | list``.

``record`` stores the milestone (catalog and audit log, ``custody.deal.record``) and starts its
actions: in this process (``--actions local``, the default), by posting an Asset event to
Airflow's REST API so that the scheduler runs ``custody_milestone_<milestone>``
(``--actions airflow``), or not at all (``--actions none``).
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from custody.cli.app import app
from custody.cli.common import console, out

milestone_app = typer.Typer(no_args_is_help=True, help="Deal milestones (deal.yaml).")
app.add_typer(milestone_app, name="milestone")


class MilestoneName(str, Enum):
    due_diligence = "due_diligence"
    signing = "signing"
    closing = "closing"
    post_closing = "post_closing"


class Actions(str, Enum):
    local = "local"
    airflow = "airflow"
    none = "none"


@milestone_app.command("record")
def record(
    milestone: Annotated[MilestoneName, typer.Argument(help="Which milestone.")],
    deal: Annotated[str, typer.Option(help="Deal id in deal.yaml.")],
    date: Annotated[str, typer.Option(help="Date the milestone was reached, YYYY-MM-DD.")],
    note: Annotated[str | None, typer.Option(help="Note (kept only as its SHA-256).")] = None,
    actions: Annotated[Actions, typer.Option(help="Start the milestone's actions here, in Airflow, or not.")
                       ] = Actions.local,
    airflow_url: Annotated[str | None, typer.Option(help="Airflow API server (for --actions airflow).",
                                                     envvar="CUSTODY_AIRFLOW_API_URL")] = None,
) -> None:
    """Record a milestone of a deal and start its actions."""
    from custody.deal.actions import run_milestone_actions
    from custody.deal.config import load_deals
    from custody.deal.record import MilestoneError, record_milestone
    from custody.settings import Settings

    settings = Settings.from_env()
    cfg = load_deals(settings=settings).deal(deal)
    try:
        rec = record_milestone(settings.catalog_url, cfg, milestone.value, date, note=note, via="cli")
    except MilestoneError as exc:
        console.print(f"[red]refused[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    out.print(json.dumps(rec.as_dict(), sort_keys=True), soft_wrap=True)
    if actions is Actions.local:
        results = run_milestone_actions(settings, cfg, rec)
        for name, res in results.items():
            out.print(f"{name}: {res['path']} (sha256 {res['sha256']})", soft_wrap=True)
    elif actions is Actions.airflow:
        from custody.deal.airflow_api import post_milestone_event

        if not airflow_url:
            console.print("[red]refused[/red]: --actions airflow needs --airflow-url", soft_wrap=True)
            raise typer.Exit(2)
        event = post_milestone_event(airflow_url, rec)
        out.print(f"asset event {event.get('id')} posted to {event.get('uri')}", soft_wrap=True)


@milestone_app.command("list")
def list_cmd(deal: Annotated[str | None, typer.Option(help="Only this deal.")] = None) -> None:
    """The recorded milestones, oldest first (JSON lines)."""
    from custody.deal.record import recorded_milestones
    from custody.settings import Settings

    for rec in recorded_milestones(Settings.from_env().catalog_url, deal):
        out.print(json.dumps(rec.as_dict(), sort_keys=True), soft_wrap=True)
