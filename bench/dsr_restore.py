"""Cost of the deletion ledger: restore time with and without it, and erasing a subject from staging.

One run on the demo CRM (``--contacts``, default 20,000, in SQLite), extracted, classified,
validated and backed up to a local store by the stage functions, in a temporary CUSTODY_HOME:

1. restore the snapshot to Parquet files with ``ledger=None`` (no ledger read at all);
2. the same with an empty ledger (the default: one catalog query);
3. the same with 1 and with ``--subjects`` (default 100) subjects in the ledger (the pre-pass
   over the tables holding identifier columns, then the filter of every chunk);
4. ``execute_deletion`` of one subject (ledger + rewriting staging).

Prints seconds per step and rows erased. Usage: ``python bench/dsr_restore.py [--contacts N] [--subjects K]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

SOURCES = """version: 1
backup: {local: true, s3_conn_id: null}
sources:
  - name: crm
    conn_id: crm
    lawful_basis: contract
    retention_class: customer_contract
    chunk_rows: 50000
    max_failing_share: 0.5
    tables:
      - {name: enterprise_customers}
      - {name: contacts}
      - {name: bank_accounts}
      - {name: contracts}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=20_000)
    ap.add_argument("--subjects", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), args.contacts, args.subjects)


def run(tmp: Path, contacts: int, subjects: int) -> None:
    import sqlalchemy as sa

    config = tmp / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    from custody.settings import DEFAULT_CONFIG_DIR

    for name in ("policy.yaml", "dsr.yaml"):
        shutil.copy(DEFAULT_CONFIG_DIR / name, config / name)
    os.environ.update(CUSTODY_HOME=str(tmp / "home"), CUSTODY_CONFIG_DIR=str(config))
    os.environ.pop("CUSTODY_KEYRING", None)
    os.environ.pop("CUSTODY_CATALOG_URL", None)
    from custody.audit.entries import Actor
    from custody.catalog import migrate
    from custody.crypto import init_keyring
    from custody.demo import generate_crm
    from custody.demo.loaders import load_tables
    from custody.dsr.execute import execute_deletion
    from custody.dsr.ledger import DeletionLedger
    from custody.dsr.requests import RequestBook
    from custody.dsr.subjects import pseudonymise
    from custody.identifiers import resident_id
    from custody.restore import restore_snapshot
    from custody.settings import Settings
    from custody.stages import Runtime, stage_backup, stage_classify_and_validate, stage_extract
    from custody.store import LocalStore

    settings = Settings.from_env()
    settings.home.mkdir(parents=True)
    migrate(settings.catalog_url)
    init_keyring(settings.keyring)
    source = sa.create_engine(f"sqlite:///{tmp / 'crm.sqlite'}")
    crm = generate_crm(contacts=contacts)
    load_tables(source, dict(crm.tables))
    rt = Runtime.from_env()
    run_key = stage_extract(rt, source, "crm", "manual__bench")["run_key"]
    stage_classify_and_validate(rt, "crm", run_key)
    snapshot = stage_backup(rt, "crm", run_key)["snapshot_key"]
    store = LocalStore(settings.backup_dir)
    rows = sum(t.extracted_rows for t in rt.manifest("crm", run_key).tables)
    print(f"snapshot: {rows} rows in 4 tables ({contacts} contacts)")

    def timed(label: str, **kw) -> None:
        out = tmp / f"out-{label.replace(' ', '_')}"
        t0 = time.perf_counter()
        res = restore_snapshot(store, snapshot, rt.keyring, out, **kw)
        dt = time.perf_counter() - t0
        erased = sum(r["erased_rows"] for r in res.values())
        print(f"restore to Parquet, {label}: {dt:.2f} s, {erased} rows erased")
        shutil.rmtree(out)

    timed("ledger=None")
    timed("empty ledger")
    ids = [r for r in crm["contacts"]["resident_id"].to_pylist() if r and resident_id.is_valid(r)]
    ledger = DeletionLedger(settings.catalog_url)
    ledger.record("dsr-bench-1", pseudonymise(rt.keyring, {"resident_id": ids[0]}).pseudonyms)
    timed("1 subject in the ledger")
    for i, rid in enumerate(ids[1:subjects]):
        ledger.record(f"dsr-bench-{i + 2}", pseudonymise(rt.keyring, {"resident_id": rid}).pseudonyms)
    timed(f"{min(subjects, len(ids))} subjects in the ledger")

    book = RequestBook(settings.catalog_url, rt.keyring)
    req = book.receive("deletion", {"resident_id": ids[-1]}, actor=Actor(kind="cli", user="clerk", host="b"))
    book.verify(req.request_id, actor=Actor(kind="cli", user="clerk", host="b"))
    book.approve(req.request_id, approver="dpo")
    t0 = time.perf_counter()
    done = execute_deletion(book, req.request_id, rt.staging)
    print(f"execute_deletion (ledger + staging rewrite): {time.perf_counter() - t0:.2f} s, "
          f"{done['rows']} staged rows erased, {done['objects']} objects rewritten")


if __name__ == "__main__":
    main()
