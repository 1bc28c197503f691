"""Extraction benchmark: the Chinese CRM ``contacts`` table at 1M and 10M rows in PostgreSQL.

Not a test: a script that prints figures. ``make bench-extract`` or::

    .venv/bin/python bench/extract.py [--sizes 1000000 10000000] [--server URL] [--keep]

For each size it (1) builds a scratch database ``custody_bench_<size>`` with the four CRM tables:
``generate_crm`` makes one block of realistic rows (``--block`` contacts), loaded with COPY, and
``contacts`` is then replicated with shifted keys by ``INSERT ... SELECT ... generate_series``
until it holds ``size`` rows (reused on later runs when the row count already matches);
(2) times PostgreSQL's own ``COPY contacts TO STDOUT`` into a null sink (psycopg2
``copy_expert``), the ceiling for any client; (3) runs ``custody.extract`` on ``contacts`` in a
fresh subprocess (full snapshot, one key range, encrypted staging in a temporary folder) through
the engine the DAG gets (the Airflow connection's hook: ``postgresql+psycopg``), sampling the
subprocess's RSS every 50 ms with psutil. ``bench/pipeline.py`` runs the whole main job the same
way and shares ``prepare``.

Printed per size: rows, seconds, rows/s, peak RSS (MiB), COPY rows/s and the ratio
ours / COPY. Goals: peak RSS at 10M <= 1.2 x at 1M and <= 1 GiB; throughput >= 0.5 x COPY.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = os.environ.get("CUSTODY_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
CONTACT_COLUMNS = ("customer_id, name, mobile, resident_id, email, address, birth_date, gender, notes, "
                   "created_at, updated_at")


def prepare(server: str, size: int, block: int, prefix: str = "custody_bench", name: str | None = None) -> str:
    """Create (or reuse) database ``name`` (default ``<prefix>_<size>``) with ``contacts`` at ``size``
    rows; return its URL."""
    import sqlalchemy as sa

    from custody.demo import generate_crm
    from custody.demo.loaders import ensure_database, load_tables

    name = name or f"{prefix}_{size}"
    url = ensure_database(server, name)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            have = conn.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'contacts'").scalar()
            if have and conn.exec_driver_sql("SELECT count(*) FROM contacts").scalar() == size:
                print(f"[{size:,}] reusing {name}", flush=True)
                clustered = conn.exec_driver_sql(
                    "SELECT indisclustered FROM pg_index WHERE indexrelid = 'contacts_pkey'::regclass").scalar()
                if not clustered:
                    conn.exec_driver_sql("CLUSTER contacts USING contacts_pkey")
                    conn.exec_driver_sql("ANALYZE contacts")
                    conn.commit()
                return url
        t0 = time.perf_counter()
        block = min(block, size)
        load_tables(engine, generate_crm(contacts=block).tables)
        copies = -(-size // block) - 1
        with engine.begin() as conn:
            # Indexes and foreign keys are checked row by row on INSERT: drop them for the copy,
            # then rebuild the primary key (the extractor orders and splits by it).
            conn.exec_driver_sql("ALTER TABLE bank_accounts DROP CONSTRAINT IF EXISTS bank_accounts_contact_id_fkey")
            conn.exec_driver_sql("ALTER TABLE contacts DROP CONSTRAINT IF EXISTS contacts_customer_id_fkey")
            conn.exec_driver_sql("ALTER TABLE contacts DROP CONSTRAINT contacts_pkey")
            conn.exec_driver_sql("DROP INDEX IF EXISTS ix_contacts_customer_id")
            if copies > 0:
                conn.exec_driver_sql(
                    f"INSERT INTO contacts (contact_id, {CONTACT_COLUMNS}) "
                    f"SELECT c.contact_id + k * {block}, "
                    f"{', '.join('c.' + n.strip() for n in CONTACT_COLUMNS.split(','))} "
                    f"FROM contacts c CROSS JOIN generate_series(1, {copies}) AS k "
                    f"WHERE c.contact_id + k * {block} <= {size}"
                )
            conn.exec_driver_sql("ALTER TABLE contacts ADD PRIMARY KEY (contact_id)")
            # The replication above writes rows key-interleaved; a table loaded over time sits
            # roughly in key order, which is what the extractor's ORDER BY key expects.
            conn.exec_driver_sql("CLUSTER contacts USING contacts_pkey")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE contacts")
        print(f"[{size:,}] generated in {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        engine.dispose()
    return url


def copy_baseline(url: str) -> tuple[int, float]:
    """Seconds for ``COPY contacts TO STDOUT`` (text format) into a sink that drops the bytes."""
    import sqlalchemy as sa

    class Null:
        n = 0

        def write(self, data):  # noqa: D401 - file protocol
            self.n += len(data)
            return len(data)

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            rows = None
            cur.execute("SELECT count(*) FROM contacts")
            rows = cur.fetchone()[0]
            sink = Null()
            t0 = time.perf_counter()
            cur.copy_expert("COPY contacts TO STDOUT", sink)
            return rows, time.perf_counter() - t0
        finally:
            raw.close()
    finally:
        engine.dispose()


CHILD = r"""
import json, os, sys, time
from custody.config import SourceConfig, TableConfig
from custody.crypto.open import init_keyring
from custody.staging import StagingStore
from airflow.sdk import BaseHook
from custody.extract import extract_table
url, home = sys.argv[1], sys.argv[2]
source = SourceConfig(name="bench", conn_id="bench", lawful_basis="contract", retention_class="bench",
                      tables=[TableConfig(name="contacts")])
staging = StagingStore(os.path.join(home, "staging"), init_keyring(f"local:{home}/keys/kek.json"))
# The engine the DAG gets: the Airflow connection's hook (PostgresHook: postgresql+psycopg).
engine = BaseHook.get_connection("bench_pg").get_hook().get_sqlalchemy_engine()
t0 = time.perf_counter()
tm = extract_table(engine, source=source, table_cfg=source.tables[0], run_key="bench", staging=staging)
dt = time.perf_counter() - t0
print(json.dumps({"rows": tm.extracted_rows, "seconds": dt, "chunks": len(tm.chunks),
                  "path": tm.extraction.path}))
"""


def run_extract(url: str) -> dict:
    """Run the extractor in a subprocess; return its figures plus the peak RSS sampled every 50 ms."""
    import psutil

    import sqlalchemy as sa

    u = sa.make_url(url)
    env = {**os.environ, "AIRFLOW_CONN_BENCH_PG": json.dumps(
        {"conn_type": "postgres", "host": u.host, "port": u.port or 5432, "login": u.username,
         "password": u.password, "schema": u.database})}
    with tempfile.TemporaryDirectory(prefix="custody-bench-") as home:
        env.setdefault("AIRFLOW_HOME", os.path.join(home, "airflow"))
        proc = subprocess.Popen([sys.executable, "-c", CHILD, url, home], stdout=subprocess.PIPE, text=True, env=env)
        ps = psutil.Process(proc.pid)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, ps.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        done.set()
        sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"extraction subprocess failed with exit code {proc.returncode}")
        result = json.loads(out.strip().splitlines()[-1])
        result["peak_rss"] = peak
        staged = sum(p.stat().st_size for p in Path(home).rglob("*.cdy"))
        result["staged_bytes"] = staged
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--block", type=int, default=200_000, help="contacts generated per block")
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--prefix", default="custody_bench", help="scratch databases are <prefix>_<size>")
    args = parser.parse_args(argv)
    results = []
    for size in args.sizes:
        url = prepare(args.server, size, args.block, prefix=args.prefix)
        if args.prepare_only:
            continue
        copy_rows, copy_s = copy_baseline(url)
        ours = run_extract(url)
        row = {"size": size, "rows": ours["rows"], "seconds": ours["seconds"],
               "rows_per_s": ours["rows"] / ours["seconds"], "peak_rss_mib": ours["peak_rss"] / 2**20,
               "copy_rows_per_s": copy_rows / copy_s, "copy_seconds": copy_s, "path": ours.get("path"),
               "staged_mib": ours["staged_bytes"] / 2**20}
        row["ratio_to_copy"] = row["rows_per_s"] / row["copy_rows_per_s"]
        results.append(row)
        print(f"[{size:,}] extract: {row['rows']:,} rows in {row['seconds']:.1f} s = {row['rows_per_s']:,.0f} rows/s "
              f"({row['path']}), peak RSS {row['peak_rss_mib']:.0f} MiB, staged {row['staged_mib']:.0f} MiB; "
              f"COPY: {row['copy_rows_per_s']:,.0f} rows/s ({copy_s:.1f} s); ratio {row['ratio_to_copy']:.2f}",
              flush=True)
        if not args.keep:
            from custody.demo.loaders import drop_database

            drop_database(args.server, f"{args.prefix}_{size}")
    if len(results) >= 2:
        small, big = results[0], results[-1]
        growth = big["peak_rss_mib"] / small["peak_rss_mib"]
        print(f"peak RSS {big['size']:,} / {small['size']:,} = {growth:.2f} (goal <= 1.2); "
              f"largest {big['peak_rss_mib']:.0f} MiB (goal <= 1024); "
              f"min ratio to COPY {min(r['ratio_to_copy'] for r in results):.2f} (goal >= 0.5)")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
