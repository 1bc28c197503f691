"""
### Custody data-subject requests: carry out approved deletions, report open requests

Runs daily at 06:00 UTC (no catch-up), and on demand after a request is approved:

1. **approved_deletions**: the deletion requests a named approver approved with
   `custody dsr approve` (a request is never approved here, nor by default) and that are not
   executed yet.
2. **execute_deletion** (mapped, one per request): adds the subject's pseudonyms to the deletion
   ledger and removes their rows from staging at once (`custody.dsr.execute.execute_deletion`);
   the request moves to `executed` with an audit entry. Snapshots taken before stay until
   retention expires them; every restore leaves the subject out.
3. **reapply_ledger**: applies the whole deletion ledger to every staged run again, so a run
   extracted after a deletion (the source may still hold the subject: deleting there is a
   separate, approved step) keeps no erased subject in staging for more than a day.
4. **open_requests** (also when a deletion failed): writes the value-free section of open
   requests with days left to `<CUSTODY_HOME>/reports/dsr/open-requests.json` and fails the run
   when a request is overdue, so the overdue request shows in the run list.

Requests are received, verified, approved, rejected, extended and closed with `custody dsr`;
access exports run there too, because their key is shown once to the operator and must never
pass through XCom or a task log. PIPL Art 44-47 and 50; GDPR Art 12, 15, 17. XCom carries
request ids and counts, never identifiers or values.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task


def _book():
    from custody.dsr.requests import RequestBook
    from custody.stages import Runtime

    rt = Runtime.from_env()
    return rt, RequestBook(rt.settings.catalog_url, rt.keyring)


@dag(
    dag_id="custody_dsr",
    doc_md=__doc__,
    schedule="0 6 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["custody", "dsr", "pipl-art47", "gdpr-art17"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "owner": "custody"},
)
def custody_dsr():
    @task
    def approved_deletions() -> list[str]:
        from custody.dsr.execute import approved_deletions as approved

        _, book = _book()
        return approved(book)

    @task(map_index_template="{{ request_id }}")
    def execute_deletion(request_id: str) -> dict:
        from custody.dsr.execute import execute_deletion as execute

        rt, book = _book()
        done = execute(book, request_id, rt.staging)
        return {"request_id": request_id, "rows": done["rows"], "runs": done["runs"], "objects": done["objects"]}

    @task
    def reapply_ledger() -> dict:
        from custody.dsr.ledger import DeletionLedger
        from custody.dsr.staging import reapply_ledger as reapply

        rt, book = _book()
        done = reapply(rt.staging, DeletionLedger(book.engine), rt.keyring)
        return {"runs": done["runs"], "rows": done["rows"], "objects": done["objects"]}

    @task(trigger_rule="all_done")
    def open_requests() -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from custody.dsr.report import write_section

        rt, book = _book()
        section = write_section(book, rt.settings.report_dir / "dsr" / "open-requests.json")
        counts = {"open": len(section.open), "overdue": section.overdue, "due_within_3_days": section.due_within_3_days}
        if section.overdue:
            raise AirflowFailException(f"{section.overdue} data-subject request(s) overdue: "
                                       + ", ".join(o.request_id for o in section.open if o.overdue))
        return counts

    ids = approved_deletions()
    executed = execute_deletion.expand(request_id=ids)
    executed >> reapply_ledger() >> open_requests()


custody_dsr()
