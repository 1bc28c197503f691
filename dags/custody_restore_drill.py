"""
### Custody restore drill: prove every day that a snapshot can be restored

Runs daily at 03:00 UTC (no catch-up), after the night's backups, against the snapshot store
chosen by the `store` param (S3 by default: the off-site copy; `local` for the local store):

1. **verify_sample**: reads back a sampled share (`sample`, default 10 %) of the objects referenced
   by any snapshot, checking each SHA-256 and decrypting it under its own key and binding (the
   plaintext is discarded). The sample's seed derives from the run id, so a rerun checks the same
   objects; over a month every object is read back with high probability.
2. **restore_drill**: restores a randomly chosen snapshot into a scratch PostgreSQL schema
   `custody_drill_<id>` of the database behind the `drill_conn_id` Airflow connection (default
   `custody_drill`; the role needs `CREATE SCHEMA`), reads the rows back, compares row counts and
   content hashes with the manifest, measures the recovery time (RTO) and the age of the newest
   restorable snapshot (RPO), drops the schema, and records the result in the catalog database.
   The task fails, without retrying, when a count or hash differs or RTO / RPO passes its limit
   (`rto_limit_s`, `rpo_limit_s`); the message carries the numbers.

GDPR Art 32(1)(c)-(d): ability to restore, regularly tested. PIPL Art 51(3). Logs and XCom carry
ids, counts, hashes and durations, never values. The DAG file only wires; the work is in
`include/custody/drill.py` and `include/custody/store/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, Param, dag, task

SNAPSHOTS = Asset(name="custody_snapshots", uri="custody://snapshots/")


def _runtime():
    from custody.stages import Runtime

    return Runtime.from_env()


def _store(rt, kind: str):
    """The snapshot store named by the ``store`` param, built inside a task (no lookup at parse)."""
    from custody.store import LocalStore, S3Store

    if kind == "s3":
        conn_id = rt.sources.backup.s3_conn_id
        if not conn_id:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException("store=s3 but sources.yaml sets no backup.s3_conn_id")
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Store(S3Hook(aws_conn_id=conn_id).get_conn(), rt.settings.s3_bucket, rt.settings.s3_prefix)
    return LocalStore(rt.settings.backup_dir)


def _alerts():
    """``plugins/custody_alerts.py``: failure e-mails or webhooks and the run deadline (reads the
    environment only, no connection, while the file is parsed)."""
    import custody_alerts

    return custody_alerts


def _seed(run_id: str) -> int:
    import hashlib

    return int(hashlib.sha256(run_id.encode()).hexdigest()[:12], 16)


@dag(
    dag_id="custody_restore_drill",
    doc_md=__doc__,
    schedule="0 3 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["custody", "restore-drill", "gdpr-art32"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "owner": "custody",
                  **_alerts().failure_callbacks()},
    **_alerts().dag_alerts(),
    params={
        "store": Param("s3", type="string", enum=["s3", "local"], description="Snapshot store to drill"),
        "source": Param(
            None, type=["null", "string"], description="Only snapshots of this source (default: all)"
        ),
        "sample": Param(
            0.1,
            type="number",
            exclusiveMinimum=0,
            maximum=1,
            description="Share of objects read back by verify_sample",
        ),
        "rto_limit_s": Param(900, type="number", minimum=1, description="Recovery time limit, seconds"),
        "rpo_limit_s": Param(
            26 * 3600,
            type="number",
            minimum=1,
            description="Limit on the age of the newest restorable snapshot, seconds",
        ),
        "drill_conn_id": Param(
            "custody_drill",
            type="string",
            description="Airflow connection of the scratch PostgreSQL database",
        ),
    },
)
def custody_restore_drill():
    @task(inlets=[SNAPSHOTS])
    def verify_sample(**context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from custody.store import SnapshotError, verify_store

        params = context["params"]
        rt = _runtime()
        store = _store(rt, params["store"])
        seed = _seed(context["run_id"])
        subject = {"store": store.location, "source": params["source"], "snapshot": "*"}
        try:
            rep = verify_store(
                store, rt.keyring, source=params["source"], sample=float(params["sample"]), seed=seed
            )
        except SnapshotError as exc:
            # The verification is a custody action: recorded either way (the console's last verify).
            rt.record("verify", subject=subject, outcome="failure", reason="SnapshotError",
                      counts={"failures": len(exc.failures)})
            raise AirflowFailException(str(exc)) from None
        rt.record("verify", subject=subject, counts={"snapshots": rep.snapshots, "objects": rep.checked,
                                                     "bytes": rep.bytes_read})
        return {
            "location": rep.location,
            "snapshots": rep.snapshots,
            "objects": rep.total,
            "checked": rep.checked,
            "bytes_read": rep.bytes_read,
            "seed": seed,
        }

    @task(inlets=[SNAPSHOTS])
    def restore_drill(verified: dict, **context) -> dict:
        import random

        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowFailException

        from custody.catalog import Catalog
        from custody.drill import DrillFailed, run_drill

        params = context["params"]
        rt = _runtime()
        store = _store(rt, params["store"])
        engine = BaseHook.get_connection(params["drill_conn_id"]).get_hook().get_sqlalchemy_engine()
        catalog = Catalog(rt.settings.catalog_url).engine  # migrated at deployment; refused otherwise
        try:
            result = run_drill(
                store,
                rt.keyring,
                engine,
                rng=random.Random(_seed(context["run_id"])),
                rto_limit_s=float(params["rto_limit_s"]),
                rpo_limit_s=float(params["rpo_limit_s"]),
                source=params["source"],
                catalog_engine=catalog,
            )
        except DrillFailed as exc:
            raise AirflowFailException(str(exc)) from None
        finally:
            engine.dispose()
            catalog.dispose()
        return result.to_dict()

    restore_drill(verify_sample())


custody_restore_drill()
