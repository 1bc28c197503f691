"""Failure and deadline alerts of the custody DAGs, sent through Airflow notifiers.

The DAG files wire these in (``dag_alerts()``): a DAG ``on_failure_callback`` (one alert per
failed run, with the failure lines of its report), a task ``on_failure_callback`` (a task that
failed for good, with the value-free failure it recorded), and a ``DeadlineAlert`` (a run still
unfinished ``CUSTODY_RUN_DEADLINE_MINUTES`` after it was queued). What an alert says is built by
``custody.alerts`` (names, states and Custody's own failure lines; never an exception's text,
which can quote a value). The channel is the Airflow connection ``CUSTODY_ALERT_CONN_ID``:
type ``smtp`` / ``email`` sends an e-mail (``SmtpNotifier``), type ``http`` / ``https`` posts
JSON to a webhook (``HttpNotifier``). A failure to send is logged by class and never fails the
task or the callback it belongs to.

Parsing a DAG file that calls ``dag_alerts()`` reads the environment only: no connection or
database is looked up until an alert is sent.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("custody.alerts")

FAILURE_XCOM = "custody_failure"


def _settings():
    from custody.alerts import AlertSettings

    return AlertSettings.from_env()


def send(alert: Any, context: Any = None) -> bool:
    """Send ``alert`` (``custody.alerts.Alert``) through the configured connection; True when sent."""
    settings = _settings()
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(settings.conn_id)
        if (conn.conn_type or "").lower() in ("http", "https"):
            from airflow.providers.http.notifications.http import HttpNotifier

            HttpNotifier(http_conn_id=settings.conn_id, method="POST", json=alert.payload(),
                         headers={"Content-Type": "application/json"}).notify(context or {})
        else:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            if not settings.to:
                log.warning("custody alert not sent: CUSTODY_ALERT_TO names no recipient")
                return False
            SmtpNotifier(to=list(settings.to), from_email=settings.from_email, subject=alert.subject(),
                         html_content=alert.html(), smtp_conn_id=settings.conn_id).notify(context or {})
    except Exception as exc:  # an alert that cannot go out must not fail the run it reports on
        log.warning("custody alert %s for %s not sent: %s", alert.kind, alert.dag_id, type(exc).__name__)
        return False
    log.info("custody alert %s for %s %s sent", alert.kind, alert.dag_id, alert.run_id)
    return True


def _source_and_run_key(dag_id: str, run_id: str) -> tuple[str | None, str]:
    from custody.documents import run_key_for

    prefix = "custody_pipeline_"
    return (dag_id[len(prefix):] if dag_id.startswith(prefix) else None), run_key_for(run_id)


def task_failed(context: Any) -> None:
    """Task ``on_failure_callback``: the task failed for good (after its retries)."""
    from custody.alerts import Alert, failure_reasons

    ti = context["ti"]
    index = getattr(ti, "map_index", -1)
    try:
        pulled = ti.xcom_pull(task_ids=ti.task_id, key=FAILURE_XCOM,
                              **({"map_indexes": index} if index is not None and index >= 0 else {}))
    except Exception:  # the alert goes out without the reason
        pulled = None
    task = ti.task_id + (f"[{index}]" if index is not None and index >= 0 else "")
    send(Alert("task_failed", ti.dag_id, ti.run_id, task_id=task, state="failed",
               reasons=failure_reasons(pulled), ui_url=_settings().ui_url), context)


def run_failed(context: Any) -> None:
    """DAG ``on_failure_callback``: the run ended failed; the reasons are its report's."""
    from custody.alerts import Alert, report_reasons
    from custody.settings import Settings

    dag_id = context["dag"].dag_id
    run_id = context["run_id"]
    source, run_key = _source_and_run_key(dag_id, run_id)
    reasons = report_reasons(Settings.from_env().report_dir, source, run_key) if source else ()
    reason = str(context.get("reason") or "")
    send(Alert("run_failed", dag_id, run_id, state="failed", reasons=reasons, ui_url=_settings().ui_url,
               extra={"airflow": reason} if reason else {}), context)


def deadline_missed(context: Any = None, **kwargs: Any) -> None:
    """``DeadlineAlert`` callback (``SyncCallback``, run by the executor): the run is unfinished at
    its deadline. ``context``: the scheduler's ``{"dag_run": {...}, "deadline": {...}}``."""
    from custody.alerts import Alert

    context = context or {}
    run = context.get("dag_run") or {}
    deadline = (context.get("deadline") or {}).get("deadline_time")
    # The scheduler's DAGRunResponse names the run ``dag_run_id``.
    run_id = run.get("dag_run_id") or run.get("run_id") or "?"
    send(Alert("deadline_missed", str(run.get("dag_id", kwargs.get("dag_id", "?"))), str(run_id),
               state=str(run.get("state") or ""), deadline=str(deadline) if deadline else None,
               ui_url=_settings().ui_url), context)


def dag_alerts() -> dict[str, Any]:
    """Keyword arguments for ``@dag``: ``on_failure_callback`` and, unless disabled, ``deadline``.
    Task failure callbacks go in ``default_args`` (``failure_callbacks()``)."""
    out: dict[str, Any] = {"on_failure_callback": run_failed}
    deadline = _settings().deadline
    if deadline is not None:
        from airflow.sdk.definitions.callback import SyncCallback
        from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

        out["deadline"] = DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=deadline,
                                        callback=SyncCallback(deadline_missed), name="custody run deadline")
    return out


def failure_callbacks() -> dict[str, Any]:
    """Entries for ``default_args``: every task's ``on_failure_callback``."""
    return {"on_failure_callback": task_failed}
