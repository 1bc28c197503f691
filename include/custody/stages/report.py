"""The report stage: the run report (JSON, HTML in English and Chinese) from the stage documents."""

from __future__ import annotations

from typing import Any

from custody.documents import BackupDocument, ClassificationDocument, ValidationDocument, document_key
from custody.stages.runtime import Runtime


def stage_report(rt: Runtime, source: str, run_key: str) -> dict[str, str]:
    """Render the run report from whatever stage documents the run has; returns the file paths."""
    from custody.reports import build_run_report, write_run_report

    def find(kind: Any, model: Any) -> Any:
        return rt.staging.find(document_key(kind, source=source, run_key=run_key), model)

    manifest = rt.manifest(source, run_key)
    report = build_run_report(manifest, validation=find("validation", ValidationDocument),
                              classification=find("classification", ClassificationDocument),
                              backup=find("backup", BackupDocument))
    paths = write_run_report(report, rt.settings.report_dir / manifest.source / manifest.run_key)
    return {k: str(v) for k, v in paths.items()}
