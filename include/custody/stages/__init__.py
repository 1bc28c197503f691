"""The stages of the main job, each a plain function the DAG calls once per task.

Order: ``extract`` (plan, parts, commit) -> ``inspect`` (classify and validate in one pass) ->
``backup`` -> ``report``; ``stage_drift_alert`` fails loudly on inventory drift.
``compliance`` writes the periodic compliance report (monthly and at deal milestones).
Every function takes a ``Runtime`` and names (source, run key, a part reference) and returns a small dict for
XCom: document keys and counts, never data. Documents between stages are ``custody.documents``
models in staging; tests and the CLI call these functions directly.

The stages that hold rows (extraction, classification and validation) are wrapped by
``boundary.stage_boundary``: an error leaves them value-free (``custody.errors``).
``failures`` describes a failed stage without values (error class, SQLSTATE, transient or
permanent, Custody's own message) and gathers a run's outcome for the report.
"""

from custody.stages.backup import stage_backup
from custody.stages.compliance import stage_compliance_report
from custody.stages.extract import stage_commit_extract, stage_extract, stage_extract_part, stage_plan_extract
from custody.stages.inspect import stage_classify_and_validate, stage_drift_alert
from custody.stages.report import stage_report
from custody.stages.runtime import Runtime, StageError

__all__ = [
    "Runtime",
    "StageError",
    "stage_backup",
    "stage_classify_and_validate",
    "stage_commit_extract",
    "stage_compliance_report",
    "stage_drift_alert",
    "stage_extract",
    "stage_extract_part",
    "stage_plan_extract",
    "stage_report",
]
