"""Run the main job end to end on embedded defaults: ``make demo``.

0. Migrates Custody's catalog (``custody.catalog.migrate``, what ``custody catalog migrate``
   does): pipeline tasks never migrate it and refuse a catalog that is not at head. On the first
   run (no key file, an empty key store, no backups) it creates the key-encryption key, what
   ``custody keys init`` does; later runs never do, so a lost key file stops the demo with the
   error that names where it was expected.
1. Generates the Chinese CRM (Faker zh_CN, fixed seed) into a SQLite source under
   ``$CUSTODY_HOME/sources``; uses the Chinook SQLite file too when it is available
   (``CUSTODY_CHINOOK_DIR`` or ``../shared/data/chinook``).
2. Starts a local S3 endpoint (moto server on 127.0.0.1) for the backups.
3. Prepares Airflow on a SQLite metadata database in ``$AIRFLOW_HOME`` and runs the
   ``custody_pipeline_<source>`` DAG of each source with ``dag.test()``.
4. Runs the ``custody_compliance_report`` DAG for the current month: the periodic compliance
   report (JSON, HTML with charts, PDF with an embedded Chinese font; zh-CN and en).
5. Signs a final checkpoint of the audit log (every stage and task of every run is in it) into
   the catalog, the local store and S3, and verifies the log against them.
6. Prints where the reports and backups are.

``--prepare-only`` stops after steps 1 and 3's database set-up (used by ``make up``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env_defaults() -> None:
    home = Path(os.environ.setdefault("CUSTODY_HOME", str(ROOT / "var"))).resolve()
    airflow_home = Path(os.environ.setdefault("AIRFLOW_HOME", str(home / "airflow")))
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{airflow_home / 'airflow.db'}")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_run_key(settings) -> None:
    """Create the KEK on the demo's first run only (no key file, no key-store entry, no backup)."""
    from custody.crypto.keyring import KeyringError
    from custody.crypto.open import init_keyring

    scheme, _, path = settings.keyring.partition(":")
    if scheme != "local" or Path(path).exists():
        return
    problem = None
    if any(settings.backup_dir.glob("snapshots/*/*.json")):
        problem = "this home holds snapshots wrapped by it"
    else:
        try:  # refused when the key store holds keys: data wrapped by the lost key exists
            made = init_keyring(settings.keyring, key_store=settings.catalog_url)
        except KeyringError as exc:
            problem = str(exc)
        else:
            print(f"first run: created key-encryption key {made.active_kek_id()} in {path} (keep an offline copy)")
            return
    print(f"the key-encryption key {path} is missing ({problem}): restore it from its offline copy; "
          "the pipeline refuses to run without it", file=sys.stderr)


def prepare_sources(contacts: int) -> dict[str, str]:
    """Create the demo sources; return ``{source name: SQLAlchemy URL}``."""
    import sqlalchemy as sa

    from custody.demo import generate_crm
    from custody.demo.loaders import chinook_dir, load_tables
    from custody.settings import Settings

    settings = Settings.from_env()
    src_dir = settings.home / "sources"
    # The generated source holds (fake) PI in clear, like a real source system: owner-only.
    src_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    crm = src_dir / f"crm-{contacts}.sqlite"
    if not crm.exists():
        t0 = time.perf_counter()
        tmp = crm.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.touch(mode=0o600)
        engine = sa.create_engine(f"sqlite:///{tmp}")
        counts = load_tables(engine, generate_crm(contacts=contacts).tables)
        engine.dispose()
        tmp.rename(crm)
        print(f"generated CRM source: {counts} in {time.perf_counter() - t0:.1f} s")
    urls = {"crm": f"sqlite:///{crm}"}
    found = chinook_dir()
    if found and (found / "Chinook_Sqlite.sqlite").exists():
        urls["chinook"] = f"sqlite:///{found / 'Chinook_Sqlite.sqlite'}"
    else:
        print("Chinook not found (set CUSTODY_CHINOOK_DIR): running on the generated CRM alone")
    return urls


def _drill_connection() -> str | None:
    """The restore drill's scratch PostgreSQL (``custody_drill`` connection): ``CUSTODY_DRILL_URL``,
    else database ``custody_drill`` on a PostgreSQL at 127.0.0.1:5432 when one answers; None (with
    a message) when there is none: the drill DAG then fails until the connection is set."""
    import socket

    import sqlalchemy as sa

    url = os.environ.get("CUSTODY_DRILL_URL")
    if not url:
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
        except OSError:
            print("restore drill: no PostgreSQL at 127.0.0.1:5432; set CUSTODY_DRILL_URL to a scratch "
                  "PostgreSQL database for custody_restore_drill", flush=True)
            return None
        from custody.demo.loaders import ensure_database

        try:
            url = ensure_database("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", "custody_drill")
        except Exception as exc:  # a server that refuses us: say so, keep going
            print(f"restore drill: cannot create database custody_drill ({type(exc).__name__}); "
                  "set CUSTODY_DRILL_URL", flush=True)
            return None
    u = sa.make_url(url)
    print(f"restore drill: scratch database {u.render_as_string(hide_password=True)}", flush=True)
    return json.dumps({"conn_type": "postgres", "host": u.host, "port": u.port or 5432, "login": u.username,
                       "password": u.password, "schema": u.database})


def _conn_json(url: str) -> str:
    path = url.removeprefix("sqlite:///")
    return json.dumps({"conn_type": "sqlite", "host": path})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=int(os.environ.get("CUSTODY_DEMO_CONTACTS", 10_000)))
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--s3-port", type=int, default=0, help="port of the local S3 endpoint (0: any free port)")
    args = parser.parse_args(argv)
    _env_defaults()
    from custody.catalog import migrate
    from custody.settings import Settings

    print("[1/4] catalog: migrating to head", flush=True)
    migrate(Settings.from_env().catalog_url)
    _first_run_key(Settings.from_env())

    print(f"[2/4] sources: preparing the generated CRM ({args.contacts:,} contacts) and Chinook if present", flush=True)
    urls = prepare_sources(args.contacts)
    for name, url in urls.items():
        os.environ[f"AIRFLOW_CONN_CUSTODY_{name.upper()}"] = _conn_json(url)

    port = args.s3_port or _free_port()
    os.environ["AIRFLOW_CONN_CUSTODY_S3"] = json.dumps(
        {"conn_type": "aws", "login": "demo", "password": "demo-secret",
         "extra": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}}
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    print("[3/4] Airflow: migrating its metadata database (about a minute the first time)", flush=True)
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    # One pool per source bounds its parallel extraction (the scheduler needs them; dag.test ignores them).
    from custody.config import load_sources

    for pool, slots in load_sources().pools().items():
        subprocess.run([airflow, "pools", "set", pool, str(slots), f"Custody extraction ({pool})"],
                       check=True, stdout=subprocess.DEVNULL)
    if args.prepare_only:
        env_file = Path(os.environ["AIRFLOW_HOME"]) / "connections.env"
        names = [f"AIRFLOW_CONN_CUSTODY_{n.upper()}" for n in [*urls, "s3"]]
        # Only the sources prepared here get a DAG (Chinook only when its file was found).
        os.environ["CUSTODY_SOURCES"] = ",".join(urls)
        # Under the scheduler a run unfinished after 6 hours raises a deadline alert.
        os.environ.setdefault("CUSTODY_RUN_DEADLINE_MINUTES", "360")
        names += ["CUSTODY_SOURCES", "CUSTODY_RUN_DEADLINE_MINUTES"]
        drill = _drill_connection()
        if drill:
            os.environ["AIRFLOW_CONN_CUSTODY_DRILL"] = drill
            names.append("AIRFLOW_CONN_CUSTODY_DRILL")
        env_file.write_text("".join(f"{n}='{os.environ[n]}'\n" for n in names))
        print(f"sources offered in the UI: {', '.join(urls)}", flush=True)
        print(f"sources and Airflow database ready; connections in {env_file}", flush=True)
        return 0

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    print(f"[4/4] running the pipeline of each source: {', '.join(urls)}", flush=True)
    try:
        return _run_dag(urls)
    finally:
        server.stop()


@contextlib.contextmanager
def _stdout_to(path: Path):
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path`` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _run_dag(urls: dict[str, str]) -> int:
    from airflow.dag_processing.dagbag import DagBag

    from custody.settings import Settings

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        print("DAG import errors:", bag.import_errors, file=sys.stderr)
        return 1
    settings = Settings.from_env()
    results = []
    log_dir = Path(os.environ["AIRFLOW_HOME"]) / "logs" / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    for source in urls:
        t0 = time.perf_counter()
        log_path = log_dir / f"{source}.log"
        dag = bag.get_dag(f"custody_pipeline_{source}")
        print(f"running custody_pipeline_{source} (Airflow log: {log_path}) ...", flush=True)
        with _stdout_to(log_path):
            run = dag.test()
        state = str(getattr(run, "state", "unknown"))
        results.append((source, state, time.perf_counter() - t0))
    print("\n=== Custody demo summary ===")
    ok = True
    for source, state, secs in results:
        ok &= state.endswith("success")
        print(f"{source}: run {state} in {secs:.1f} s")
        for report in sorted((settings.report_dir / source).glob("*/report.en.html"), key=os.path.getmtime)[-1:]:
            print(f"  report: {report}")
            print(f"          {report.with_name('report.zh-CN.html')}")
            print(f"          {report.with_name('report.json')}")
    ok &= _compliance(bag, settings, log_dir)
    # dag.test() leaves Airflow's logging set up: keep the local S3 endpoint's request lines quiet.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    ok &= _audit(settings)
    print(f"local backups: {settings.backup_dir}")
    print(f"S3 backups:    s3://{settings.s3_bucket}/{settings.s3_prefix} (moto server, stopped at exit)")
    print("restore:       .venv/bin/custody restore --source crm --out var/restored")
    return 0 if ok else 1


def _compliance(bag, settings, log_dir: Path) -> bool:
    """Run the compliance-report DAG for this month and print its files; a PDF that cannot be
    written is named with the reason (the JSON and HTML are still there). True when it succeeded."""
    from datetime import UTC, datetime

    from custody.reports.compliance_output import FILES, compliance_dir

    period = datetime.now(UTC).strftime("%Y-%m")
    log_path = log_dir / "compliance.log"
    print(f"running custody_compliance_report for {period} (Airflow log: {log_path}) ...", flush=True)
    with _stdout_to(log_path):
        run = bag.get_dag("custody_compliance_report").test(run_conf={"period": period})
    state = str(getattr(run, "state", "unknown"))
    folder = compliance_dir(settings.report_dir, period)
    print(f"compliance report {period}: run {state}")
    for name in FILES:
        if (folder / name).exists():
            print(f"  {folder / name}")
    if not (folder / "compliance.zh-CN.pdf").exists():
        from custody.reports.compliance_pdf import PdfUnavailable, cjk_font

        try:
            cjk_font()
            reason = f"see {log_path}"
        except PdfUnavailable as exc:
            reason = str(exc)
        print(f"  PDF not written: {reason}")
    return state.endswith("success")


def _audit(settings) -> bool:
    """Checkpoint the audit log into the local store and S3 (the listener's last entries follow the
    report's checkpoint), verify it against both, and print the result. Returns True when it verifies."""
    import boto3

    from custody.audit.checkpoints import write_checkpoint
    from custody.audit.log import AuditLog
    from custody.audit.signing import open_signer
    from custody.audit.verify import verify_log
    from custody.crypto.open import open_keyring
    from custody.store import LocalStore, S3Store

    conn = json.loads(os.environ["AIRFLOW_CONN_CUSTODY_S3"])
    client = boto3.client("s3", endpoint_url=conn["extra"]["endpoint_url"], region_name="us-east-1",
                          aws_access_key_id=conn["login"], aws_secret_access_key=conn["password"])
    stores = [LocalStore(settings.backup_dir), S3Store(client, settings.s3_bucket, settings.s3_prefix)]
    keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
    signer = open_signer(settings.audit_signer, name=settings.audit_origin, keyring=keyring)
    with AuditLog(settings.catalog_url) as log:
        cp = write_checkpoint(log, signer, stores, origin=settings.audit_origin, reason="demo")
        report = verify_log(log, [signer.verifier()], stores, origin=settings.audit_origin)
    state = "verified" if report.ok else f"FAILED: {report.first().message}"
    print(f"audit log:     {report.size} entries, checkpoint of {cp.size} signed by {signer.verifier().vkey()}; "
          f"{report.checkpoints} checkpoints {state} (custody audit show / verify)")
    return report.ok


if __name__ == "__main__":
    sys.exit(main())
