"""
### Custody purge: destroy expired data, only after a named person approves the exact plan

Runs daily at 02:00 UTC (no catch-up) and when the post-closing deal milestone is recorded.
The retention policy is `include/config/retention.yaml` (rules per source × data category ×
lawful basis, legal holds, milestones, approvers).

1. **plan** inventories staging, the local store, every S3 object version and delete marker, and
   the scope keys; judges each under the policy in force; seals the plan (its hash is what is
   approved). Nothing expired: the run stops here (skipped). A dry run is this step alone, or
   `custody purge plan`.
2. **approve** asks the approvers named in `retention.yaml` (Airflow's human-in-the-loop approval,
   assigned users only) with the plan summary and hash in the body. There is **no default
   answer**: a timeout fails the task and purges nothing. A rejection skips everything after it.
3. **guard** re-reads the answer Airflow recorded (the approval task's result, checked against the
   audit listener's entry of it) and refuses unless a human answered, the
   answerer is an approver and not the requester (the user who triggered the run), the plan hash
   is unchanged, and Airflow does not run with every user as admin.
4. **execute** destroys in a fixed order: scope keys (crypto-shredding), every S3 version and
   delete marker, the local store (then prune), staging.
5. **verify** proves it: each scope's probe data key fails to open, listings show nothing left.
6. **certify** issues the destruction certificate (JSON, HTML in English and Chinese) into the
   stores and the reports folder, records it in the audit log and signs a checkpoint.

PIPL Art 19, 47, 56; GB/T 35273-2020 6.1, 8.3; GDPR Art 5(1)(e), 17. XCom carries ids, counts
and hashes, never data. The DAG file only wires; the work is in `include/custody/stages/purge.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task


def _approvals():
    """The approvals section of ``retention.yaml``, or None when the deployment has no retention
    policy (then there is no purge DAG: nothing can expire without a policy).

    A local YAML read validated by pydantic: no database, connection or network at parse time.
    An invalid retention.yaml is this file's import error in the UI."""
    from custody.retention.policy import load_retention_policy
    from custody.settings import Settings

    path = Settings.from_env().config_dir / "retention.yaml"
    if not path.exists():
        return None
    return load_retention_policy(path).policy.approvals


def _runtime():
    from custody.stages import Runtime

    return Runtime.from_env()


def _s3_client(rt):
    """A boto3 S3 client from the backup connection (``backup.s3_conn_id``), or None."""
    if not rt.sources.backup.s3_conn_id:
        return None
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=rt.sources.backup.s3_conn_id).get_conn()


def _requester(context) -> str:
    """Who asked: the user who triggered the run, else the scheduler (a scheduled run)."""
    user = getattr(context["dag_run"], "triggering_user_name", None)
    return user or "airflow:scheduler"


def _all_admins() -> bool:
    """True when Airflow's simple auth manager makes every user an admin (anyone may answer as anyone)."""
    from airflow.configuration import conf

    manager = conf.get("core", "auth_manager", fallback="") or ""
    return "SimpleAuthManager" in manager and conf.getboolean("core", "simple_auth_manager_all_admins",
                                                              fallback=False)


def _approval(**kwargs):
    """Airflow's approval operator (standard provider); imported here because DAG files import
    only the SDK at top level."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    return ApprovalOperator(**kwargs)


def _listener_disagrees(rt, context, answer) -> bool:
    """True when the audit listener recorded this run's approval differently from the answer."""
    import json

    for stored in rt.audit.find(actions=["approval.answer"]):
        entry = json.loads(stored.data)
        subject = entry.get("subject", {})
        if (subject.get("dag_id"), subject.get("run_id"), subject.get("task_id")) != (
                context["dag_run"].dag_id, context["run_id"], "approve"):
            continue
        user = entry.get("actor", {}).get("user")
        if entry.get("outcome") != "success" or not entry.get("details", {}).get("approved") or user not in (
                answer.user_id, answer.user_name):
            return True
    return False


approvals = _approvals()


def _post_closing() -> Asset:
    """The post-closing milestone's Asset, as custody_milestone defines it."""
    from custody.deal.config import asset_name, asset_uri

    return Asset(name=asset_name("post_closing"), uri=asset_uri("post_closing"), group="custody_deal")


@dag(
    dag_id="custody_purge",
    doc_md=__doc__,
    # Daily, and when the post-closing milestone is recorded (its retention rules expire the
    # transferor's copies): the milestone's Asset, updated by custody_milestone.
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
        assets=_post_closing()),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["custody", "purge", "retention", "pipl-art47"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "owner": "custody"},
    params={
        "as_of": Param(None, type=["null", "string"], description="Judge at this UTC time (ISO 8601); default now"),
        "source": Param(None, type=["null", "string"], description="Only this source (default: all)"),
    },
)
def custody_purge():
    @task
    def plan(**context) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from custody.stages.purge import stage_purge_plan

        params = context["params"]
        clock = None
        if params.get("as_of"):
            clock = datetime.fromisoformat(params["as_of"])
            clock = clock if clock.tzinfo else clock.replace(tzinfo=timezone.utc)
        rt = _runtime()
        out = stage_purge_plan(rt, requester=_requester(context), s3_client=_s3_client(rt), clock=clock,
                               sources={params["source"]} if params.get("source") else None)
        if out["items"] == 0:
            raise AirflowSkipException(f"plan {out['plan_id']}: nothing has expired")
        return {k: out[k] for k in ("plan_id", "plan_sha256", "summary", "items", "blocked")}

    approve = _approval(
        task_id="approve",
        subject="Approve purge plan {{ ti.xcom_pull(task_ids='plan')['plan_id'] }}",
        body=("{{ ti.xcom_pull(task_ids='plan')['summary'] }}\n\n"
              "Approve only if this plan hash matches the plan you reviewed: "
              "{{ ti.xcom_pull(task_ids='plan')['plan_sha256'] }}"),
        assigned_users=[{"id": a, "name": a} for a in approvals.approvers],
        response_timeout=timedelta(hours=approvals.timeout_hours),
        defaults=None,  # a timeout never approves
        retries=0,  # a second ask after a timeout or rejection would be a new request, not a retry
    )

    @task
    def guard(planned: dict, **context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from custody.purge.guard import HumanAnswer, PurgeRefused
        from custody.stages.purge import stage_purge_guard

        ti = context["ti"]
        # The approval task's return value is Airflow's record of the response (options, the user
        # the API server authenticated, the time). The audit listener's entry, when present, must agree.
        returned = ti.xcom_pull(task_ids="approve") or {}
        passed = returned.get("responded_by_user") or {}
        answer = None
        if passed.get("id"):
            responded_at = returned.get("responded_at")
            answer = HumanAnswer(response_received=True, chosen_options=tuple(returned.get("chosen_options") or ()),
                                 user_id=passed.get("id"), user_name=passed.get("name"),
                                 responded_at=str(responded_at) if responded_at else None)
        rt = _runtime()
        if answer is not None and _listener_disagrees(rt, context, answer):
            answer = None
        try:
            return stage_purge_guard(rt, planned["plan_id"], requested_hash=planned["plan_sha256"],
                                     answer=answer, requester=_requester(context), all_admins=_all_admins())
        except PurgeRefused as exc:
            raise AirflowFailException(str(exc)) from None

    @task
    def execute(guarded: dict) -> dict:
        from custody.stages.purge import stage_purge_execute

        rt = _runtime()
        return stage_purge_execute(rt, guarded["plan_id"], s3_client=_s3_client(rt))

    @task
    def verify(executed: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from custody.purge.execute import PurgeError
        from custody.stages.purge import stage_purge_verify

        rt = _runtime()
        try:
            return stage_purge_verify(rt, executed["plan_id"], s3_client=_s3_client(rt))
        except PurgeError as exc:
            raise AirflowFailException(str(exc)) from None

    @task
    def certify(verified: dict) -> dict:
        from custody.stages.purge import stage_purge_certify

        rt = _runtime()
        return stage_purge_certify(rt, verified["plan_id"], s3_client=_s3_client(rt))

    planned = plan()
    guarded = guard(planned)
    planned >> approve >> guarded
    certify(verify(execute(guarded)))


if approvals is not None:
    custody_purge()
