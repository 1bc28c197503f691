"""The compliance report as PDF (fpdf2), with an embedded CJK font so Chinese renders anywhere.

The font is Noto Sans SC (SIL Open Font License) from the PyPI package ``pylopdf-fonts-zh-cn``,
installed by ``make install`` like every other dependency: no system font, no download at run
time. The glyphs the report uses are embedded as a TrueType subset (``compliance_font``); chart
images are drawn with the same font. ``CUSTODY_CJK_FONT`` may name another OpenType/TrueType
file with Simplified Chinese glyphs.

``render_pdf`` raises ``PdfUnavailable`` naming exactly what is missing (the package or the font
file) so the caller can still write the HTML and JSON.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from custody.reports.compliance import ComplianceReport
from custody.reports.compliance_charts import charts, png
from custody.reports.compliance_font import PdfUnavailable, cjk_font
from custody.reports.compliance_view import layout, report_text

FONT = "cjk"


def _require_fpdf():
    try:
        from fpdf import FPDF
    except ModuleNotFoundError as exc:
        if exc.name != "fpdf":  # fpdf2 is there but one of its imports failed: not ours to hide
            raise
        raise PdfUnavailable("fpdf2 is not installed: run `make install` "
                             "(or pip install -r requirements.txt -c constraints.txt)") from None
    return FPDF


def render_pdf(report: ComplianceReport, lang: str) -> bytes:
    """The report in ``lang`` as PDF bytes: summary, four charts, every section with its rules.

    Raises ``PdfUnavailable`` when fpdf2 or the CJK font is missing.
    """
    from custody.reports.compliance_font import truetype_subset

    fpdf_cls = _require_fpdf()
    font = cjk_font()
    v = layout(report, lang)
    drawn = charts(report, lang)
    with tempfile.TemporaryDirectory(prefix="custody-font-") as tmp:
        subset_file = Path(tmp) / "cjk.ttf"
        subset_file.write_bytes(truetype_subset(font, report_text(report)))
        return _render(fpdf_cls, report, v, drawn, font, subset_file)


def _render(fpdf_cls, report: ComplianceReport, v: dict, drawn: list, font: Path, subset_file: Path) -> bytes:
    lang = v["lang"]
    pdf = fpdf_cls(format="A4")
    pdf.set_creator("Custody")
    pdf.set_title(f"{v['title']} {report.period.label}")
    pdf.set_lang(lang)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font(FONT, fname=str(subset_file))
    pdf.add_page()
    width = pdf.epw

    def para(text: str, size: float = 10, gap: float = 1.5, gray: bool = False) -> None:
        pdf.set_font(FONT, size=size)
        pdf.set_text_color(90, 98, 114) if gray else pdf.set_text_color(29, 35, 48)
        pdf.multi_cell(width, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    def heading(text: str) -> None:
        pdf.ln(3)
        para(text, size=14, gap=1)
        pdf.set_draw_color(200, 204, 221)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
        pdf.ln(2)

    def table(headers: list[str] | None, rows: list[list[str]], widths: tuple[int, ...] | None = None) -> None:
        pdf.set_font(FONT, size=8.5)
        pdf.set_text_color(29, 35, 48)
        with pdf.table(col_widths=widths, first_row_as_headings=headers is not None, line_height=4.6,
                       headings_style=None if headers is None else _heading_style()) as tb:
            for row in ([headers] if headers else []) + rows:
                cells = tb.row()
                for c in row:
                    cells.cell(str(c))
        pdf.ln(2)

    para(v["title"], size=20, gap=2)
    para(v["note"], size=9, gray=True)
    table(None, [[v["period_label"], v["period"]], [v["previous_label"], v["previous"]],
                 [v["generated_label"], v["generated"]]], (1, 2))
    heading(v["summary_title"])
    table(v["summary"]["headers"], v["summary"]["rows"], (3, 1, 1))
    heading(v["charts_title"])
    for title, spec in drawn:
        para(title, size=10, gap=1)
        image = png(spec, font)
        pdf.image(io.BytesIO(image), w=min(width, 150))
        pdf.ln(3)
    for s in v["sections"]:
        heading(s["title"])
        para(f"{v['refs_label']}: " + "; ".join(s["refs"]), size=8, gray=True)
        if s["facts"]:
            table(None, [list(x) for x in s["facts"]], (2, 3))
        for tb in s["tables"]:
            if tb["rows"]:
                table(tb["headers"], tb["rows"])
    return bytes(pdf.output())


def _heading_style():
    from fpdf.fonts import FontFace

    return FontFace(family=FONT, fill_color=(241, 243, 247))
