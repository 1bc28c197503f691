"""Write one compliance report: canonical JSON, HTML with inline SVG charts and PDF, in English and
Simplified Chinese, into ``<report_dir>/compliance/<period>/``.

Files: ``compliance.json``, ``compliance.en.html``, ``compliance.zh-CN.html``,
``compliance.en.pdf``, ``compliance.zh-CN.pdf``. Each is written atomically. When the PDF cannot
be written (``compliance_pdf.PdfUnavailable``: fpdf2 or the CJK font missing), the JSON and HTML
are still written and the result names what is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from custody.fsio import atomic_write_bytes
from custody.reports.compliance import ComplianceReport
from custody.reports.compliance_charts import charts, svg
from custody.reports.compliance_labels import LANGS
from custody.reports.compliance_view import layout

TEMPLATES = Path(__file__).parent / "templates"
FILES = ("compliance.json", *(f"compliance.{lang}.html" for lang in LANGS),
         *(f"compliance.{lang}.pdf" for lang in LANGS))


def render_html(report: ComplianceReport, lang: str) -> str:
    """The report in ``lang`` as one self-contained HTML page: inline CSS and SVG, no script, no link."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    drawn = [(title, svg(spec)) for title, spec in charts(report, lang)]
    return env.get_template("compliance_report.html.j2").render(v=layout(report, lang), charts=drawn)


def compliance_dir(report_dir: Path, period_label: str) -> Path:
    """``<report_dir>/compliance/<YYYY-MM>``."""
    return Path(report_dir) / "compliance" / period_label


def write_compliance_report(report: ComplianceReport, out_dir: Path) -> dict[str, Any]:
    """Write the JSON, and the HTML and PDF in each language, into ``out_dir``.

    Returns ``{"files": {name: Path}, "pdf_missing": reason | None}``. Raises ``OSError`` when the
    folder cannot be written.
    """
    from custody.reports.compliance_pdf import PdfUnavailable, render_pdf

    out_dir = Path(out_dir)
    files: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        files[name] = out_dir / name
        atomic_write_bytes(files[name], data, mode=0o644)

    put("compliance.json", report.to_json())
    for lang in LANGS:
        put(f"compliance.{lang}.html", render_html(report, lang).encode("utf-8"))
    missing = None
    try:
        for lang in LANGS:
            put(f"compliance.{lang}.pdf", render_pdf(report, lang))
    except PdfUnavailable as exc:
        missing = str(exc)
    return {"files": files, "pdf_missing": missing}
