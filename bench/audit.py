"""Audit log throughput: appends per second on PostgreSQL, and the cost of verifying 100k entries.

One run, on a scratch database of the PostgreSQL server at ``--pg`` (default 127.0.0.1:5432):

1. **one writer**: ``AuditLog.append`` in a loop (each append its own transaction: head row
   update, entry insert, commit).
2. **eight writers**: eight processes (as Celery workers would be) appending at once; the head
   row serialises them. The log is then checked: no gap, no duplicate.
3. **verify**: ``--entries`` entries (default 100,000) are loaded in bulk (the same rows the
   append function writes), checkpointed into a local store, and ``verify_log`` (what
   ``custody audit verify`` runs: every leaf recomputed, every entry decoded and checked, the
   tree, the checkpoint's signature and the stored leaves) is timed, then the run report's lighter
   check (entries not decoded), and the checkpoint writer. Figures are per 100k entries.

Usage: ``python bench/audit.py [--pg URL] [--appends 2000] [--per-writer 1000] [--entries 100000]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/audit.py`, this folder comes first on sys.path, where bench/inspect.py would
# shadow the standard library's inspect module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import sqlalchemy as sa  # noqa: E402


def _writer(url: str, n: int, who: int) -> None:
    from custody.audit.log import AuditLog

    with AuditLog(url) as log:
        for i in range(n):
            log.append("task.success", subject={"dag_id": f"worker{who}", "task_id": f"t{i}"}, counts={"i": i})


def _bulk(url: str, n: int) -> None:
    """Load ``n`` valid entries with executemany, as the append function would have written them."""
    from custody.audit.entries import Actor, AuditEntry
    from custody.catalog.schema import audit_entry, audit_head

    actor = Actor(kind="airflow", dag_id="custody_pipeline_crm", run_id="scheduled__2026", task_id="extract_part",
                  try_number=1, host="worker-1")
    engine = sa.create_engine(url)
    batch = []
    with engine.begin() as conn:
        for seq in range(n):
            at = datetime.now(UTC)
            e = AuditEntry(seq=seq, at=at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), actor=actor, action="extract.part",
                           subject={"source": "crm", "run_key": f"r{seq // 1000}", "table": "contacts",
                                    "part": str(seq % 1000)},
                           counts={"source_rows": 50_000, "extracted_rows": 49_990, "quarantined_rows": 10},
                           hashes={"content_hash": f"{seq:064x}"}, key_ids=["sk-20261201-3f2a9b7c1d0e"])
            batch.append({"seq": seq, "recorded_at": datetime.strptime(e.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=UTC), "action": e.action, "outcome": e.outcome, "actor": e.actor.label(), "source": "crm",
                "run_key": e.run_key, "entry": e.encode().decode(), "leaf_hash": e.leaf_hash().hex()})
            if len(batch) == 5000:
                conn.execute(sa.insert(audit_entry), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(audit_entry), batch)
        conn.execute(sa.update(audit_head).values(size=n))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--per-writer", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()

    from custody.audit.checkpoints import write_checkpoint
    from custody.audit.log import AuditLog
    from custody.audit.signing import Ed25519Signer
    from custody.audit.verify import verify_log
    from custody.catalog import migrate
    from custody.store import LocalStore

    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    names = []

    def scratch() -> str:
        name = f"custody_bench_audit_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        names.append(name)
        url = sa.make_url(args.pg).set(database=name).render_as_string(hide_password=False)
        migrate(url)
        return url

    try:
        url = scratch()
        with AuditLog(url) as log:
            t0 = time.perf_counter()
            _writer(url, args.appends, 0)
            one = args.appends / (time.perf_counter() - t0)

        url = scratch()
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_writer, args=(url, args.per_writer, w)) for w in range(8)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        eight = 8 * args.per_writer / (time.perf_counter() - t0)  # includes the 8 interpreters' start-up
        with AuditLog(url) as log:
            seqs = [r.seq for r in log.rows()]
            assert seqs == list(range(8 * args.per_writer)), "gap or duplicate"

        url = scratch()
        t0 = time.perf_counter()
        _bulk(url, args.entries)
        load = time.perf_counter() - t0
        signer = Ed25519Signer("custody.bench/audit", bytes(32))
        with tempfile.TemporaryDirectory() as tmp, AuditLog(url) as log:
            store = LocalStore(Path(tmp))
            t0 = time.perf_counter()
            write_checkpoint(log, signer, [store], origin="custody.bench/audit")
            checkpoint = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = verify_log(log, [signer.verifier()], [store], origin="custody.bench/audit")
            verify = time.perf_counter() - t0
            assert report.ok and report.size == args.entries, report.findings[:3]
            t0 = time.perf_counter()
            light = verify_log(log, [signer.verifier()], [store], origin="custody.bench/audit", decode_entries=False)
            quick = time.perf_counter() - t0
            assert light.ok
        per = 100_000 / args.entries
        print(f"PostgreSQL appends, 1 writer:          {one:8.0f} entries/s ({args.appends} appends)")
        print(f"PostgreSQL appends, 8 writers:         {eight:8.0f} entries/s in total "
              f"({8 * args.per_writer} appends, no gap, no duplicate)")
        print(f"bulk load of {args.entries} entries:          {load:8.1f} s (setup, not a figure of Custody)")
        print(f"checkpoint (read leaves, sign, store): {checkpoint * per:8.2f} s per 100k entries")
        print(f"custody audit verify:                  {verify * per:8.2f} s per 100k entries "
              f"({args.entries} entries, 1 checkpoint, local store)")
        print(f"  without decoding entries (report):   {quick * per:8.2f} s per 100k entries")
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
