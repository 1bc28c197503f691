"""
### Custody incident response: contain, assess, notify, and the way back

Triggered by hand (trigger form or REST API), never on a schedule. Params: `scopes` (the affected
key scopes, `<source>/<retention_class>`), `kind`, `detected_at` (when the company became aware:
the 72-hour clock of GDPR Art 33(1) starts there; default the trigger time) and `kms` (also
disable the KMS key-encryption key).

1. **open**: records the incident in Custody's catalog and audit log (`incident.open`), with its
   notification deadline (detection + 72 hours).
2. **assess**: the affected inventory (scopes, tables and rows, PI types and levels, data subjects
   by region), counts only, read while the scopes are still readable.
3. **contain**: reversible revocation: the scopes' keys are marked revoked in the key store, so
   every object of those scopes, in staging and in every backup, is unreadable; with `kms`, KMS
   `DisableKey` on the KEK. Nothing is destroyed here: destruction goes through the purge, after
   approval.
4. **draft_notifications**: PIPL Art 57 and GDPR Art 33 drafts in Chinese and English, with the
   deadline, under `CUSTODY_HOME/incidents/<incident_id>/`.
5. **choose_way_back**: a person decides (human-in-the-loop, no default: without an answer within
   seven days the task fails and the scopes stay revoked): re-enable the keys, rotate (re-enable
   and rotate the KEK), or keep them revoked.
6. **reenable** / **rotate** / **keep_revoked**: the way chosen, each closing the incident
   (`incident.close`).

Every step appends to the audit log. XCom carries ids, paths, counts and hashes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Param, dag, task

WAYS = {"Re-enable the revoked keys": "reenable", "Rotate: re-enable and rotate the key-encryption key": "rotate",
        "Keep them revoked (destroy only through the purge)": "keep_revoked"}


def _keyring():
    from custody.crypto.open import open_keyring
    from custody.settings import Settings

    settings = Settings.from_env()
    return settings, open_keyring(settings.keyring, key_store=settings.catalog_url)


@dag(
    dag_id="custody_incident",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=4,
    tags=["custody", "incident", "pipl-art57", "gdpr-art33"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "owner": "custody"},
    params={
        "scopes": Param(type="array", items={"type": "string", "pattern": "^[^/]+/[^/]+$"}, minItems=1,
                        description="Affected key scopes, <source>/<retention_class>"),
        "kind": Param("breach", type="string",
                      enum=["breach", "key_exposure", "unauthorised_access", "loss", "drill"]),
        "detected_at": Param(None, type=["null", "string"], format="date-time",
                             description="When it became known (default: the trigger time)"),
        "kms": Param(False, type="boolean", description="Also disable the KMS key-encryption key"),
    },
)
def custody_incident():
    @task(task_id="open")
    def open_(params=None, run_id=None, dag_run=None) -> str:
        import hashlib

        from custody.incident.response import open_incident
        from custody.settings import Settings

        detected = params.get("detected_at")
        when = datetime.fromisoformat(detected) if detected else dag_run.run_after
        # One incident per DAG run, also across retries.
        incident_id = hashlib.sha256(f"custody_incident\n{run_id}".encode()).hexdigest()[:32]
        inc = open_incident(Settings.from_env().catalog_url, params["kind"], list(params["scopes"]),
                            detected_at=when, incident_id=incident_id)
        return inc.incident_id

    @task
    def assess(incident_id: str) -> dict:
        from custody.incident.response import assess as run
        from custody.store import LocalStore

        settings, keyring = _keyring()
        return run(settings.catalog_url, settings.home, incident_id, store=LocalStore(settings.backup_dir),
                   keyring=keyring)

    @task
    def contain(incident_id: str, _assessed: dict, params=None) -> dict:
        from custody.incident.response import contain as run

        settings, keyring = _keyring()
        return run(settings.catalog_url, incident_id, keyring, kms=bool(params.get("kms")))

    @task
    def draft_notifications(incident_id: str, _contained: dict) -> dict:
        from custody.incident.response import draft

        settings, _ = _keyring()
        return {k: v["sha256"] for k, v in draft(settings.catalog_url, settings.home, incident_id).items()}

    from airflow.providers.standard.operators.hitl import HITLBranchOperator

    choose = HITLBranchOperator(
        task_id="choose_way_back",
        subject="Custody incident: how to restore access to the revoked scopes?",
        body="The scopes of this incident are revoked and the notification drafts are written under "
             "CUSTODY_HOME/incidents/. Choose the way back once the cause is contained.",
        options=list(WAYS),
        options_mapping=WAYS,
        response_timeout=timedelta(days=7),
    )

    def way(how: str):
        @task(task_id=how)
        def run(incident_id: str) -> dict:
            from custody.incident.response import close_incident, way_back

            settings, keyring = _keyring()
            done = way_back(settings.catalog_url, incident_id, keyring, how=how) if how != "keep_revoked" else {}
            close_incident(settings.catalog_url, incident_id, resolution="kept_revoked" if how == "keep_revoked"
                           else how)
            return {"enabled": done.get("enabled", {}), "resolution": how}

        return run

    incident_id = open_()
    drafted = draft_notifications(incident_id, contain(incident_id, assess(incident_id)))
    drafted >> choose
    for how in WAYS.values():
        choose >> way(how)(incident_id)


custody_incident()
