"""
### Custody compliance report: the periodic report people can read, in Chinese and English

Runs at 06:00 UTC on the 1st of every month for the month just ended (no catch-up), and after
each deal milestone recorded (its Asset `custody://milestone/<milestone>`, see `custody_milestone`;
then for the month to date). A manual run takes a `period` (`YYYY-MM`).

**compliance_report** checkpoints the audit log into the local store and S3, verifies it, builds
the report from the catalog (inventory and its history, retention plans, restore drills) and the
audit log (backups, verifications, purges and certificates, data-subject requests, transfers,
impact assessments, incidents, milestones), and writes JSON, HTML with charts and PDF with an
embedded CJK font, in zh-CN and en, to `$CUSTODY_HOME/reports/compliance/<YYYY-MM>/`. Each section
cites its article (PIPL Art 13, 19, 28-31, 44-57; CAC Order 16; the 2025 Audit Measures; GDPR
Art 30, 32, 33). The task fails when the audit log does not verify; the report is written first
and says why. XCom carries the period, file names and flags, never a value.

The DAG file only wires; the work is in `include/custody/stages/compliance.py` and
`include/custody/reports/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task



def _milestone_assets() -> dict[str, str]:
    """Name -> URI of the deal milestones' Assets (custody_milestone updates one per milestone
    recorded: due diligence, signing, closing, post-closing)."""
    from custody.deal.config import MILESTONES, asset_name, asset_uri

    return {asset_name(m): asset_uri(m) for m in MILESTONES}


# Each milestone also starts a report for the month to date.
MILESTONE_URIS = _milestone_assets()
MILESTONE_ASSETS: tuple[str, ...] = tuple(MILESTONE_URIS)
MONTHLY_CRON = "0 6 1 * *"  # 06:00 UTC on the 1st: the month just ended


def schedule(milestone_assets: tuple[str, ...]):
    """The monthly timetable, or it OR'ed with an event on any of the named milestone Assets."""
    monthly = CronTriggerTimetable(MONTHLY_CRON, timezone="UTC")
    if not milestone_assets:
        return monthly
    return AssetOrTimeSchedule(timetable=monthly, assets=AssetAny(
        *(Asset(name=n, uri=MILESTONE_URIS.get(n, n), group="custody_deal") for n in milestone_assets)))


@dag(
    dag_id="custody_compliance_report",
    doc_md=__doc__,
    schedule=schedule(MILESTONE_ASSETS),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["custody", "compliance-report", "pipl-art54", "gdpr-art30"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "owner": "custody"},
    params={
        "period": Param(None, type=["null", "string"], pattern=r"^\d{4}-\d{2}$",
                        description="Month to report, YYYY-MM (default: the month just ended, or the "
                                    "current month for a milestone or manual run)"),
    },
)
def custody_compliance_report():
    @task
    def compliance_report(**context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from custody.reports.compliance_collect import run_period
        from custody.stages import Runtime, stage_compliance_report

        rt = Runtime.from_env()
        client = None
        conn_id = rt.sources.backup.s3_conn_id
        if conn_id:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            client = S3Hook(aws_conn_id=conn_id).get_conn()
        run = context["dag_run"]
        scheduled = str(getattr(run, "run_type", "")).lower().endswith("scheduled")
        at = context.get("logical_date") or datetime.now(timezone.utc)
        period = run_period(scheduled, at, context["params"].get("period"))
        result = stage_compliance_report(rt, period, client)
        if result["audit_ok"] is False:
            raise AirflowFailException("the audit log failed verification: see the compliance report")
        return result

    compliance_report()


custody_compliance_report()
