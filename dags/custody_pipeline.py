"""
### Custody main job: extract → validate → classify → back up → report

One run moves one configured source (the `source` param, see `include/config/sources.yaml`)
through the chain of custody:

1. **extract**: the source tables, read through the source's Airflow connection in chunks,
   each chunk encrypted (AES-256-GCM, per-object data key) before it touches disk.
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


def _source_names() -> list[str]:
    # A local YAML read: no database, connection or network at parse time.
    from custody.config import ConfigError, load_sources

    try:
        return [s.name for s in load_sources().sources]
    except ConfigError:
        return ["crm"]


def _runtime():
    from custody.pipeline import Runtime

    return Runtime.from_env()


def _fail_without_retry(exc: Exception):
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(f"{type(exc).__name__}: {exc}")


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
    @task(outlets=[STAGED])
    def extract(**context) -> dict:
        from airflow.sdk import BaseHook

        from custody.config import ConfigError
        from custody.extract import ExtractError
        from custody.pipeline import stage_extract

        rt = _runtime()
        try:
            source = rt.sources.source(context["params"]["source"])
        except ConfigError as exc:
            raise _fail_without_retry(exc) from None
        engine = BaseHook.get_connection(source.conn_id).get_hook().get_sqlalchemy_engine()
        try:
            return stage_extract(rt, engine, source.name, context["run_id"])
        except ExtractError as exc:
            raise _fail_without_retry(exc) from None
        finally:
            engine.dispose()

    @task(outlets=[VALIDATED])
    def validate(extracted: dict) -> dict:
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
    validated = validate(extracted)
    classified = classify(extracted)
    backed_up = back_up(extracted, validated, classified)
    reported = report(extracted)
    [validated, classified, backed_up] >> reported


custody_pipeline()
