"""The report stage: the run report (JSON, HTML in English and Chinese) from the stage documents.

It runs whatever happened before it (the DAG's ``report`` task runs when all others are done), so
it writes a report from the documents that exist and the run's outcome: when extraction failed
there is no manifest, and the report still says which stage failed and why. It is the run's last
stage, so it also removes the temporary files its run's tasks left behind (a killed task's).
"""

from __future__ import annotations

import shutil
from typing import Any

from custody.documents import (
    BackupDocument,
    ClassificationDocument,
    RunManifest,
    ValidationDocument,
    document_key,
    run_prefix,
)
from custody.stages.failures import RunOutcome, describe_failure
from custody.stages.runtime import Runtime


def stage_report(rt: Runtime, source: str, run_key: str, outcome: RunOutcome | dict[str, Any] | None = None
                 ) -> dict[str, str]:
    """Render the run report from whatever stage documents the run has; returns the file paths.

    ``outcome``: the run's ``RunOutcome`` (task states and value-free failures, from the DAG
    layer) or its dict; None for a run driven without Airflow. A document that is missing is
    reported as not run; one that cannot be read (a missing key, a broken seal) is named with
    its error class in ``unreadable``. Returns ``{"json", "html", "html_zh"}`` paths (text).
    Raises ``OSError`` when the report folder cannot be written.
    """
    from custody.fsio import remove_orphans
    from custody.reports import build_run_report, write_run_report

    outcome = RunOutcome.model_validate(outcome) if isinstance(outcome, dict) else outcome
    unreadable: list[str] = []
    try:
        staging = rt.staging
    except Exception as exc:  # e.g. a missing key: a report must still be written, without documents
        unreadable.append(describe_failure("open staging", exc).line())
        staging = None

    def find(kind: Any, model: Any) -> Any:
        if staging is None:
            return None
        try:
            return staging.find(document_key(kind, source=source, run_key=run_key), model)
        except Exception as exc:  # name the document and the error class, and go on
            unreadable.append(describe_failure(f"read {kind}.json", exc).line())
            return None

    manifest = find("manifest", RunManifest)
    report = build_run_report(manifest, validation=find("validation", ValidationDocument),
                              classification=find("classification", ClassificationDocument),
                              backup=find("backup", BackupDocument),
                              outcome=outcome.model_dump(mode="json") if outcome else None,
                              source=source, run_key=run_key, unreadable=unreadable)
    folder = rt.settings.report_dir / source / run_key
    paths = write_run_report(report, folder)
    # Every other task of the run has ended: a temporary file still in its staging or report
    # folder is a killed task's leftover (a partly written object, document or Data Docs site).
    remove_orphans(rt.settings.staging_dir / run_prefix(source, run_key), older_than_s=0)
    remove_orphans(folder, older_than_s=0)
    for site in folder.glob(".datadocs.building-*"):
        shutil.rmtree(site, ignore_errors=True)
    return {k: str(v) for k, v in paths.items()}
