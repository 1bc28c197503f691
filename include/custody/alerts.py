"""Failure and deadline alerts: what they say and to whom, without a value.

An alert names the DAG, the run, the task, the state and Custody's own value-free failure lines
(``custody.stages.failures.StageFailure.line``: stage, error class, SQLSTATE, Custody's message or
a fixed sentence), never an exception's text or a row. The Airflow side (``plugins/custody_alerts.py``)
sends it through the notifier its connection asks for: SMTP (the smtp provider's
``SmtpNotifier``) or a webhook (the http provider's ``HttpNotifier``, a JSON POST).

Settings come from the environment (``AlertSettings.from_env``):

- ``CUSTODY_ALERT_CONN_ID`` (default ``custody_alerts``): the Airflow connection; its type
  chooses the channel (``smtp`` / ``email``: e-mail; ``http`` / ``https``: webhook);
- ``CUSTODY_ALERT_TO``: comma-separated recipients (e-mail); ``CUSTODY_ALERT_FROM``: sender
  (else the connection's ``from_email``);
- ``CUSTODY_RUN_DEADLINE_MINUTES`` (unset or 0: no deadline; ``make up`` sets 360): a run still
  unfinished this long after it was queued raises a deadline alert (Airflow's ``DeadlineAlert``,
  checked by the scheduler). Off by default because ``dag.test()`` (the demo, the end-to-end
  tests) cannot run a DAG that has one in Airflow 3.3 (it looks the alert up by its definition);
- ``CUSTODY_UI_URL`` (default ``http://localhost:8080``): base of the links in an alert.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

AlertKind = Literal["task_failed", "run_failed", "deadline_missed"]

_TITLES = {
    "task_failed": "task failed",
    "run_failed": "run failed",
    "deadline_missed": "run missed its deadline",
}


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go (see the module docstring for the variables)."""

    conn_id: str = "custody_alerts"
    to: tuple[str, ...] = ()
    from_email: str | None = None
    deadline: timedelta | None = None
    ui_url: str = "http://localhost:8080"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertSettings:
        """Read the ``CUSTODY_ALERT_*`` variables. Raises ``ValueError`` for a deadline that is
        not a number of minutes."""
        env = os.environ if env is None else env
        minutes = float(env.get("CUSTODY_RUN_DEADLINE_MINUTES", "0") or 0)
        return cls(
            conn_id=env.get("CUSTODY_ALERT_CONN_ID", "custody_alerts"),
            to=tuple(a.strip() for a in env.get("CUSTODY_ALERT_TO", "").split(",") if a.strip()),
            from_email=env.get("CUSTODY_ALERT_FROM") or None,
            deadline=timedelta(minutes=minutes) if minutes > 0 else None,
            ui_url=env.get("CUSTODY_UI_URL", "http://localhost:8080").rstrip("/"),
        )


@dataclass(frozen=True)
class Alert:
    """One alert: ``kind``, the DAG and run, the task (task alerts), the state, Custody's
    value-free ``reasons`` and, for a missed deadline, the ``deadline`` (ISO-8601 UTC)."""

    kind: AlertKind
    dag_id: str
    run_id: str
    task_id: str | None = None
    state: str | None = None
    reasons: tuple[str, ...] = ()
    deadline: str | None = None
    ui_url: str = "http://localhost:8080"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def run_link(self) -> str:
        """The run in the Airflow UI."""
        return f"{self.ui_url}/dags/{quote(self.dag_id, safe='')}/runs/{quote(self.run_id, safe='')}"

    @property
    def console_link(self) -> str:
        """The custody console's overview."""
        return f"{self.ui_url}/custody/"

    def subject(self) -> str:
        """One line: ``[custody] <dag>: task <task> failed`` and the like."""
        what = _TITLES[self.kind]
        if self.task_id:
            what = f"task {self.task_id} failed"
        return f"[custody] {self.dag_id}: {what} ({self.run_id})"

    def lines(self) -> list[str]:
        """The body as plain lines (what the e-mail and the webhook carry)."""
        out = [f"DAG: {self.dag_id}", f"run: {self.run_id}"]
        if self.task_id:
            out.append(f"task: {self.task_id}")
        if self.state:
            out.append(f"state: {self.state}")
        if self.deadline:
            out.append(f"deadline: {self.deadline}")
        out += [f"{k}: {v}" for k, v in sorted(self.extra.items())]
        out += [f"reason: {r}" for r in self.reasons]
        out += [f"run: {self.run_link}", f"console: {self.console_link}"]
        return out

    def html(self) -> str:
        """The body as escaped HTML (no script, no remote resource)."""
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines())
        return f"<p>{html.escape(self.subject())}</p><ul>{items}</ul>"

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        return {"kind": self.kind, "subject": self.subject(), "dag_id": self.dag_id, "run_id": self.run_id,
                "task_id": self.task_id, "state": self.state, "deadline": self.deadline,
                "reasons": list(self.reasons), "run_link": self.run_link, "console_link": self.console_link,
                **({"extra": dict(self.extra)} if self.extra else {})}


def failure_reasons(pulled: Any) -> tuple[str, ...]:
    """The value-free lines of the failures a task recorded (``custody_failure`` XCom: one
    ``StageFailure`` dict, or a list of them for mapped tasks); anything else is ignored."""
    from custody.stages.failures import StageFailure

    items: Sequence[Any] = pulled if isinstance(pulled, list) else [pulled]
    out = []
    for item in items:
        if isinstance(item, dict):
            try:
                out.append(StageFailure.model_validate(item).line())
            except ValueError:
                continue
    return tuple(out)


def report_reasons(report_dir: Any, source: str, run_key: str) -> tuple[str, ...]:
    """The value-free failure lines of a run's report (``outcome.failures``), or () when the
    report is missing or unreadable (the alert goes out regardless)."""
    import json

    from custody.reports.index import report_path

    try:
        doc = json.loads(report_path(report_dir, source, run_key, "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return failure_reasons(list((doc.get("outcome") or {}).get("failures") or []))
