"""Signing: the PIPL Art 22 notification list and the notice texts.

PIPL Art 22: when personal information is transferred by reason of a merger, division,
dissolution or sale, the individuals are told the recipient's name and contact. The list says
who must be told and how, without holding anyone's identity in clear:

- **who**: every data subject of the tables the closing hands over, identified by the first
  identifier column the inventory finds in the table (``resident_id``, then ``mobile_phone``,
  ``email``, ``phone``), as a pseudonym: the 128-bit token of that value under the deal key
  (``docs/format.md`` 1.8; the transferor, holding the key, recomputes it from its own records
  to address each notice);
- **how**: the channel of each subject, the best the rows offer: ``email`` if a row of the subject
  has an e-mail address, else ``sms`` (a mobile number), else ``post`` (an address), else
  ``announcement`` (a public notice);
- **the list**: a Custody object (``docs/format.md`` section 2, Parquet with columns ``subject``
  and ``channel``) encrypted under the scope ``deal/<deal id>``, so it can be crypto-shredded
  with the deal; beside it, a value-free summary (counts by channel, content hash) and the notice
  texts in Chinese and English.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from custody.settings import Settings

ID_TYPES = ("resident_id", "mobile_phone", "email", "phone")
CHANNELS = (("email", "email"), ("mobile_phone", "sms"), ("street_address", "post"), ("address", "post"))
RANK = {"email": 0, "sms": 1, "post": 2, "announcement": 3}
TEMPLATES = Path(__file__).parent / "templates"


def _columns(settings: Settings, source: str) -> dict[str, dict[str, str]]:
    """``{table (lower case): {pi_type: column}}`` from the catalog's inventory (first column per type)."""
    from custody.catalog.schema import inventory_column

    engine = sa.create_engine(settings.catalog_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(inventory_column.c.table_name, inventory_column.c.column_name,
                                          inventory_column.c.pi_type)
                                .where(inventory_column.c.source == source)
                                .order_by(inventory_column.c.table_name, inventory_column.c.column_name)).all()
    finally:
        engine.dispose()
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        if r.pi_type:
            out.setdefault(r.table_name.lower(), {}).setdefault(r.pi_type, r.column_name)
    return out


def notification_list(settings: Settings, deal: Any, milestone_id: str, out_dir: Path, *, store: Any,
                      keyring: Any) -> dict[str, Any]:
    """Build the encrypted notification list and its summary; returns the summary (value-free).

    Raises ``ValueError`` when the closing's handover is not configured, and the store's and
    keyring's errors.
    """
    from custody import hashing
    from custody.canonical import canonical_json
    from custody.crypto.envelope import encrypt_bytes
    from custody.crypto.pseudonym import Pseudonymizer
    from custody.fsio import atomic_write_bytes
    from custody.restore.reading import iter_table
    from custody.staging import table_to_parquet
    from custody.store import latest_snapshot, load_snapshot

    handover = deal.milestone("closing").handover
    if handover is None:
        raise ValueError(f"deal {deal.id}: milestones.closing.handover names no tables to notify about")
    snapshot = latest_snapshot(store, keyring, handover.source)
    manifest = load_snapshot(store, snapshot, keyring).manifest
    inventory = _columns(settings, handover.source)
    pseudo = Pseudonymizer.for_deal(keyring, deal.id)
    best: dict[str, str] = {}
    tables_without_id = []
    for name in handover.tables:
        tm = manifest.table(name)
        types = inventory.get(name.lower(), {})
        id_type = next((t for t in ID_TYPES if t in types), None)
        if id_type is None:
            tables_without_id.append(name)
            continue
        for chunk in iter_table(store, tm, keyring):
            tokens = pseudo.tokens(id_type, chunk.column(types[id_type]))
            channel = pa.array(["announcement"] * chunk.num_rows, pa.string())
            for pi_type, label in reversed(CHANNELS):
                if pi_type in types:
                    col = chunk.column(types[pi_type])
                    present = pc.and_(pc.is_valid(col), pc.not_equal(pc.utf8_length(pc.cast(col, pa.string())), 0))
                    channel = pc.if_else(pc.fill_null(present, False), label, channel)
            for tok, ch in zip(tokens.to_pylist(), channel.to_pylist()):
                if tok is not None and (tok not in best or RANK[ch] < RANK[best[tok]]):
                    best[tok] = ch
            del chunk
    table = pa.table({"subject": pa.array(sorted(best), pa.string()),
                      "channel": pa.array([best[t] for t in sorted(best)], pa.string())})
    best.clear()
    content_hash = hashing.to_hex(hashing.table_hash(table))
    object_id = f"deal/{deal.id}/{milestone_id}/notification-list"
    binding = {"kind": "notification-list", "deal": deal.id, "milestone_id": milestone_id, "rows": table.num_rows,
               "content_hash": content_hash}
    blob, info = encrypt_bytes(table_to_parquet(table).to_pybytes(), object_id=object_id, binding=binding,
                               keyring=keyring, scope=f"deal/{deal.id}")
    counts = {c: 0 for c in RANK}
    for c in table.column("channel").to_pylist():
        counts[c] += 1
    del table
    path = Path(out_dir) / "notification_list.cdy"
    atomic_write_bytes(path, blob)
    summary = {"format": "custody-deal-notification-list", "version": 1, "deal": deal.id,
               "milestone_id": milestone_id, "snapshot": snapshot, "tables": list(handover.tables),
               "tables_without_identifier": tables_without_id, "subjects": sum(counts.values()),
               "by_channel": counts, "object": {"path": path.name, "object_id": object_id, "sha256": info.sha256,
                                                "content_hash": content_hash, "key_id": info.kek_id,
                                                "scope": f"deal/{deal.id}"},
               "pseudonyms": {"method": "HMAC-SHA256-128", "deal_key": pseudo.key_id},
               "rule": "PIPL Art 22: individuals told of the recipient's name and contact"}
    data = canonical_json(summary)
    atomic_write_bytes(Path(out_dir) / "notification_list.json", data)
    texts = write_notices(Path(out_dir), deal)
    return {"path": str(Path(out_dir) / "notification_list.json"), "sha256": hashlib.sha256(data).hexdigest(),
            "counts": {"subjects": summary["subjects"], **{f"channel_{k}": v for k, v in counts.items()}},
            "notices": texts}


def write_notices(out_dir: Path, deal: Any) -> dict[str, str]:
    """The notice texts (``notice.zh-CN.md``, ``notice.en.md``); returns ``{name: sha256}``."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from custody.fsio import atomic_write_bytes

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=False,
                      keep_trailing_newline=True)
    out = {}
    for language in ("zh-CN", "en"):
        text = env.get_template(f"notice.{language}.md.j2").render(deal=deal).encode("utf-8")
        atomic_write_bytes(Path(out_dir) / f"notice.{language}.md", text, mode=0o640)
        out[f"notice.{language}"] = hashlib.sha256(text).hexdigest()
    return out
