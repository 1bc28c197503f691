"""Write one compliance report: canonical JSON, HTML with inline SVG charts and PDF, in English and
Simplified Chinese, into ``<report_dir>/compliance/<period>/``.

Files: ``compliance.json``, ``compliance.en.html``, ``compliance.zh-CN.html``,
``compliance.en.pdf``, ``compliance.zh-CN.pdf``. Each is written atomically. When the PDF cannot
be written (``compliance_pdf.PdfUnavailable``: fpdf2 or the CJK font missing), the JSON and HTML
are still written and the result names what is missing.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from custody.fsio import atomic_write_bytes
from custody.reports.compliance import ComplianceReport
from custody.reports.compliance_charts import charts, svg
from custody.reports.compliance_labels import LANGS
from custody.reports.compliance_view import layout, report_text

TEMPLATES = Path(__file__).parent / "templates"
FILES = ("compliance.json", *(f"compliance.{lang}.html" for lang in LANGS),
         *(f"compliance.{lang}.pdf" for lang in LANGS))


def _font_file() -> Path | None:
    """The CJK font file, or None when it is missing (the page then uses the reader's own fonts)."""
    from custody.reports.compliance_font import PdfUnavailable, cjk_font

    try:
        return cjk_font()
    except PdfUnavailable:
        return None


def render_html(report: ComplianceReport, lang: str) -> str:
    """The report in ``lang`` as one self-contained HTML page: inline CSS, SVG charts and the CJK
    font's glyphs it needs (a ``data:`` font, so Chinese renders on a machine without CJK fonts);
    no script, nothing loaded from elsewhere."""
    from custody.reports.compliance_font import truetype_subset

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    specs = charts(report, lang)
    view = layout(report, lang)
    font_file = _font_file()
    font = None
    if font_file is not None:
        font = base64.b64encode(truetype_subset(font_file, report_text(report))).decode("ascii")
    drawn = [(title, svg(spec, font_file)) for title, spec in specs]
    return env.get_template("compliance_report.html.j2").render(v=view, charts=drawn, font=font)


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
