"""
### Custody milestone: record a deal milestone and announce it

Triggered by hand, never on a schedule: from the **trigger form** (params: `deal`, `milestone`,
`date`, `note`) or by the **REST API** (`POST /api/v2/dags/custody_milestone/dagRuns` with the same
keys in `conf`, and `"via": "api"`).

1. **record**: stores the milestone in Custody's catalog and audit log (`milestone.record`), once
   per deal, milestone and date (`custody.deal.record.record_milestone`); the note is kept only
   as its SHA-256.
2. **choose**: picks the announcement of the milestone recorded.
3. **announce_<milestone>**: updates the milestone's Asset (`custody://milestone/<milestone>`),
   which schedules `custody_milestone_<milestone>` (`dags/custody_milestone_actions.py`), the DAG
   that runs the milestone's actions. The event's extra carries ids and the date, never the note.

The same Assets can be updated directly through the REST API (`POST /api/v2/assets/events`) or by
`custody milestone record --actions airflow`. PIPL Art 22.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, Param, dag, task


def _deal():
    """Deal ids for the form's enum, read from deal.yaml (a file, no connection; an invalid file is
    an import error in the UI, a deployment without one has no deal to choose), the milestones
    and their Assets."""
    from custody.deal.config import MILESTONES, asset_name, asset_uri, load_deals
    from custody.settings import Settings

    assets = {m: Asset(name=asset_name(m), uri=asset_uri(m), group="custody_deal") for m in MILESTONES}
    path = Settings.from_env().config_dir / "deal.yaml"
    deals = [d.id for d in load_deals(path).deals] if path.exists() else []
    return deals, MILESTONES, assets


DEALS, MILESTONES, ASSETS = _deal()


@dag(
    dag_id="custody_milestone",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["custody", "deal", "milestone", "pipl-art22"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "owner": "custody"},
    params={
        "deal": Param(DEALS[0], type="string", enum=DEALS, description="Deal id (deal.yaml)") if DEALS
        else Param(None, type=["null", "string"], description="Deal id (no deal.yaml in this deployment)"),
        "milestone": Param("due_diligence", type="string", enum=list(MILESTONES), description="Milestone reached"),
        "date": Param(type="string", format="date", description="Date it was reached (YYYY-MM-DD)"),
        "note": Param(None, type=["null", "string"], maxLength=500,
                      description="Note (Custody keeps only its SHA-256; name no person)"),
        "via": Param("form", type="string", enum=["form", "api"], description="form (UI) or api (REST callers)"),
    },
    render_template_as_native_obj=True,
)
def custody_milestone():
    @task
    def record(params=None) -> dict:
        from custody.deal.config import load_deals
        from custody.deal.record import record_milestone
        from custody.settings import Settings

        settings = Settings.from_env()
        deal = load_deals(settings=settings).deal(params["deal"])
        rec = record_milestone(settings.catalog_url, deal, params["milestone"], params["date"],
                               note=params.get("note"), via=params.get("via") or "form")
        return rec.as_dict()

    @task.branch
    def choose(rec: dict) -> str:
        return f"announce_{rec['milestone']}"

    def announcer(milestone: str):
        @task(task_id=f"announce_{milestone}", outlets=[ASSETS[milestone]])
        def announce(rec: dict, outlet_events=None) -> str:
            outlet_events[ASSETS[milestone]].extra = {
                k: rec[k] for k in ("deal", "milestone", "date", "milestone_id", "via")}
            return rec["milestone_id"]

        return announce

    rec = record()
    branch = choose(rec)
    for m in MILESTONES:
        branch >> announcer(m)(rec)


custody_milestone()
