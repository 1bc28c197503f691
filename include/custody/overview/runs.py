"""Each source's last runs, from the run reports (every run writes one, failed runs too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunSummary:
    """One run as its report tells it: ``ok`` False when a stage failed or a table did not pass."""

    source: str
    run_key: str
    generated_at: str
    ok: bool
    failed_stages: tuple[str, ...]
    tables: int
    rows: int
    quarantined: int

    @property
    def state(self) -> str:
        """``success`` or ``failed``."""
        return "success" if self.ok else "failed"


def last_runs(report_dir: Path, per_source: int = 5) -> dict[str, list[RunSummary]]:
    """``{source: [RunSummary, ...]}``, newest first, at most ``per_source`` each, sources sorted."""
    from custody.reports.index import list_reports

    out: dict[str, list[RunSummary]] = {}
    for r in list_reports(report_dir):
        runs = out.setdefault(r["source"], [])
        if len(runs) < per_source:
            runs.append(RunSummary(r["source"], r["run_key"], r["generated_at"], r["ok"],
                                   tuple(r["failed_stages"]), r["tables"], r["rows"], r["quarantined"]))
    return dict(sorted(out.items()))
