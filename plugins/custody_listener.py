"""Custody's Airflow listener: each task instance's outcome, and each human answer, in the audit log.

Airflow 3 calls these hooks (``airflow/listeners/spec/taskinstance``) in the task's own process
when a task instance of a ``custody_*`` DAG succeeds, fails (or goes up for retry) or skips
itself, and in the API server when a state is set from the UI. Each call appends one entry
through ``custody.audit.log.AuditLog.append`` (actions ``task.success``, ``task.failed``,
``task.skipped``); a human-in-the-loop task (``HITLOperator`` and its subclasses) adds an
``approval.answer`` entry with the options chosen, who answered and whether it approved. A
timed-out or failed approval is recorded as not approved: an approval never defaults to yes.

Entries hold ids, option labels, states and exception class names, never a message, a form
value or a row. A listener must not break the task it observes: a failure to record is logged
(by class name) and the task's own outcome stands; ``custody audit verify`` is the check.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)
DAG_PREFIX = "custody_"
PIPELINE_PREFIX = "custody_pipeline_"


def _actor(ti: Any, user: str | None = None) -> Any:
    from custody.audit.entries import Actor

    map_index = getattr(ti, "map_index", None)
    try_number = getattr(ti, "try_number", None)
    return Actor(kind="airflow", user=user, host=socket.gethostname()[:255], dag_id=ti.dag_id, run_id=ti.run_id,
                 task_id=ti.task_id, try_number=try_number if isinstance(try_number, int) else None,
                 map_index=map_index if isinstance(map_index, int) else None)


def _subject(ti: Any) -> dict[str, str]:
    subject = {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id}
    if ti.dag_id.startswith(PIPELINE_PREFIX):
        from custody.documents import run_key_for

        # The pipeline's run key, so `custody audit show --run-key` and the report's range include tasks.
        subject.update(source=ti.dag_id.removeprefix(PIPELINE_PREFIX), run_key=run_key_for(ti.run_id))
    return subject


def _answer(ti: Any, failed: bool, reason: str | None) -> dict[str, Any] | None:
    """The ``approval.answer`` fields of a human-in-the-loop task, or None for any other task."""
    summary = getattr(getattr(ti, "task", None), "hitl_summary", None)
    if not isinstance(summary, dict):
        return None
    chosen = [str(o)[:100] for o in summary.get("chosen_options") or []]
    responder = summary.get("responded_by_user") or {}
    user = responder.get("name") or responder.get("id") if isinstance(responder, dict) else None
    approved = summary.get("approved")
    answered = bool(chosen) and not failed
    return {
        "user": str(user)[:128] if user else None,
        # A timeout or error is never an approval, whatever the task's defaults say.
        "outcome": "success" if answered else "refused",
        "reason": reason if not answered else None,
        "refs": [f"option:{o}" for o in chosen],
        "details": {"approved": bool(approved) and answered, "options": len(summary.get("options") or []),
                    "params": len(summary.get("params_input") or {})},
    }


def record(ti: Any, action: str, error: BaseException | str | None = None) -> None:
    """Append the task instance's outcome (and a human answer) to the audit log; never raises."""
    if not str(getattr(ti, "dag_id", "")).startswith(DAG_PREFIX):
        return
    try:
        from custody.audit.log import AuditLog
        from custody.settings import Settings

        reason = None
        if action == "task.failed":
            reason = type(error).__name__ if isinstance(error, BaseException) else "TaskFailed"
        outcome = {"task.success": "success", "task.failed": "failure", "task.skipped": "skipped"}[action]
        with AuditLog(Settings.from_env().catalog_url) as audit:
            audit.append(action, actor=_actor(ti), outcome=outcome, subject=_subject(ti), reason=reason)
            answer = _answer(ti, action == "task.failed", reason)
            if answer is not None:
                audit.append("approval.answer", actor=_actor(ti, answer.pop("user")), subject=_subject(ti), **answer)
    except Exception as exc:  # the task's outcome stands; the gap shows in `custody audit show`
        log.warning("custody audit listener: %s of %s.%s not recorded (%s)", action, getattr(ti, "dag_id", "?"),
                    getattr(ti, "task_id", "?"), type(exc).__name__)


class CustodyListener:
    """The hook implementations (Airflow 3 task-instance listener spec)."""

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        """A task instance succeeded."""
        record(task_instance, "task.success")

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any,
                                error: BaseException | str | None) -> None:
        """A task instance failed or is up for retry (``error``: its exception; only its class is kept)."""
        record(task_instance, "task.failed", error)

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        """A task instance skipped itself."""
        record(task_instance, "task.skipped")


class CustodyListenerPlugin(AirflowPlugin):
    """Registers the listener."""

    name = "custody_listener"
    listeners = [CustodyListener()]
