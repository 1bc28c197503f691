"""
### Custody main job: extract → validate → classify → back up → report

One run moves one configured source (the `source` param, see `include/config/sources.yaml`)
through the chain of custody:

1. **extract**: `plan_extract_<source>` plans the run (full snapshot or incremental by watermark per
   table; large tables cut into primary-key ranges, file drops one part per file), then
   `extract_range_<source>` maps over the parts in the source's pool `custody_<source>` (create
   it with `airflow pools set custody_<source> <slots> "..."`, slots = `pool_slots` in
   sources.yaml), each part streamed in chunks and each chunk encrypted (AES-256-GCM, per-object
   data key) before it touches disk; `extract` seals the manifest and advances the watermarks.
2. **validate**: a Great Expectations suite per table; failing rows go to an encrypted quarantine.
3. **classify**: every column gets a PI type, a level (public / internal / sensitive) and evidence;
   the inventory in the catalog database is updated.
4. **back_up**: encrypted objects and sealed manifests to the local store and to S3, read back and hashed.
5. **report**: HTML (English, Chinese) and JSON run report with counts and hashes, never values.

Tasks exchange manifest keys through XCom, never data. Triggered manually or by the deal team's
milestones (one run per source). The DAG file only wires; the work is in `include/custody/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, Param, dag, task

STAGED = Asset(name="custody_staging", uri="custody://staging/")
VALIDATED = Asset(name="custody_validated", uri="custody://validated/")
INVENTORY = Asset(name="custody_inventory", uri="custody://inventory/")
SNAPSHOTS = Asset(name="custody_snapshots", uri="custody://snapshots/")
REPORTS = Asset(name="custody_reports", uri="custody://reports/")


def _source_pools() -> list[tuple[str, str]]:
    # A local YAML read: no database, connection or network at parse time.
    from custody.config import ConfigError, load_sources

    try:
        return [(s.name, s.pool_name) for s in load_sources().sources]
    except ConfigError:
        return [("crm", "custody_crm")]


def _source_names() -> list[str]:
    return [name for name, _ in _source_pools()]


def _runtime():
    from custody.pipeline import Runtime

    return Runtime.from_env()


def _fail_without_retry(exc: Exception):
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(f"{type(exc).__name__}: {exc}")


class _SourceIO:
    """The engine (SQL source) or landing (file drop) of a source, from its Airflow connection."""

    def __init__(self, source):
        self.engine = self.landing = None
        if source.kind == "sql":
            from airflow.sdk import BaseHook

            self.engine = BaseHook.get_connection(source.conn_id).get_hook().get_sqlalchemy_engine()
        else:
            from custody.sources.files import open_landing

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


@dag(
    dag_id="custody_pipeline",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=4,
    tags=["custody", "pipl", "main-job"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "owner": "custody"},
    params={
        "source": Param(
            _source_names()[0],
            type="string",
            enum=_source_names(),
            description="Configured source to run (include/config/sources.yaml)",
        )
    },
)
def custody_pipeline():
    @task
    def plan_extract(source_name: str, **context) -> list:
        from custody.config import ConfigError
        from custody.extract import ExtractError
        from custody.pipeline import stage_plan_extract

        if context["params"]["source"] != source_name:
            return []  # another source's run: its extract_range task skips
        rt = _runtime()
        try:
            source = rt.sources.source(source_name)
        except ConfigError as exc:
            raise _fail_without_retry(exc) from None
        # The run's interval end bounds timestamp watermarks; manual runs have only run_after.
        end = context.get("data_interval_end") or getattr(context.get("dag_run"), "run_after", None)
        try:
            with _SourceIO(source) as io:
                plan = stage_plan_extract(rt, io.engine, source.name, context["run_id"], landing=io.landing,
                                          interval_end=end.isoformat() if end else None)
        except ExtractError as exc:
            raise _fail_without_retry(exc) from None
        return plan["parts"]

    # A range that stalls (a stopped child process, a half-open connection without keepalives) is
    # cut and retried; ranges are bounded by split_rows, so hours are far above a healthy run.
    @task(execution_timeout=timedelta(hours=6))
    def extract_range(part: dict, **context) -> dict:
        from custody.extract import ExtractError
        from custody.pipeline import stage_extract_part

        rt = _runtime()
        source = rt.sources.source(rt.staging.get_doc(part["plan_key"])["source"])
        try:
            with _SourceIO(source) as io:
                return stage_extract_part(rt, io.engine, part, landing=io.landing)
        except ExtractError as exc:
            raise _fail_without_retry(exc) from None

    @task(outlets=[STAGED], trigger_rule="none_failed")
    def extract(**context) -> dict:
        from custody.extract import ExtractError
        from custody.pipeline import plan_key_for, stage_commit_extract

        try:
            return stage_commit_extract(_runtime(), plan_key_for(context["params"]["source"], context["run_id"]))
        except ExtractError as exc:
            raise _fail_without_retry(exc) from None

    @task(outlets=[VALIDATED])
    def validate(extracted: dict, classified: dict) -> dict:
        # After classify: this run's inventory derives the identifier checks (a new ID column is
        # checked in the same run that reports it).
        from custody.pipeline import StageError, stage_validate
        from custody.validation import ValidationThresholdExceeded

        try:
            return stage_validate(_runtime(), extracted["manifest_key"])
        except (ValidationThresholdExceeded, StageError) as exc:
            raise _fail_without_retry(exc) from None

    @task(outlets=[INVENTORY])
    def classify(extracted: dict) -> dict:
        from custody.pipeline import stage_classify

        return stage_classify(_runtime(), extracted["manifest_key"])

    @task
    def drift_alert(classified: dict) -> None:
        """Fail loudly when the inventory drifted: new sensitive column, level change, vanished column."""
        from custody.classification import DriftDetected, raise_for_drift

        doc = _runtime().staging.get_doc(classified["classification_key"])
        try:
            raise_for_drift(doc.get("drift"), source=doc["source"], run_key=doc["run_key"])
        except DriftDetected as exc:
            raise _fail_without_retry(exc) from None

    @task(outlets=[SNAPSHOTS])
    def back_up(extracted: dict, validated: dict, classified: dict) -> dict:
        from custody.pipeline import stage_backup

        rt = _runtime()
        s3_client = None
        if rt.sources.backup.s3_conn_id:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            s3_client = S3Hook(aws_conn_id=rt.sources.backup.s3_conn_id).get_conn()
        return stage_backup(rt, extracted["manifest_key"], s3_client)

    @task(outlets=[REPORTS], trigger_rule="all_done", retries=0)
    def report(extracted: dict) -> dict:
        from custody.pipeline import stage_report

        return stage_report(_runtime(), extracted["manifest_key"])

    extracted = extract()
    for name, pool in _source_pools():
        parts = plan_extract.override(task_id=f"plan_extract_{name}")(name)
        extract_range.override(task_id=f"extract_range_{name}", pool=pool).expand(part=parts) >> extracted
    classified = classify(extracted)
    validated = validate(extracted, classified)
    backed_up = back_up(extracted, validated, classified)
    alert = drift_alert(classified)
    reported = report(extracted)
    [validated, classified, backed_up, alert] >> reported


custody_pipeline()
