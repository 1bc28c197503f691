"""
### Custody main job for one source: extract → classify and validate → back up → report

One DAG per source configured in `include/config/sources.yaml` (`custody_pipeline_<source>`; only
those named in `CUSTODY_SOURCES` when it is set, as `make up` does), so
a run touches only its own source and the run list shows which source it was for. A
`sources.yaml` that does not validate makes this file fail to import: the UI shows the error
instead of quietly offering fewer sources.

1. **plan_extract** plans the run: full snapshot or incremental by watermark per table; large
   tables cut into primary-key ranges, file drops one part per file.
2. **extract_part** maps over the planned parts in the source's pool `custody_<source>` (create it
   with `airflow pools set custody_<source> <slots> "..."`, slots = `pool_slots` in sources.yaml).
   Each part streams in chunks; each chunk is encrypted (AES-256-GCM, a data key per object)
   before it touches disk.
3. **commit_extract** joins the parts into the sealed run manifest and advances the watermarks.
4. **classify_and_validate** reads each chunk once: every column gets a PI type, a level
   (public / internal / sensitive) and evidence, and the inventory in the catalog is updated;
   every row is checked by the table's Great Expectations suite (the checks in sources.yaml plus
   those the classification implies) and failing rows go to an encrypted quarantine.
5. **drift_alert** fails when the inventory drifted (new sensitive column, level change,
   vanished column); backup and report still run.
6. **back_up** copies the encrypted objects and sealed documents to the local store and to S3,
   reading every copy back.
7. **report** writes HTML (English, Chinese) and JSON with counts and hashes, never values, after
   a signed checkpoint of the audit log (local store, S3, catalog) and its verification. It runs
   whatever happened before and opens with the run's outcome: which stage failed and why (error
   class, SQLSTATE, Custody's own message; never a driver's text), also when extraction failed
   and there is nothing else to report.
8. **run_outcome** fails the run when any custody stage failed, so a failed run never ends green.

A stage that meets a transient source error (connection refused or lost, timeout, deadlock,
serialization failure) raises for a retry; a permanent one (missing table, authentication,
schema drift, reconciliation mismatch, validation threshold, missing key) fails at once. Every
stage appends to Custody's audit log (`custody audit show`), and the `custody_listener` plugin
records each task instance's outcome there too.

Alerts (`plugins/custody_alerts.py`): a task that fails for good and a run that ends failed send
a value-free e-mail (or webhook) through the Airflow connection `custody_alerts`, and a run still
unfinished `CUSTODY_RUN_DEADLINE_MINUTES` after it was queued (`make up`: 360) raises a deadline alert.

Tasks exchange document keys and counts through XCom, never data. Triggered manually (or by a
deal milestone). The DAG file only wires; the work is in `include/custody/stages/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, dag, task

STAGED = Asset(name="custody_staging", uri="custody://staging/")
INSPECTED = Asset(name="custody_inventory", uri="custody://inventory/")
SNAPSHOTS = Asset(name="custody_snapshots", uri="custody://snapshots/")
REPORTS = Asset(name="custody_reports", uri="custody://reports/")


def _alerts():
    """``plugins/custody_alerts.py``: failure e-mails or webhooks and the run deadline (reads the
    environment only, no connection, while the file is parsed)."""
    import custody_alerts

    return custody_alerts


def _configured_sources() -> list:
    # A local YAML read and pydantic validation: no database, connection or network at parse time.
    # An invalid file raises here, which Airflow shows as this file's import error.
    # CUSTODY_SOURCES (make up) limits the DAGs to the sources this deployment can reach.
    from custody.config import load_sources, offered_sources

    return offered_sources(load_sources())


def _runtime():
    from custody.stages import Runtime

    return Runtime.from_env()


def _run_key(context) -> str:
    from custody.documents import run_key_for

    return run_key_for(context["run_id"])


FAILURE_XCOM = "custody_failure"
"""XCom key of a failed task's value-free failure (``custody.stages.failures.StageFailure``)."""


def _s3_client(rt):
    """A boto3 S3 client from the backup connection (``backup.s3_conn_id``), or None."""
    if not rt.sources.backup.s3_conn_id:
        return None
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=rt.sources.backup.s3_conn_id).get_conn()


def _stage_failed(stage: str, exc: Exception, context) -> Exception:
    """What a task raises when its stage failed: retried when transient, failed at once when not.

    The failure is described without values (Custody's own message or a fixed sentence, never a
    driver's text), pushed to XCom for the report, and logged with its code path; the caller
    raises the returned exception ``from None`` so the original message stays out of the log.
    """
    import logging

    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from custody.stages.failures import code_path, describe_failure

    ti = context["ti"]
    index = getattr(ti, "map_index", -1)
    failure = describe_failure(stage, exc, map_index=index if index is not None and index >= 0 else None)
    try:
        ti.xcom_push(key=FAILURE_XCOM, value=failure.model_dump(mode="json"))
    except Exception:  # the reason is also in the log; a failed push must not hide the failure
        logging.getLogger("custody").warning("could not record the failure of %s in XCom", stage)
    logging.getLogger("custody").error("stage %s\n%s", failure.line(), code_path(exc))
    return (AirflowException if failure.transient else AirflowFailException)(failure.line())


def _task_of(key: str, task_ids) -> tuple[str, int | None]:
    # get_task_states names mapped task instances "<task_id>_<map_index>".
    if key in task_ids:
        return key, None
    task, _, index = key.rpartition("_")
    return (task, int(index)) if task in task_ids and index.isdigit() else (key, None)


def _outcome(context, *, exclude: tuple[str, ...]):
    """The run's ``RunOutcome`` from its task instances' states and the failures they recorded."""
    from custody.stages.failures import StageFailure, run_outcome

    ti, dag = context["ti"], context["dag"]
    # Upstream first, so the report lists the stages in the order they ran.
    order = {node.task_id: i for i, node in enumerate(dag.task_group.topological_sort())}
    found = []
    for key, state in ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {}).items():
        task, index = _task_of(key, order)
        if task not in exclude:
            found.append((order.get(task, len(order)), index if index is not None else -1, task, index,
                          str(getattr(state, "value", state))))
    states, failures = {}, []
    for _, _, task, index, state in sorted(found):
        states[task if index is None else f"{task}[{index}]"] = state
        if state == "failed":
            pulled = ti.xcom_pull(task_ids=task, key=FAILURE_XCOM,
                                  **({"map_indexes": index} if index is not None else {}))
            if isinstance(pulled, list):
                pulled = pulled[0] if pulled else None
            if isinstance(pulled, dict):
                failures.append(StageFailure.model_validate(pulled))
    return run_outcome(states, failures)


class _SourceIO:
    """The engine (SQL source) or landing (file drop) of a source, from its Airflow connection."""

    def __init__(self, source):
        self.engine = self.landing = None
        if source.kind == "sql":
            from airflow.sdk import BaseHook

            self.engine = BaseHook.get_connection(source.conn_id).get_hook().get_sqlalchemy_engine()
        else:
            from custody.sources.landings import open_landing

            client = None
            if source.landing.startswith("s3://"):
                from airflow.providers.amazon.aws.hooks.s3 import S3Hook

                client = S3Hook(aws_conn_id=source.conn_id).get_conn()
            self.landing = open_landing(source.landing, client)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.engine is not None:
            self.engine.dispose()


def build_pipeline(source):
    """The main-job DAG of one configured source (``custody.config.SourceConfig``)."""
    name = source.name

    @dag(
        dag_id=source.dag_id,
        dag_display_name=f"Custody pipeline: {name}",
        description=f"Chain of custody for source {name}: extract, classify and validate, back up, report",
        doc_md=__doc__,
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=4,
        tags=["custody", "pipl", "main-job", f"source:{name}"],
        default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "owner": "custody",
                      **_alerts().failure_callbacks()},
        **_alerts().dag_alerts(),
    )
    def pipeline():
        @task
        def plan_extract(**context) -> list:
            from custody.stages import stage_plan_extract

            # The run's interval end bounds timestamp watermarks; manual runs have only run_after.
            end = context.get("data_interval_end") or getattr(context.get("dag_run"), "run_after", None)
            try:
                rt = _runtime()
                with _SourceIO(rt.sources.source(name)) as io:
                    plan = stage_plan_extract(rt, io.engine, name, context["run_id"], landing=io.landing,
                                              interval_end=end.isoformat() if end else None)
            except Exception as exc:
                raise _stage_failed("plan_extract", exc, context) from None
            return plan["parts"]

        # A part that stalls (a stopped child process, a half-open connection without keepalives)
        # is cut and retried; parts are bounded by split_rows, so hours are far above a healthy run.
        @task(execution_timeout=timedelta(hours=6), pool=source.pool_name)
        def extract_part(part: dict, **context) -> dict:
            from custody.stages import stage_extract_part

            try:
                rt = _runtime()
                with _SourceIO(rt.sources.source(name)) as io:
                    return stage_extract_part(rt, io.engine, part, landing=io.landing)
            except Exception as exc:
                raise _stage_failed("extract_part", exc, context) from None

        @task(outlets=[STAGED])
        def commit_extract(**context) -> dict:
            from custody.stages import stage_commit_extract

            try:
                return stage_commit_extract(_runtime(), name, _run_key(context))
            except Exception as exc:
                raise _stage_failed("commit_extract", exc, context) from None

        @task(outlets=[INSPECTED])
        def classify_and_validate(**context) -> dict:
            from custody.stages import stage_classify_and_validate

            try:
                return stage_classify_and_validate(_runtime(), name, _run_key(context))
            except Exception as exc:
                raise _stage_failed("classify_and_validate", exc, context) from None

        @task
        def drift_alert(**context) -> None:
            """Fail loudly when the inventory drifted: new sensitive column, level change, vanished column."""
            from custody.stages import stage_drift_alert

            try:
                stage_drift_alert(_runtime(), name, _run_key(context))
            except Exception as exc:
                raise _stage_failed("drift_alert", exc, context) from None

        @task(outlets=[SNAPSHOTS])
        def back_up(**context) -> dict:
            from custody.stages import stage_backup

            try:
                rt = _runtime()
                return stage_backup(rt, name, _run_key(context), _s3_client(rt))
            except Exception as exc:
                raise _stage_failed("back_up", exc, context) from None

        @task(outlets=[REPORTS], trigger_rule="all_done", retries=0)
        def report(**context) -> dict:
            """Write the run report whatever happened before: it names the stages that failed and why."""
            from custody.stages import stage_report

            try:
                outcome = _outcome(context, exclude=("report", "run_outcome"))
                rt = _runtime()
                # The S3 client lets the run's audit checkpoint reach the off-site store too.
                return stage_report(rt, name, _run_key(context), _s3_client(rt), outcome=outcome)
            except Exception as exc:
                raise _stage_failed("report", exc, context) from None

        # The run's own alert (dag_alerts) says what this task would: no second message.
        @task(trigger_rule="all_done", retries=0, on_failure_callback=None)
        def run_outcome(**context) -> None:
            """The run's last task: fail the run when a custody stage failed (or could not run).

            Airflow decides a run's state from its leaf tasks, and the report, which runs whatever
            happened, would otherwise leave a failed run green.
            """
            from airflow.sdk.exceptions import AirflowFailException

            outcome = _outcome(context, exclude=("run_outcome",))
            if outcome.state == "failed":
                why = "; ".join(f.line() for f in outcome.failures) or "a stage did not run"
                raise AirflowFailException(f"custody run failed: {why} (see the run report)")

        parts = plan_extract()
        committed = commit_extract()
        extract_part.expand(part=parts) >> committed
        inspected = classify_and_validate()
        committed >> inspected
        alert = drift_alert()
        backed_up = back_up()
        inspected >> [alert, backed_up]
        [alert, backed_up] >> report() >> run_outcome()

    return pipeline()


for _source in _configured_sources():
    globals()[f"custody_pipeline_{_source.name}"] = build_pipeline(_source)
