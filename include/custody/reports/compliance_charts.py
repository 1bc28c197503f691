"""Charts of the compliance report, drawn in Python: Vega-Lite specs (vega-altair) rendered by
vl-convert to SVG (inlined in the HTML, no script) and to PNG (placed in the PDF).

Every chart shows counts and shares from the report's JSON only, labelled in the report's
language. ``charts(report, lang)`` gives ``[(title, spec)]``; ``svg`` and ``png`` render one.
PNG text uses the embedded CJK font (``compliance_pdf.cjk_font``) so Chinese labels render on a
machine without system fonts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custody.reports.compliance import ALERT_SHARE, ComplianceReport
from custody.reports.compliance_labels import translator

FONT_FAMILY = "Noto Sans SC"
# vl-convert lays text out with Noto Sans SC (registered from the font package); in the page, the
# same glyphs come from the embedded CustodyCJK (``compliance_output``) when the reader lacks it.
HTML_FONTS = "Noto Sans SC, CustodyCJK, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
WIDTH = 460


def _count_axis(top: int):
    """An axis of whole counts: integer labels, no more ticks than there are units up to ``top``."""
    import altair as alt

    return alt.Axis(format=",d", tickCount=max(1, min(8, int(top))))


def _chart(values: list[dict[str, Any]]):
    import altair as alt

    return alt.Chart(alt.Data(values=values)).properties(width=WIDTH)


def levels_chart(r: ComplianceReport, t) -> dict[str, Any]:
    """Columns by level, this period beside the previous one (grouped bars)."""
    import altair as alt

    rows = [{"level": t("level", x.key), "period": t("field", p), "columns": getattr(x, k)}
            for x in r.inventory.by_level for p, k in (("prev", "previous"), ("current", "current"))]
    order = [t("field", "prev"), t("field", "current")]
    return _chart(rows).mark_bar().encode(
        x=alt.X("level:N", title=t("field", "level"), sort=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("period:N", sort=order),
        y=alt.Y("columns:Q", title=t("field", "columns"), axis=_count_axis(max([x["columns"] for x in rows] or [1]))),
        color=alt.Color("period:N", title=t("field", "period_when"), sort=order),
    ).properties(height=220).to_dict()


def types_chart(r: ComplianceReport, t) -> dict[str, Any]:
    """Columns by PI type, this period (horizontal bars)."""
    import altair as alt

    rows = [{"type": t("pi_type", x.key), "columns": x.current} for x in r.inventory.by_pi_type]
    return _chart(rows).mark_bar().encode(
        y=alt.Y("type:N", title=t("field", "pi_type"), sort="-x"),
        x=alt.X("columns:Q", title=t("field", "columns"), axis=_count_axis(max([x["columns"] for x in rows] or [1]))),
    ).properties(height=max(60, 22 * len(rows))).to_dict()


def cac_chart(r: ComplianceReport, t) -> dict[str, Any]:
    """Year-to-date cross-border counts as a share of each CAC Order 16 threshold, with the 80 % line."""
    import altair as alt

    rows = [{"threshold": t("term", x.key), "share": x.share} for x in r.cross_border.thresholds]
    bars = _chart(rows).mark_bar().encode(
        y=alt.Y("threshold:N", title=t("field", "threshold"), sort=None),
        x=alt.X("share:Q", title=t("field", "share"), scale=alt.Scale(domain=[0, 1.0]),
                axis=alt.Axis(format="%")))
    rule = alt.Chart(alt.Data(values=[{"alert": ALERT_SHARE}])).mark_rule(color="#c0392b", strokeDash=[4, 3]).encode(
        x="alert:Q")
    return alt.layer(bars, rule).properties(height=90, width=WIDTH).to_dict()


def sensitive_chart(r: ComplianceReport, t) -> dict[str, Any]:
    """Records of each table holding sensitive PI, encrypted and not (stacked bars)."""
    import altair as alt

    rows = []
    for x in r.sensitive.tables:
        name = f"{x.source}.{x.table}"
        rows.append({"table": name, "state": t("field", "encrypted"), "records": x.encrypted_records})
        rows.append({"table": name, "state": t("field", "not_encrypted"), "records": x.records - x.encrypted_records})
    return _chart(rows).mark_bar().encode(
        y=alt.Y("table:N", title=t("field", "table")),
        x=alt.X("records:Q", title=t("field", "records"), stack="zero",
                axis=_count_axis(max([x.records for x in r.sensitive.tables] or [1]))),
        color=alt.Color("state:N", title=t("field", "encryption_coverage"),
                        scale=alt.Scale(range=["#2e7d32", "#c62828"])),
    ).properties(height=max(60, 26 * len(r.sensitive.tables))).to_dict()


def charts(r: ComplianceReport, lang: str) -> list[tuple[str, dict[str, Any]]]:
    """``[(title, Vega-Lite spec)]``: levels, PI types, encryption of sensitive records, CAC shares."""
    t = translator(lang)
    return [(t("field", "chart_levels"), levels_chart(r, t)), (t("field", "chart_types"), types_chart(r, t)),
            (t("field", "chart_sensitive"), sensitive_chart(r, t)), (t("field", "chart_cac"), cac_chart(r, t))]


def _with_font(spec: dict[str, Any], font: str) -> dict[str, Any]:
    return {**spec, "config": {**spec.get("config", {}), "font": font}}


_REGISTERED: set[str] = set()


def _register(font_file: Path | None) -> None:
    """Make the folder of ``font_file`` known to vl-convert (once per process), so it measures and
    draws Chinese labels with that font."""
    import vl_convert as vlc

    folder = None if font_file is None else str(Path(font_file).parent)
    if folder and folder not in _REGISTERED:
        vlc.register_font_directory(folder)
        _REGISTERED.add(folder)


def svg(spec: dict[str, Any], font_file: Path | None = None) -> str:
    """The chart as an SVG document (``<svg ...>...</svg>``) for inlining; no script, no link.
    ``font_file``: the CJK font the labels are measured with (None: vl-convert's own fonts)."""
    import vl_convert as vlc

    _register(font_file)
    out = vlc.vegalite_to_svg(_with_font(spec, HTML_FONTS))
    return out[out.index("<svg"):]


def png(spec: dict[str, Any], font_file: Path, scale: float = 2.0) -> bytes:
    """The chart as PNG bytes, its text set in ``font_file``."""
    import vl_convert as vlc

    _register(font_file)
    return vlc.vegalite_to_png(_with_font(spec, FONT_FAMILY), scale=scale)
