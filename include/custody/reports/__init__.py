"""Run reports: one JSON document and HTML renderings in English and Chinese.

The report carries counts, hashes, column names and classifications, never values. Each section
names the rule it evidences (see ``REFERENCES``).
"""

from custody.reports.run_report import REFERENCES, build_run_report, write_run_report

__all__ = ["REFERENCES", "build_run_report", "write_run_report"]
