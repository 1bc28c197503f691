"""Restore drills: restore a random snapshot into a scratch PostgreSQL schema and prove it is whole.

A backup that has never been restored is a hope, not a control. ``run_drill`` does, on a schedule
(DAG ``custody_restore_drill``):

1. lists the snapshots in the store and verifies each document's seal;
2. finds the newest *restorable* snapshot (seal valid, every object present at its recorded size);
   its age is the recovery point (RPO, seconds);
3. picks a snapshot at random (``rng``), creates the schema ``custody_drill_<drill_id>``, restores
   every table into it (``custody.restore.restore_to_sql``), reads the rows back from the database,
   rebuilds Arrow with the manifest's schema and compares row counts and content hashes
   (``custody.hashing.table_hash``) with the manifest; it also checks that the reflected column
   types map back (``custody.sources.sqltypes.arrow_type``) to the manifest types. The time from the start
   of the restore to the end of this check is the recovery time (RTO, seconds);
4. drops the schema (always), records the result in the catalog when given an engine, and raises
   ``DrillFailed`` with the numbers when a count or hash differs, or RTO or RPO passes its limit.

Results hold ids, counts, hashes and durations, never values. GDPR Art 32(1)(c) ability to
restore and Art 32(1)(d) regularly testing the effectiveness of the measures; PIPL Art 51(3);
GB/T 22239-2019 (MLPS 2.0) data backup and recovery.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from custody import hashing
from custody.crypto.keyring import Keyring
from custody.documents import TableManifest
from custody.store.backends import ObjectStore, StoreError
from custody.store.snapshots import SnapshotError, list_snapshots, load_snapshot

log = logging.getLogger(__name__)

SCHEMA_PREFIX = "custody_drill_"


@dataclass
class DrillResult:
    """Outcome of one restore drill.

    ``tables``: ``{table: {"rows", "expected_rows", "content_hash_ok", "types_ok"}}``; ``rto_s``:
    seconds from restore start to verified read-back; ``rpo_s``: age in seconds of the newest
    restorable snapshot (None when there is none); ``problems``: human-readable reasons, each
    with numbers, empty when the drill passed.
    """

    drill_id: str
    started_at: str
    location: str
    schema: str
    rto_limit_s: float
    rpo_limit_s: float
    snapshot_id: str | None = None
    snapshot_created_at: str | None = None
    newest_snapshot_id: str | None = None
    newest_created_at: str | None = None
    snapshots_seen: int = 0
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    rto_s: float = 0.0
    rpo_s: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when nothing differed and both limits held."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (XCom, catalog)."""
        return {**asdict(self), "passed": self.passed}


class DrillFailed(Exception):
    """A restore drill failed; ``result`` holds the numbers (also in the message)."""

    def __init__(self, result: DrillResult) -> None:
        self.result = result
        rpo = "none" if result.rpo_s is None else f"{result.rpo_s:.0f} s"
        super().__init__(
            f"restore drill {result.drill_id} on {result.location} failed "
            f"(snapshot {result.snapshot_id}, RTO {result.rto_s:.1f} s / limit {result.rto_limit_s:.0f} s, "
            f"RPO {rpo} / limit {result.rpo_limit_s:.0f} s): " + "; ".join(result.problems)
        )


def _safe_error(exc: BaseException) -> str:
    """An error text without values: database errors give only their class and SQLSTATE."""
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.StatementError):
        orig = exc.orig
        return f"{type(orig).__name__} (SQLSTATE {getattr(orig, 'pgcode', None) or '?'})"
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return type(exc).__name__
    from custody.errors import is_custody_error

    # Restored rows are in hand: another library's message could quote one.
    return f"{type(exc).__name__}: {exc}" if is_custody_error(exc) else type(exc).__name__


def _restorable(store: ObjectStore, doc: dict[str, Any]) -> bool:
    """Every object of the snapshot is present at its recorded size (a HEAD per object, no download)."""
    try:
        return all(store.size(item.key) == item.bytes for item in doc.objects)
    except StoreError:
        return False


def _read_back(engine: Any, tm: TableManifest, schema: str, batch_rows: int,
               restored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a restored table back: rows, content hash and types against the manifest. When the
    deletion ledger dropped rows (``restored["erased_rows"]``), the expected rows and hash are the
    manifest's less those rows, as the restore computed them from the checked chunks."""
    import sqlalchemy as sa

    from custody.sources.sqltypes import arrow_type
    from custody.restore import manifest_schema

    arrow = manifest_schema(tm)
    table = sa.Table(tm.table, sa.MetaData(), schema=schema, autoload_with=engine)
    reflected = {c.name: str(arrow_type(c.type)) for c in table.columns}
    expected = {c.name: c.arrow_type for c in tm.columns}
    rows = 0
    digest = 0
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(
            sa.select(*[table.c[f.name] for f in arrow])
        )
        for part in result.partitions(batch_rows):
            cols = list(zip(*part))
            chunk = pa.Table.from_arrays(
                [pa.array(list(c), f.type) for c, f in zip(cols, arrow)], schema=arrow
            )
            rows += chunk.num_rows
            digest = hashing.combine(digest, hashing.table_hash(chunk))
    erased = int((restored or {}).get("erased_rows", 0))
    want_hash = restored["content_hash"] if erased else tm.content_hash
    return {
        "rows": rows,
        "expected_rows": tm.extracted_rows - erased,
        "erased_rows": erased,
        "content_hash_ok": hashing.to_hex(digest) == want_hash,
        "types_ok": reflected == expected,
    }


def run_drill(
    store: ObjectStore,
    keyring: Keyring,
    engine: Any,
    *,
    rng: random.Random,
    rto_limit_s: float,
    rpo_limit_s: float,
    source: str | None = None,
    now: datetime | None = None,
    batch_rows: int = 5000,
    catalog_engine: Any | None = None,
) -> DrillResult:
    """Restore a random snapshot of ``store`` into a scratch schema of ``engine`` and check it.

    ``engine``: SQLAlchemy engine of a PostgreSQL database where the connecting role may
    ``CREATE SCHEMA``; ``rng`` picks the snapshot and names the schema; limits in seconds;
    ``now`` (UTC) is the reference time for RPO. The schema is dropped afterwards whatever happens.
    Returns the ``DrillResult`` when it passed; raises ``DrillFailed`` (with the result) otherwise.
    With ``catalog_engine`` the result is recorded in the catalog (``restore_drill``) either way.
    """
    import sqlalchemy as sa

    from custody.restore import restore_to_sql

    now = now or datetime.now(UTC)
    drill_id = f"{now:%Y%m%d%H%M%S}_{rng.getrandbits(32):08x}"
    result = DrillResult(
        drill_id=drill_id,
        started_at=now.isoformat(timespec="seconds"),
        location=store.location,
        schema=f"{SCHEMA_PREFIX}{drill_id}",
        rto_limit_s=rto_limit_s,
        rpo_limit_s=rpo_limit_s,
    )
    try:
        docs: list[tuple[str, dict[str, Any]]] = []
        for key in list_snapshots(store, source):
            try:
                docs.append((key, load_snapshot(store, key, keyring)))
            except SnapshotError as exc:
                result.problems.append(f"snapshot document {key} cannot be trusted: {exc}")
        result.snapshots_seen = len(docs)
        docs.sort(key=lambda kd: (kd[1].created_at, kd[0]), reverse=True)
        newest = next((d for _, d in docs if _restorable(store, d)), None)
        if newest is None:
            result.problems.append(
                f"no restorable snapshot in {store.location}" + (f" for source {source}" if source else "")
            )
        else:
            result.newest_snapshot_id = newest.snapshot_id
            result.newest_created_at = newest.created_at
            created = datetime.fromisoformat(newest.created_at)
            result.rpo_s = max(
                0.0, (now - (created if created.tzinfo else created.replace(tzinfo=UTC))).total_seconds()
            )
        if docs:
            key, doc = rng.choice(docs)
            result.snapshot_id = doc.snapshot_id
            result.snapshot_created_at = doc.created_at
            _drill_one(store, keyring, engine, key, doc, result, batch_rows, restore_to_sql, sa)
    except Exception as exc:  # a drill reports every failure as a result, with no values
        result.problems.append(f"drill error: {_safe_error(exc)}")
    if result.rto_s > rto_limit_s:
        result.problems.append(f"RTO {result.rto_s:.1f} s exceeds the limit of {rto_limit_s:.0f} s")
    if result.rpo_s is not None and result.rpo_s > rpo_limit_s:
        result.problems.append(
            f"RPO {result.rpo_s:.0f} s exceeds the limit of {rpo_limit_s:.0f} s "
            f"(newest restorable snapshot {result.newest_snapshot_id} of {result.newest_created_at})"
        )
    if catalog_engine is not None:
        from custody.store.ledger import record_drill

        try:
            record_drill(catalog_engine, result.to_dict())
        except Exception as exc:
            result.problems.append(f"cannot record the drill in the catalog: {_safe_error(exc)}")
    log.info(
        "restore drill %s: snapshot %s, RTO %.1f s, RPO %s s, %s",
        drill_id,
        result.snapshot_id,
        result.rto_s,
        None if result.rpo_s is None else round(result.rpo_s),
        "passed" if result.passed else "FAILED",
    )
    if not result.passed:
        raise DrillFailed(result)
    return result


def _drill_one(store, keyring, engine, key, doc, result: DrillResult, batch_rows, restore_to_sql, sa) -> None:
    manifest = doc.manifest
    schema = result.schema
    quoted = engine.dialect.identifier_preparer.quote_schema(schema)
    t0 = time.monotonic()
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {quoted}"))
        try:
            restored = restore_to_sql(store, key, keyring, engine, schema=schema, batch_rows=batch_rows)
            for tm in manifest.tables:
                got = _read_back(engine, tm, schema, batch_rows, restored.get(tm.table))
                result.tables[tm.table] = got
                if got["rows"] != got["expected_rows"]:
                    result.problems.append(
                        f"table {tm.table}: {got['rows']} rows read back, manifest says "
                        f"{got['expected_rows']}"
                    )
                if not got["content_hash_ok"]:
                    result.problems.append(
                        f"table {tm.table}: content hash read back differs from the manifest"
                    )
                if not got["types_ok"]:
                    result.problems.append(
                        f"table {tm.table}: column types read back differ from the manifest"
                    )
        finally:
            result.rto_s = time.monotonic() - t0
    except Exception as exc:
        result.problems.append(f"restore of {doc.snapshot_id} failed: {_safe_error(exc)}")
    finally:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {quoted} CASCADE"))
        except Exception as exc:
            result.problems.append(f"scratch schema {schema} could not be dropped: {_safe_error(exc)}")
