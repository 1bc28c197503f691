"""The compliance report laid out for people, in one language: sections of facts and tables with
every word translated and every number formatted, shared by the HTML and the PDF renderings so
both show the same figures as the JSON.

``layout(report, lang)`` returns ``{"title", "period", "generated", "note", "summary": {"headers",
"rows": [[figure, this period, previous period]]}, "sections": [Section]}``;
a ``Section`` is ``{"id", "title", "refs" (translated citations), "facts": [(label, value)],
"tables": [{"headers": [...], "rows": [[...]]}]}``. Integers are written with a thousands
separator (``12,345``), shares as percentages with one decimal (``98.5%``).
"""

from __future__ import annotations

from typing import Any

import json
import string

from custody.reports.compliance import ComplianceReport
from custody.reports.compliance_labels import LANGS, translator


def num(n: int | float | None) -> str:
    """``12,345`` for integers, ``1.25`` for other numbers, ``—`` for None."""
    if n is None:
        return "—"
    if isinstance(n, bool):
        return str(n)
    if isinstance(n, int) or float(n).is_integer():
        return f"{int(n):,}"
    return f"{n:,.2f}"


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal (``98.5%``); ``—`` for None."""
    return "—" if x is None else f"{x * 100:.1f}%"


def signed(n: int) -> str:
    """A change with its sign: ``+3``, ``-1``, ``0``."""
    return f"{n:+,}" if n else "0"


def layout(r: ComplianceReport, lang: str) -> dict[str, Any]:
    """The report's sections in ``lang`` (``en`` or ``zh-CN``); see the module docstring."""
    t = translator(lang)
    f = lambda key: t("field", key)  # noqa: E731 - a short alias reads better in the tables below
    yn = lambda b: "—" if b is None else f("yes" if b else "no")  # noqa: E731
    sections: list[dict[str, Any]] = []

    def section(sid: str, facts: list[tuple[str, str]], tables: list[dict[str, Any]] | None = None) -> None:
        sections.append({"id": sid, "title": t("section", sid),
                         "refs": [t("cite", c) for c in r.references.get(sid, [])],
                         "facts": facts, "tables": tables or []})

    inv, sen = r.inventory, r.sensitive
    section("inventory", [(f("columns"), num(inv.columns)), (f("sources"), num(len(inv.sources)))], [
        {"headers": [f("level"), f("current"), f("prev"), f("change")],
         "rows": [[t("level", x.key), num(x.current), num(x.previous), signed(x.change)] for x in inv.by_level]},
        {"headers": [f("pi_type"), f("current"), f("prev"), f("change")],
         "rows": [[t("pi_type", x.key), num(x.current), num(x.previous), signed(x.change)] for x in inv.by_pi_type]},
        {"headers": [f("source"), f("tables"), f("columns"), f("sensitive_columns")],
         "rows": [[s.source, num(s.tables), num(s.columns), num(s.sensitive_columns)] for s in inv.sources]},
    ])
    section("sensitive", [
        (f("sensitive_columns"), num(sen.sensitive_columns)), (f("sensitive_records"), num(sen.sensitive_records)),
        (f("minor_records"), num(sen.minor_records)), (f("encrypted_records"), num(sen.encrypted_records)),
        (f("encryption_coverage"), pct(sen.encryption_coverage)), (f("target"), pct(sen.target)),
    ], [{"headers": [f("source"), f("table"), f("sensitive_columns"), f("records"), f("encrypted_records")],
         "rows": [[x.source, x.table, num(x.sensitive_columns), num(x.records), num(x.encrypted_records)]
                  for x in sen.tables]}])
    lb = r.lawful_basis
    section("lawful_basis", [(f("sources"), num(lb.sources)), (f("covered"), num(lb.covered)),
                             (f("coverage"), pct(lb.coverage))],
            [{"headers": [f("source"), f("basis"), f("tables")],
              "rows": [[x.source, t("term", x.basis) if x.basis else f("no_basis"), num(x.tables)]
                       for x in lb.rows]}])
    ret = r.retention
    section("retention", [(f("plans"), num(ret.plans)), (f("plans_applied"), num(ret.plans_applied)),
                          (f("overdue_snapshots"), num(ret.overdue_snapshots)),
                          (f("oldest_overdue_days"), num(ret.oldest_overdue_days)),
                          (f("forgotten_in_period"), num(ret.forgotten_in_period))])
    b = r.backups
    section("backups", [
        (f("backups"), num(b.backups)), (f("backup_failures"), num(b.backup_failures)),
        (f("stores"), ", ".join(b.stores) or f("none")), (f("verifications"), num(b.verifications)),
        (f("verification_failures"), num(b.verification_failures)), (f("restores"), num(b.restores)),
        (f("drills"), num(len(b.drills))), (f("drills_passed"), num(b.drills_passed)),
    ], [{"headers": [f("drill"), f("started"), f("rto"), f("rto_limit"), f("rpo"), f("rpo_limit"), f("passed")],
         "rows": [[d.drill_id, d.started_at, num(d.rto_s), num(d.rto_limit_s), num(d.rpo_s), num(d.rpo_limit_s),
                   yn(d.passed)] for d in b.drills]}])
    p = r.purges
    section("purges", [(f("purge_plans"), num(p.plans)), (f("executions"), num(p.executions)),
                       (f("certificates"), num(p.certificates)), (f("keys_destroyed"), num(p.keys_destroyed)),
                       (f("certificate_ids"), ", ".join(p.certificate_ids) or f("none"))])
    q = r.requests
    section("requests", [(f("received"), num(q.received)), (f("open"), num(q.open)), (f("closed"), num(q.closed)),
                         (f("overdue"), num(q.overdue))],
            [{"headers": [f("request"), f("kind"), f("state"), f("due"), f("overdue")],
              "rows": [[x.request_id, t("term", x.kind), t("term", x.state), x.due or "—", yn(x.overdue)]
                       for x in q.items]}])
    c = r.cross_border
    section("cross_border", [(f("year"), str(c.year)), (f("transfers"), num(c.transfers)),
                             (f("individuals"), num(c.individuals)),
                             (f("sensitive_individuals"), num(c.sensitive_individuals))],
            [{"headers": [f("threshold"), f("limit"), f("count"), f("share"), f("alert"), f("exceeded")],
              "rows": [[t("term", x.key), num(x.limit), num(x.count), pct(x.share), yn(x.alert), yn(x.exceeded)]
                       for x in c.thresholds]}])
    a = r.compliance_audit
    section("compliance_audit", [
        (f("individuals_est"), num(a.individuals)), (f("officer_threshold"), num(a.officer_threshold)),
        (f("officer_required"), yn(a.officer_required)), (f("two_year_threshold"), num(a.two_year_threshold)),
        (f("frequency"), t("term", a.frequency)), (f("last_report"), a.last_report_at or f("none")),
    ])
    section("pipia", [(f("pipia_records"), num(r.pipia.records)), (f("latest"), r.pipia.latest_at or f("none")),
                      (f("oldest_age_days"), num(r.pipia.oldest_age_days))])
    i = r.incidents
    section("incidents", [(f("opened"), num(i.opened)), (f("closed_n"), num(i.closed)),
                          (f("open_now"), num(i.open_now)),
                          (f("incident_ids"), ", ".join(i.incident_ids) or f("none"))])
    m = r.milestones
    section("milestones", [(f("recorded"), num(m.recorded))],
            [{"headers": [f("deal"), f("milestone"), f("date")],
              "rows": [[x.get("deal", ""), t("term", x.get("milestone")), x.get("date", "")] for x in m.items]}])
    al = r.audit_log
    section("audit_log", [
        (f("entries"), num(al.entries)), (f("entries_in_period"), num(al.entries_in_period)),
        (f("verified"), f("not_verified") if al.verified is None else yn(al.verified)),
        (f("checkpoints"), num(al.checkpoints)), (f("checkpoint_size"), num(al.checkpoint_size)),
        (f("checkpoint_root"), al.checkpoint_root or "—"), (f("checkpoint_signed_at"), al.checkpoint_signed_at or "—"),
        (f("first_bad_entry"), num(al.first_bad_entry)), (f("findings"), num(al.findings)),
    ])
    rop = r.record_of_processing
    terms = lambda xs: "; ".join(t("term", x) for x in xs) or f("none")  # noqa: E731
    section("record_of_processing", [
        (f("controller"), t("term", rop.controller)), (f("purposes"), terms(rop.purposes)),
        (f("subject_categories"), terms(rop.subject_categories)),
        (f("data_categories"), "; ".join(t("pi_type", x) for x in rop.data_categories) or f("none")),
        (f("recipients"), terms(rop.recipients)), (f("transfers_rop"), terms(rop.transfers)),
        (f("erasure_time_limits"), terms(rop.erasure_time_limits)),
        (f("security_measures"), terms(rop.security_measures)),
    ])
    def both(key: str, fmt=num) -> list[str]:
        return [fmt(getattr(r.summary, key)), fmt(getattr(r.previous_summary, key))]

    in_section = lambda field, sid: f"{f(field)} ({t('section', sid)})"  # noqa: E731
    summary = {
        "headers": [f("figure"), f("current"), f("prev")],
        "rows": [
            [f("columns"), *both("columns")], [f("sensitive_columns"), *both("sensitive_columns")],
            [f("sensitive_records"), *both("sensitive_records")], [f("minor_records"), *both("minor_records")],
            [f("encryption_coverage"), *both("encryption_coverage", pct)],
            [in_section("coverage", "lawful_basis"), *both("lawful_basis_coverage", pct)],
            [f("overdue_snapshots"), *both("overdue_snapshots")], [f("backups"), *both("backups")],
            [f("drills_passed"), *both("drills_passed")], [f("certificates"), *both("certificates")],
            [in_section("open", "requests"), *both("requests_open")],
            [in_section("overdue", "requests"), *both("requests_overdue")],
            [in_section("individuals", "cross_border"), *both("transfer_individuals")],
            [in_section("open_now", "incidents"), *both("incidents_open")],
            [f("entries"), *both("audit_entries")],
            [in_section("verified", "audit_log"), f("not_verified") if al.verified is None else yn(al.verified), "—"],
        ],
    }
    return {
        "lang": lang, "title": f("title"), "period_label": f("period"), "period": f"{r.period.label} "
        f"({r.period.start} – {r.period.end})", "previous_label": f("previous"),
        "previous": f"{r.period.previous_start} – {r.period.previous_end}", "generated_label": f("generated"),
        "generated": r.generated_at, "note": f("note"), "refs_label": f("refs"),
        "summary_title": t("section", "summary"),
        "summary": summary, "charts_title": t("section", "charts"), "sections": sections,
    }


def report_text(report: ComplianceReport) -> str:
    """Every character the report's renderings can show, in both languages (layout and chart
    labels, plus printable ASCII): one font subset serves the HTML and PDF of both languages."""
    from custody.reports.compliance_charts import charts

    parts = [[layout(report, lang), charts(report, lang)] for lang in LANGS]
    return json.dumps(parts, ensure_ascii=False) + string.printable + "–—"
