"""A real Airflow deployment of Custody on this machine: CeleryExecutor, two workers, shared S3.

``make stack`` (or ``python scripts/stack.py``) starts, and the slow test
``tests/e2e/test_deployment.py`` drives, the same processes:

- Airflow metadata on the machine's PostgreSQL (database ``custody_stack_airflow``), Celery broker
  on the machine's Redis (its own DB number, ``--redis-db``, default 11), Celery results in the
  metadata database;
- ``airflow scheduler``, ``dag-processor``, ``api-server``, ``triggerer`` and N Celery workers
  (``airflow celery worker``), each worker with its own ``CUSTODY_HOME`` and its own name
  (``worker-<n>@<host>``: the task instances' hostname, through ``[core] hostname_callable``);
- Custody's catalog on PostgreSQL (``custody_stack_catalog``), staging and backups in an S3
  bucket of a moto server over HTTP (``CUSTODY_STAGING=s3://custody-stack/staging``); what the
  workers share is the catalog, S3 and the key-encryption key (a secret file outside every
  ``CUSTODY_HOME``, as a mounted secret would be);
- a PostgreSQL source ``custody_stack_source`` with ``--contacts`` rows (the fast generator of
  ``bench/extract.py``), extracted in key ranges of ``--split-rows``.

Every process runs in its own process group with its output in ``<root>/logs``; ``stop()`` (or
Ctrl-C for ``make stack``) ends the groups it started, by their ids, and drops the Airflow and
catalog databases (the source database is kept for the next start: generating it is the slow part).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "stack"
DAG_ID = f"custody_pipeline_{SOURCE}"
BUCKET = "custody-stack"
PG = os.environ.get("CUSTODY_STACK_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
REDIS = os.environ.get("CUSTODY_STACK_REDIS", "redis://127.0.0.1:6379")

SOURCES_YAML = """version: 1
backup: {{local: false, s3_conn_id: custody_s3}}
sources:
  - name: {source}
    description: "Deployment test source: generated CRM contacts"
    conn_id: custody_stack_src
    lawful_basis: contract
    retention_class: customer_contract
    chunk_rows: 50000
    split_rows: {split_rows}
    pool_slots: 4
    tables:
      - name: contacts
        checks:
          - {{column: contact_id, check: not_null}}
          - {{column: contact_id, check: unique}}
          - {{column: email, check: email}}
"""

HOSTNAME_MODULE = '''"""Task-instance hostname of a stack worker: its name and the host."""
import os
import socket


def hostname() -> str:
    return f"{os.environ.get('CUSTODY_STACK_WORKER', 'control')}@{socket.gethostname()}"
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(host: str, port: int) -> str | None:
    """None when ``host:port`` accepts a connection, else the reason."""
    try:
        socket.create_connection((host, port), timeout=2).close()
        return None
    except OSError as exc:
        return f"{host}:{port} not reachable ({type(exc).__name__})"


def missing_services() -> list[str]:
    """What this stack needs and does not find: PostgreSQL, Redis, the Celery provider."""
    out = [r for r in (reachable("127.0.0.1", 5432), reachable("127.0.0.1", 6379)) if r]
    if importlib.util.find_spec("airflow.providers.celery") is None:
        out.append("apache-airflow-providers-celery is not installed")
    return out


def _bench_prepare():
    spec = importlib.util.spec_from_file_location("custody_bench_extract", ROOT / "bench" / "extract.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.prepare


class Stack:
    """The processes and databases of one deployment (see the module docstring)."""

    def __init__(self, root: Path, *, workers: int = 2, contacts: int = 1_000_000, split_rows: int = 250_000,
                 redis_db: int = 11, concurrency: int = 2, tag: str = "") -> None:
        self.root = Path(root).resolve()
        self.workers = workers
        self.contacts = contacts
        self.split_rows = split_rows
        self.concurrency = concurrency
        self.redis_db = redis_db
        self.airflow_db = f"custody_stack_airflow{tag}"
        self.catalog_db = f"custody_stack_catalog{tag}"
        self.source_db = f"custody_stack_source_{contacts}"
        self.port = free_port()
        self.s3_port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.s3 = f"http://127.0.0.1:{self.s3_port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.bin = Path(sys.executable).parent
        self.env = self._env()

    # -- configuration -------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CUSTODY_", "AWS_"))}
        meta = f"{PG}/{self.airflow_db}"
        src = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres",
               "schema": self.source_db}
        s3 = {"conn_type": "aws", "login": "stack", "password": "stack-secret",
              "extra": {"endpoint_url": self.s3, "region_name": "us-east-1"}}
        return {
            **base,
            "PATH": f"{self.bin}{os.pathsep}{base.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(self.root / "pylib"), str(ROOT / "include")]),
            "AIRFLOW_HOME": str(self.root / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
            "AIRFLOW__CELERY__BROKER_URL": f"{REDIS}/{self.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{meta.replace('+psycopg2', '')}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "custody_stack_host.hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": f"custody-stack-{os.getpid()}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # A killed worker's task stops heartbeating: failed (and retried) after 60 s, not 5 min.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.root / "airflow" / "logs"),
            "AIRFLOW_CONN_CUSTODY_STACK_SRC": json.dumps(src),
            "AIRFLOW_CONN_CUSTODY_S3": json.dumps(s3),
            "AWS_ACCESS_KEY_ID": "stack",
            "AWS_SECRET_ACCESS_KEY": "stack-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "CUSTODY_HOME": str(self.root / "control"),
            "CUSTODY_CONFIG_DIR": str(self.root / "config"),
            "CUSTODY_CATALOG_URL": f"{PG}/{self.catalog_db}",
            "CUSTODY_KEYRING": f"local:{self.root / 'secrets' / 'kek.json'}",
            "CUSTODY_STAGING": f"s3://{BUCKET}/staging",
            "CUSTODY_S3_ENDPOINT_URL": self.s3,
            "CUSTODY_S3_BUCKET": BUCKET,
            "CUSTODY_S3_PREFIX": "backups",
            "GX_ANALYTICS_ENABLED": "false",
        }

    def worker_env(self, n: int) -> dict[str, str]:
        """A worker's environment: the stack's, with its own ``CUSTODY_HOME`` and name, and the Celery
        configuration that preloads Custody's task modules."""
        return {**self.env, "CUSTODY_HOME": str(self.root / f"worker-{n}"), "CUSTODY_STACK_WORKER": f"worker-{n}",
                # Custody's task modules imported once per worker, before its pool forks (custody_celery).
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "custody_celery.CELERY_CONFIG"}

    def _admin(self, *statements: str) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                for sql in statements:
                    conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def _cli(self, *args: str, timeout: float = 300) -> str:
        res = subprocess.run([str(self.bin / "airflow"), *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout, cwd=self.root)
        if res.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
        return res.stdout

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}.out").open("ab") as out:
            self.procs[name] = subprocess.Popen(args, env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True, cwd=self.root)

    # -- life cycle ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Folders, configuration, databases, the source rows, S3, the catalog and the KEK."""
        for sub in ("dags", "config", "secrets", "pylib", "control", *(f"worker-{n}" for n in
                                                                          range(1, self.workers + 1))):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        dag = self.root / "dags" / "custody_pipeline.py"
        if not dag.exists():
            dag.symlink_to(ROOT / "dags" / "custody_pipeline.py")
        (self.root / "pylib" / "custody_stack_host.py").write_text(HOSTNAME_MODULE)
        (self.root / "config" / "sources.yaml").write_text(
            SOURCES_YAML.format(source=SOURCE, split_rows=self.split_rows), encoding="utf-8")
        shutil.copy(ROOT / "include" / "config" / "policy.yaml", self.root / "config" / "policy.yaml")

        self._admin(*(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in (self.airflow_db, self.catalog_db)),
                    *(f'CREATE DATABASE "{db}"' for db in (self.airflow_db, self.catalog_db)))
        import redis

        redis.Redis.from_url(f"{REDIS}/{self.redis_db}").flushdb()  # this stack's own DB number only
        _bench_prepare()(f"{PG}/postgres", self.contacts, 200_000, name=self.source_db)

        self._start("moto", [str(self.bin / "moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)])
        self._wait("the S3 endpoint", lambda: reachable("127.0.0.1", self.s3_port) is None, 60)
        from custody.store.backends import S3Store, S3StoreOptions, make_s3_client

        options = S3StoreOptions(bucket=BUCKET, endpoint_url=self.s3, region_name="us-east-1",
                                 addressing_style="path")
        client = make_s3_client(options, aws_access_key_id="stack", aws_secret_access_key="stack-secret")
        S3Store(client, options=options).ensure_bucket()

        from custody.catalog import migrate
        from custody.crypto.open import init_keyring

        catalog = self.env["CUSTODY_CATALOG_URL"]
        migrate(catalog)
        kek = self.root / "secrets" / "kek.json"
        if kek.exists():
            kek.unlink()  # a fresh catalog: its scope keys will be wrapped by a fresh KEK
        init_keyring(self.env["CUSTODY_KEYRING"], key_store=catalog)

        self._cli("db", "migrate", timeout=600)
        pools = self.root / "pools.json"
        pools.write_text(json.dumps({f"custody_{SOURCE}": {"slots": 4, "description": "stack source ranges"}}))
        self._cli("pools", "import", str(pools))

    def start(self) -> Stack:
        """Prepare, then start the Airflow components and the workers; wait for the API and the DAG."""
        try:
            self.prepare()
            airflow = str(self.bin / "airflow")
            self._start("api-server", [airflow, "api-server", "--port", str(self.port)])
            self._start("scheduler", [airflow, "scheduler"])
            self._start("dag-processor", [airflow, "dag-processor"])
            self._start("triggerer", [airflow, "triggerer"])
            for n in range(1, self.workers + 1):
                self.start_worker(n)
            self._wait("the API server", lambda: self._get("/api/v2/monitor/health", quiet=True) is not None, 180)
            self._wait(f"parsing {DAG_ID}", lambda: self._get(f"/api/v2/dags/{DAG_ID}", quiet=True) is not None, 300)
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, n: int) -> None:
        """Start Celery worker ``n`` (its own CUSTODY_HOME, pid file and name; no log server)."""
        home = self.root / f"worker-{n}"
        home.mkdir(parents=True, exist_ok=True)
        self._start(f"worker-{n}", [str(self.bin / "airflow"), "celery", "worker", "--celery-hostname",
                                    f"worker-{n}@%h", "--concurrency", str(self.concurrency), "--pid",
                                    str(home / "celery.pid"), "--skip-serve-logs"], env=self.worker_env(n))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process group of component ``name`` (a worker: every task it runs)."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)

    def stop(self) -> None:
        """End every process group this stack started (TERM, then KILL) and drop its databases."""
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent
            except ProcessLookupError:
                pass
        self.procs.clear()
        try:
            self._admin(*(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in (self.airflow_db, self.catalog_db)))
        except Exception as exc:  # the server went away: nothing left to drop
            print(f"stack: could not drop the databases ({type(exc).__name__})", file=sys.stderr)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- REST API ------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None, quiet: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if quiet:
                return None
            raise

    def _get(self, path: str, quiet: bool = False) -> Any:
        return self._request("GET", path, quiet=quiet)

    def trigger(self, run_id: str) -> str:
        """Trigger ``custody_pipeline_stack`` through the REST API; returns the run id."""
        from datetime import UTC, datetime

        body = {"dag_run_id": run_id, "logical_date": None, "run_after": datetime.now(UTC).isoformat()}
        return self._request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", body)["dag_run_id"]

    def run_state(self, run_id: str) -> str:
        return self._get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances (task_id, map_index, state, hostname, pid, try_number)."""
        return self._get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]

    def tries(self, run_id: str, task_id: str, map_index: int) -> list[dict[str, Any]]:
        """Every try of one task instance (hostname, pid, state), the current one included."""
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries"
        return self._get(path)["task_instances"]

    def timings(self, run_id: str) -> dict[str, Any]:
        """Seconds per task (mapped ones as ``task[i]``), the span of each task (first start to last
        end) and the run's, with the worker each task instance ran on."""
        from datetime import datetime

        def ts(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

        tasks, spans = {}, {}
        for ti in self.task_instances(run_id):
            start, end = ts(ti.get("start_date")), ts(ti.get("end_date"))
            if not (start and end):
                continue
            name = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            tasks[name] = {"s": round((end - start).total_seconds(), 1), "try": ti.get("try_number"),
                           "worker": (ti.get("hostname") or "").split("@")[0]}
            lo, hi = spans.get(ti["task_id"], (start, end))
            spans[ti["task_id"]] = (min(lo, start), max(hi, end))
        run = self._get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        total = (ts(run["end_date"]) - ts(run["start_date"])).total_seconds() if run.get("end_date") else None
        return {"run_s": total, "tasks": tasks,
                "spans_s": {k: round((hi - lo).total_seconds(), 1) for k, (lo, hi) in spans.items()}}

    def wait_run(self, run_id: str, timeout: float) -> str:
        """Wait until the run finished; returns its state (``success`` or ``failed``)."""
        box: dict[str, str] = {}

        def done() -> bool:
            box["state"] = self.run_state(run_id)
            return box["state"] in ("success", "failed")

        self._wait(f"run {run_id}", done, timeout)
        return box["state"]

    def _wait(self, what: str, done, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not happen within {timeout:.0f} s; output:\n{self.tail()}")
            for name, proc in self.procs.items():
                if proc.poll() is not None and not name.startswith("worker-"):
                    raise RuntimeError(f"{name} exited ({proc.returncode}); output:\n{self.tail()}")
            time.sleep(2)

    def tail(self, n: int = 3000) -> str:
        """The last ``n`` characters of every component's output."""
        out = []
        for path in sorted((self.root / "logs").glob("*.out")):
            out.append(f"--- {path.name}\n{path.read_bytes()[-n:].decode('utf-8', 'replace')}")
        return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT / "var" / "stack")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--split-rows", type=int, default=250_000)
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--run", action="store_true", help="trigger one run, print its time and stop")
    args = parser.parse_args(argv)
    missing = missing_services()
    if missing:
        print("stack: cannot start: " + "; ".join(missing), file=sys.stderr)
        return 2
    stack = Stack(args.root, workers=args.workers, contacts=args.contacts, split_rows=args.split_rows,
                  redis_db=args.redis_db)
    with stack:
        print(f"stack: API {stack.api} (all users admin), S3 {stack.s3}, logs in {stack.root / 'logs'}", flush=True)
        if args.run:
            t0 = time.monotonic()
            run_id = stack.trigger(f"stack__{int(time.time())}")
            state = stack.wait_run(run_id, 3600)
            print(f"stack: run {run_id} {state} in {time.monotonic() - t0:.0f} s with {args.workers} worker(s)")
            print(json.dumps(stack.timings(run_id), indent=1), flush=True)
            return 0 if state == "success" else 1
        print("stack: running; Ctrl-C stops it", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
