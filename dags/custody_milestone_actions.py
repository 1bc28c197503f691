"""
### Custody milestone actions: one DAG per milestone, scheduled by its Asset

`custody_milestone_due_diligence`, `custody_milestone_signing`, `custody_milestone_closing` and
`custody_milestone_post_closing` each run when their Asset (`custody://milestone/<milestone>`) is
updated: by `custody_milestone` (trigger form or REST DAG run), by an Asset event posted to the
REST API (`POST /api/v2/assets/events`, extra `{"deal", "milestone", "date"}`), or by
`custody milestone record --actions airflow`.

**act** finds the milestone the run is for (the triggering event; a milestone posted straight to
the REST API is recorded here, once), then runs its configured actions
(`custody.deal.actions.act_on_milestone`): due diligence the inventory summary, closing the
handover package, post-closing the retention rules that make the transferor's copies expire
(input of the purge). A manual run acts on the newest recorded milestone of its kind. XCom carries
ids, paths, counts and hashes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, dag, task


def milestone_dag(milestone: str):
    from custody.deal.config import asset_name, asset_uri

    asset = Asset(name=asset_name(milestone), uri=asset_uri(milestone), group="custody_deal")

    @dag(
        dag_id=asset_name(milestone),
        doc_md=__doc__,
        schedule=[asset],
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        tags=["custody", "deal", "milestone", milestone],
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "owner": "custody"},
    )
    def actions():
        @task
        def act(triggering_asset_events=None) -> list:
            from custody.deal.actions import act_on_milestone
            from custody.settings import Settings

            events = []
            for _, evs in (triggering_asset_events or {}).items():
                events.extend(dict(e.extra or {}) for e in evs)
            return act_on_milestone(Settings.from_env(), milestone, events)

        act()

    return actions()


def _milestones() -> tuple[str, ...]:
    from custody.deal.config import MILESTONES

    return MILESTONES


for _m in _milestones():
    milestone_dag(_m)
