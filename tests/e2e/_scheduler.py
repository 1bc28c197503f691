"""A real Airflow for one test: scheduler, DAG processor and API server as processes.

``AirflowServices(home, pg_server_url, dags=..., plugins=..., env=..., pools=...)`` creates a
PostgreSQL metadata database (``custody_scheduler_<pid>``), migrates it, creates the pools, and
starts the three processes with the LocalExecutor on a temporary ``AIRFLOW_HOME``, each in its
own process group with its output in ``home``. Only the DAG files named by ``dag_files`` (default
the main job's) are in its DAGs folder (the daily restore drill would otherwise start on its
own). ``run(dag_ids, timeout)`` waits for the DAGs to be parsed, triggers one run of each and
waits until every run has finished; leaving the ``with`` block stops the process groups it
started and drops the database.
Everything is bounded in time: a step that does not finish raises ``TimeoutError`` with the
tail of the processes' output.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

FINISHED = ("success", "failed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AirflowServices:
    """Scheduler, DAG processor and API server of a throw-away Airflow (see the module docstring)."""

    def __init__(self, home: Path, pg_server_url: str, *, dags: Path, plugins: Path, env: dict[str, str],
                 pools: list[str], dag_files: tuple[str, ...] = ("custody_pipeline.py",)) -> None:
        self.home = Path(home)
        self.server_url = pg_server_url
        self.db_name = f"custody_scheduler_{os.getpid()}"
        self.db_url = sa.make_url(pg_server_url).set(database=self.db_name)
        self.pools = pools
        self.procs: list[subprocess.Popen] = []
        self.port = _free_port()
        dag_folder = self.home / "dags"
        dag_folder.mkdir(parents=True, exist_ok=True)
        for name in dag_files:
            (dag_folder / name).symlink_to(Path(dags) / name)
        bin_dir = str(Path(sys.executable).parent)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CUSTODY_"))}
        self.env = {
            **base, **env,
            "PATH": bin_dir + os.pathsep + base.get("PATH", ""),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url.render_as_string(hide_password=False),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": f"custody-test-{os.getpid()}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "GX_ANALYTICS_ENABLED": "false",
        }
        self.airflow = str(Path(sys.executable).with_name("airflow"))

    # -- processes -------------------------------------------------------------------------------------
    def _admin(self, sql: str) -> None:
        engine = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def _cli(self, *args: str, timeout: float = 180) -> None:
        res = subprocess.run([self.airflow, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed: {res.stdout[-2000:]}{res.stderr[-2000:]}")

    def _start(self, name: str, *args: str) -> None:
        out = (self.home / f"{name}.out").open("wb")
        self.procs.append(subprocess.Popen([self.airflow, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True, cwd=self.home))

    def __enter__(self) -> AirflowServices:
        self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{self.db_name}"')
        try:
            self._cli("db", "migrate", timeout=300)
            pools = self.home / "pools.json"
            pools.write_text("{" + ", ".join(f'"{p}": {{"slots": 4, "description": ""}}' for p in self.pools) + "}")
            self._cli("pools", "import", str(pools))
            self._start("api-server", "api-server", "--port", str(self.port))
            self._start("scheduler", "scheduler")
            self._start("dag-processor", "dag-processor")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the group this object started, by its id
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # workers that outlived their parent
            except ProcessLookupError:
                pass
        self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    # -- runs --------------------------------------------------------------------------------------------
    def _query(self, sql: str, **params: object) -> list[tuple]:
        engine = sa.create_engine(self.db_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(sql), params)]
        finally:
            engine.dispose()

    def _wait(self, what: str, done, deadline: float) -> None:
        while not done():
            if time.monotonic() > deadline:
                tail = self.outputs()[-4000:].decode("utf-8", "replace")
                raise TimeoutError(f"{what} did not happen in time; output:\n{tail}")
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"an Airflow process exited ({proc.returncode}); output:\n"
                                       f"{self.outputs()[-4000:].decode('utf-8', 'replace')}")
            time.sleep(2)

    def run(self, dag_ids: list[str], timeout: float) -> None:
        """Trigger one run of each DAG once it is parsed; wait until every run finished."""
        deadline = time.monotonic() + timeout
        wanted = set(dag_ids)

        def parsed() -> bool:
            return wanted <= {r[0] for r in self._query("SELECT dag_id FROM serialized_dag")}

        self._wait("parsing the DAGs", parsed, deadline)
        for dag_id in dag_ids:
            self._cli("dags", "trigger", dag_id)

        def finished() -> bool:
            rows = self._query("SELECT dag_id, state FROM dag_run")
            return {d for d, s in rows if s in FINISHED} >= wanted

        self._wait("finishing the runs", finished, deadline)

    def states(self) -> dict[str, str]:
        """``{dag_id: state}`` of the runs."""
        return {d: s for d, s in self._query("SELECT dag_id, state FROM dag_run")}

    def outputs(self) -> bytes:
        """The processes' own output (stdout and stderr)."""
        return b"\n".join(p.read_bytes() for p in sorted(self.home.glob("*.out")))
