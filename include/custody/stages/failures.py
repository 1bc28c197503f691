"""Failed stages, described without values: what the task log, XCom and the run report say.

When a stage raises, the DAG layer asks ``describe_failure`` for a ``StageFailure``: the stage,
the error class, a SQLSTATE/errno when a database answered, whether it is transient (the task is
retried) or permanent (it fails at once), and a message. The message is Custody's own text for
Custody's errors (which carry names, counts and places, never values: ``docs/contracts.md``) and
a fixed sentence for anything else: a driver's or library's message can quote the offending
cell, so it is never passed on. ``RunOutcome`` gathers the states of a run's tasks and the
failures into the value-free summary the run report opens with.

Transient (``custody.sources.transient.is_transient``): connection refused or lost, timeouts,
deadlocks, serialization failures, a store locked by a running prune. Permanent: everything else,
among them Custody's checks (missing table, schema drift, reconciliation mismatch, validation
threshold, inventory drift, a missing key-encryption key) and authentication failures.
"""

from __future__ import annotations

import traceback
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from custody.errors import ValueFreeError
from custody.sources.transient import database_code, is_transient

FAILURE_STATES = frozenset({"failed", "upstream_failed"})
_MESSAGE_CHARS = 1000


class StageFailure(BaseModel):
    """One failed task of a run: ``stage`` (DAG task id), ``map_index`` (mapped tasks), ``error``
    (exception class name), ``code`` (SQLSTATE / errno or None), ``transient`` (retried), and a
    value-free ``message``."""

    model_config = ConfigDict(extra="forbid")
    stage: str
    map_index: int | None = None
    error: str
    code: str | None = None
    transient: bool = False
    message: str

    def line(self) -> str:
        """One line for a log or an exception: ``<stage>[<i>]: <Error> (<code>): <message>``."""
        where = self.stage + (f"[{self.map_index}]" if self.map_index is not None else "")
        code = f" ({self.code})" if self.code else ""
        kind = "transient, retried" if self.transient else "permanent"
        return f"{where}: {self.error}{code}, {kind}: {self.message}"


def _own(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("custody.")


def describe_failure(stage: str, exc: BaseException, *, map_index: int | None = None) -> StageFailure:
    """A value-free description of ``exc`` raised by ``stage``.

    Custody's exceptions keep their message (whitespace folded, at most 1,000 characters);
    others get a fixed sentence naming their kind. Never raises.
    """
    transient = is_transient(exc)
    code = database_code(exc) if hasattr(exc, "orig") or type(exc).__module__.split(".")[0] in (
        "psycopg", "psycopg2", "pymysql", "sqlite3") else None
    error = type(exc).__name__
    if isinstance(exc, ValueFreeError):  # re-raised value-free at the stage boundary: describe the original
        error = exc.error_type.__name__ if exc.error_type else error
        code = exc.code
        exc_own = False
    else:
        exc_own = _own(exc)
    if exc_own:
        message = " ".join(str(exc).split())[:_MESSAGE_CHARS] or type(exc).__name__
    elif transient:
        message = ("the source or store could not be reached, or the connection or statement was cut off "
                   "(connection refused or lost, timeout, deadlock, serialization conflict); retried")
    elif code is not None:
        message = "the database refused the request (its message is not shown: it can quote values)"
    else:
        message = "unexpected error (its message is not shown: it can quote values); the log has the code path"
    return StageFailure(stage=stage, map_index=map_index, error=error, code=code, transient=transient,
                        message=message)


def code_path(exc: BaseException) -> str:
    """Where ``exc`` was raised: file, line and function of each frame, without the message or any
    local variable (a traceback's code lines show code, never data)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return "\n".join(f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames)


class RunOutcome(BaseModel):
    """How a run ended, for the run report: ``state`` (``failed`` when any custody task failed or
    could not run because an upstream one failed), every task's state (mapped tasks as
    ``<task>[<i>]``), and the failures with their reasons. Names, states and Custody's messages."""

    model_config = ConfigDict(extra="forbid")
    state: Literal["success", "failed", "running"]
    stages: dict[str, str] = Field(default_factory=dict)
    failures: list[StageFailure] = Field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Tasks that failed themselves (not those skipped because of them), in the order found."""
        return [t for t, s in self.stages.items() if s == "failed"]


def run_outcome(states: dict[str, str], failures: list[StageFailure]) -> RunOutcome:
    """Build a ``RunOutcome`` from task states (``{task or task[i]: state}``) and the failures the
    failed tasks recorded. A failed task that recorded none (killed, timed out, out of memory)
    gets a failure saying so."""
    known = {f.stage + (f"[{f.map_index}]" if f.map_index is not None else "") for f in failures}
    out = list(failures)
    for task, state in states.items():
        if state == "failed" and task not in known:
            stage, _, index = task.partition("[")
            out.append(StageFailure(stage=stage, map_index=int(index.rstrip("]")) if index else None,
                                    error="TaskFailed", transient=False,
                                    message="the task failed without recording a reason "
                                            "(killed, timed out or out of memory); see its log"))
    failed = any(s in FAILURE_STATES for s in states.values())
    unfinished = any(s not in FAILURE_STATES | {"success", "skipped", "removed"} for s in states.values())
    return RunOutcome(state="failed" if failed else "running" if unfinished else "success",
                      stages=dict(states), failures=out)
