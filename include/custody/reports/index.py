"""An index of the run reports under ``CUSTODY_HOME/reports`` for the UI plugin and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPORT_FILES = ("report.en.html", "report.zh-CN.html", "report.json")
_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def list_reports(report_dir: Path) -> list[dict[str, Any]]:
    """One summary per run report, newest first.

    Each: ``source``, ``run_key``, ``generated_at``, ``tables``, ``rows`` (extracted),
    ``quarantined``, ``ok`` (every table reconciled and passed, and no stage failed),
    ``failed_stages`` (tasks that failed), ``levels`` (columns per level).
    Unreadable reports, and reports whose folder resolves outside ``report_dir``, are skipped.
    """
    out = []
    for path in Path(report_dir).glob("*/*/report.json"):
        try:
            run_dir(report_dir, path.parts[-3], path.parts[-2])
        except FileNotFoundError:
            continue
        try:
            r = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        recon = r.get("reconciliation", [])
        out.append(
            {
                # The folder names: what links and authorization use, whatever the file says.
                "source": path.parts[-3],
                "run_key": path.parts[-2],
                "generated_at": r.get("generated_at", ""),
                "tables": len(recon),
                "rows": sum(t.get("extracted_rows") or 0 for t in recon),
                "quarantined": sum(t.get("quarantined_rows") or 0 for t in recon),
                "ok": bool(recon) and all(t.get("reconciled") and t.get("passed") for t in recon)
                and (r.get("outcome") or {}).get("state") != "failed",
                "failed_stages": list((r.get("outcome") or {}).get("failed_stages") or []),
                "levels": r.get("levels", {}),
            }
        )
    return sorted(out, key=lambda x: x["generated_at"], reverse=True)


def run_dir(report_dir: Path, source: str, run_key: str) -> Path:
    """The report folder of one run, resolved and inside ``report_dir``.

    Raises ``FileNotFoundError`` for a name that is not a plain path segment (``.``, ``..``, a
    separator, percent-decoded or not) or a folder that resolves outside ``report_dir`` (a
    symbolic link), so no request can read a file outside the reports folder.
    """
    if not all(_SAFE.match(v) and v not in (".", "..") for v in (source, run_key)):
        raise FileNotFoundError(run_key)
    root = Path(report_dir).resolve()
    folder = (root / source / run_key).resolve()
    if folder.parent.parent != root:
        raise FileNotFoundError(run_key)
    return folder


def report_path(report_dir: Path, source: str, run_key: str, name: str) -> Path:
    """Path of one report file. Raises ``FileNotFoundError`` for unknown or unsafe names."""
    if name not in REPORT_FILES:
        raise FileNotFoundError(name)
    folder = run_dir(report_dir, source, run_key)
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise FileNotFoundError(name)
    return path


def datadocs_path(report_dir: Path, source: str, run_key: str, rel: str) -> Path:
    """Path of a file of a run's GX Data Docs site. Raises ``FileNotFoundError`` outside that site."""
    site = run_dir(report_dir, source, run_key) / "datadocs"
    path = (site / rel).resolve()
    if site.resolve() != site or site not in path.parents or not path.is_file():
        raise FileNotFoundError(rel)
    return path
