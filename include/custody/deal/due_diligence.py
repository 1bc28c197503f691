"""Due diligence: the value-free data-room summary and the PIPIA draft (PIPL Art 55-56, GB/T 39335).

``inventory_summary`` counts the catalog's inventory (every source's columns by PI type, level and
lawful basis, sensitive columns), data subjects by province (resident-ID address code, from the
newest snapshot) and the minors found by the newest classification of each source
(records of individuals under 14, PIPL Art 28, 31), per source and in total. Names and counts only.

``pipia_draft`` writes the personal information protection impact assessment draft in Chinese
and English from that summary and ``deal.yaml``: the purpose and method of the transfer and
whether they are lawful, legitimate and necessary (PIPL Art 56(1)); the categories and volume,
the impact on individuals and the risk level derived from sensitive PI and minors (Art 56(2);
GB/T 39335-2020 5.4-5.6: the impact on rights and the likelihood); the measures in place (Art
56(3)). The parts only people can write are marked to be completed; PIPL Art 56 asks the record
be kept at least three years.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from custody.settings import Settings

SUMMARY_FORMAT = "custody-deal-inventory-summary"
SENSITIVE = frozenset({"sensitive", "core"})
TEMPLATES = Path(__file__).parent / "templates"


def _minors(settings: Settings, source: str, run_key: str | None) -> dict[str, Any]:
    """Minors per the newest classification document of ``source`` in staging (``counted`` False when
    it cannot be read or no table could be counted)."""
    if not run_key:
        return {"rows": 0, "tables_counted": 0, "counted": False}
    from custody.crypto.open import open_keyring
    from custody.documents.stages import ClassificationDocument
    from custody.documents.layout import document_key
    from custody.staging import StagingStore

    try:
        staging = StagingStore(settings.staging_dir, open_keyring(settings.keyring, key_store=settings.catalog_url))
        doc = staging.find(document_key("classification", source=source, run_key=run_key), ClassificationDocument)
    except Exception:  # noqa: BLE001 - a missing key or document: minors unknown, said so in the summary
        doc = None
    counted = [t.minors for t in (doc.tables if doc else []) if t.minors is not None and t.minors.counted]
    return {"rows": sum(m.rows for m in counted), "tables_counted": len(counted), "counted": bool(counted)}


def _regions(settings: Settings, source: str, id_columns: set[tuple[str, str]], store: Any,
             keyring: Any) -> dict[str, Any]:
    """Data subjects by province (resident-ID address code) in the newest snapshot of ``source``."""
    from custody.incident.affected import subjects_by_region
    from custody.store import SnapshotError, latest_snapshot, load_snapshot

    if not id_columns or store is None:
        return {"subjects": None, "by_province": {}}
    try:
        key = latest_snapshot(store, keyring, source)
    except SnapshotError:
        return {"subjects": None, "by_province": {}}
    subjects, regions = subjects_by_region(store, load_snapshot(store, key, keyring).manifest, keyring, id_columns)
    return {"subjects": subjects, "by_province": regions}


def inventory_summary_doc(settings: Settings, deal_id: str, milestone_id: str, *, store: Any = None,
                          keyring: Any = None) -> dict[str, Any]:
    """The summary document (format ``custody-deal-inventory-summary``, version 2).

    With ``store`` and ``keyring``, data subjects are also counted by province (``regions``) from
    the resident-ID columns of each source's newest snapshot (counts only)."""
    from custody.catalog.schema import inventory_column, inventory_run
    from custody.config import ConfigError, load_sources

    try:
        bases = {s.name: s.lawful_basis for s in load_sources(settings=settings).sources}
    except ConfigError:
        bases = {}
    engine = sa.create_engine(settings.catalog_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(inventory_column.c.source, inventory_column.c.table_name,
                                          inventory_column.c.column_name, inventory_column.c.pi_type,
                                          inventory_column.c.level)).all()
            runs = conn.execute(sa.select(inventory_run.c.source, inventory_run.c.run_key)
                                .order_by(inventory_run.c.recorded_at)).all()
    finally:
        engine.dispose()
    latest = {r.source: r.run_key for r in runs}  # ordered by time: the last one wins
    sources = []
    for name in sorted({r.source for r in rows} | set(latest)):
        cols = [r for r in rows if r.source == name]
        sources.append({
            "source": name, "lawful_basis": str(bases.get(name, "unknown")),
            "tables": len({r.table_name for r in cols}), "columns": len(cols),
            "pi_types": dict(sorted(Counter(r.pi_type for r in cols if r.pi_type).items())),
            "levels": dict(sorted(Counter(r.level for r in cols).items())),
            "sensitive_columns": sum(1 for r in cols if r.level in SENSITIVE),
            "minors_under_14": _minors(settings, name, latest.get(name)),
            "regions": _regions(settings, name, {(r.table_name.lower(), r.column_name) for r in cols
                                                 if r.pi_type == "resident_id"}, store, keyring),
        })
    total = {"columns": len(rows), "tables": len({(r.source, r.table_name) for r in rows}),
             "pi_types": dict(sorted(Counter(r.pi_type for r in rows if r.pi_type).items())),
             "levels": dict(sorted(Counter(r.level for r in rows).items())),
             "lawful_basis": dict(sorted(Counter(s["lawful_basis"] for s in sources for _ in range(s["columns"]))
                                         .items())),
             "sensitive_columns": sum(s["sensitive_columns"] for s in sources),
             "minors_under_14": sum(s["minors_under_14"]["rows"] for s in sources),
             "subjects_by_province": dict(sorted(sum((Counter(s["regions"]["by_province"]) for s in sources),
                                                     Counter()).items()))}
    return {"format": SUMMARY_FORMAT, "version": 2, "deal": deal_id, "milestone_id": milestone_id,
            "sources": sources, "totals": total,
            "rule": "PIPL Art 51, 55-56 (inventory for the impact assessment); GDPR Art 30"}


def risk_level(summary: dict[str, Any]) -> str:
    """``high`` with sensitive PI or minors, ``medium`` with other PI, ``low`` without PI
    (GB/T 39335-2020 5.6: impact by category, sensitivity and the individuals concerned)."""
    t = summary["totals"]
    if t["sensitive_columns"] or t["minors_under_14"]:
        return "high"
    return "medium" if t["pi_types"] else "low"


def render_pipia(summary: dict[str, Any], deal: Any, language: str) -> str:
    """The PIPIA draft in ``language`` (``zh-CN`` or ``en``) from the summary and the deal."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from custody.incident.drafts import LEVELS_ZH, PI_TYPES_ZH

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=False,
                      keep_trailing_newline=True)
    return env.get_template(f"pipia.{language}.md.j2").render(
        summary=summary, deal=deal, risk=risk_level(summary), pi_zh=lambda t: PI_TYPES_ZH.get(t, t),
        level_zh=lambda v: LEVELS_ZH.get(v, v))
