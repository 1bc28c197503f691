"""The canary world: sources whose every failure path carries one seeded, resident-ID-shaped value.

``CanaryWorld(tmp)`` writes a configuration folder (``sources.yaml``, ``policy.yaml``), the file
landings and a SQLite source, and says what each path must end in:

- ``canary_sql`` (SQLite): the canary in a TIME, BOOLEAN, INTEGER, DATE and NUMERIC cell and in
  text with a NUL byte (all quarantined at extraction), in an e-mail column (quarantined by
  validation) and in a resident-ID column (classified, backed up): the run succeeds;
- ``canary_drop`` (file drop): a second file without its header row, a line in another encoding,
  an unterminated quote, a header of two canaries, a workbook sheet whose first row is data (the
  parts fail), a bad JSON line and a JSON key, a NUL byte (quarantined): the run fails;
- ``canary_plan`` (file drop): the only file has no header row: planning fails;
- ``canary_pg`` (PostgreSQL, optional): a SQL_ASCII database holding the canary beside a byte
  that has no UTF-8 form: the driver refuses the read.

``find(blob)`` names the forms of the canary found in bytes: the value, its middle twelve digits
(a message that cut it), its UTF-16 form. No real personal information: the canary has a valid
check digit and is used nowhere else.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import sqlalchemy as sa

from custody.settings import DEFAULT_CONFIG_DIR

CANARY = "350725198706138266"
NEEDLES = [CANARY.encode(), CANARY[3:15].encode(), CANARY.encode("utf-16-le")]

# table -> (exception class name, fragment of its message) of the parts that must fail
DROP_FAILURES = {
    "headerless": ("SchemaError", "headerless-b.csv: the first row looks like data"),
    "mixed": ("ExtractError", "mixed encodings: line 6001 is gb18030"),
    "quoting": ("ExtractError", "malformed quoting in the record starting at line 2"),
    "twins": ("SchemaError", "duplicate column names: positions 1 / 2"),
    "sheets": ("SchemaError", "sheet 's2': the first row looks like data"),
}
# table -> quarantine labels of the parts that must succeed
DROP_QUARANTINE = {"records": {"invalid_json": 1, "unexpected_field": 1}, "nul": {"nul_character:name": 1}}
# (SQLite stores the canary as an integer where the column's affinity is INTEGER or NUMERIC)
SQL_QUARANTINE = {"invalid_time:tm": 1, "invalid_boolean:flag": 1, "type_mismatch:n": 1, "invalid_date:born": 1,
                  "out_of_range:amount": 1, "nul_character:note": 1}


def find(blob: bytes) -> list[str]:
    """The forms of the canary present in ``blob`` (empty when none)."""
    return [repr(n[:6]) + "…" for n in NEEDLES if n in blob]


def files_bytes(*roots: Path, skip: tuple[Path, ...] = ()) -> bytes:
    """Every file under ``roots`` (except under ``skip``), concatenated."""
    out = []
    for root in roots:
        for p in Path(root).rglob("*"):
            if p.is_file() and not any(s in p.parents for s in skip):
                out.append(p.read_bytes())
    return b"\n".join(out)


def database_dump(url: str | sa.URL) -> bytes:
    """Every row of every table of a database (the Airflow metadata database), as bytes."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    out = []
    try:
        with engine.connect() as conn:
            for name in sa.inspect(conn).get_table_names():
                quoted = conn.dialect.identifier_preparer.quote(name)
                for row in conn.execute(sa.text(f"SELECT * FROM {quoted}")):
                    out.append(repr(tuple(row)).encode("utf-8", "replace"))
    finally:
        engine.dispose()
    return b"\n".join(out)


def _xlsx(sheets: dict[str, list[list]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _resident_id(seq: int) -> str:
    body = f"11010519800101{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


class CanaryWorld:
    """Configuration, landings and sources of the canary runs under ``root`` (see the module)."""

    def __init__(self, root: Path, pg_url: sa.URL | None = None) -> None:
        self.root = Path(root)
        self.config = self.root / "config"
        self.home = self.root / "custody"
        self.drop = self.root / "landing-drop"
        self.plan_drop = self.root / "landing-plan"
        self.sqlite = self.root / "canary.sqlite"
        self.pg_url = pg_url
        for d in (self.config, self.home, self.drop, self.plan_drop):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", self.config / "policy.yaml")
        self._sqlite()
        self._files()
        self._config()

    @property
    def sources(self) -> list[str]:
        return ["canary_sql", "canary_drop", "canary_plan"] + (["canary_pg"] if self.pg_url else [])

    def env(self) -> dict[str, str]:
        """Environment of a process that runs the canary sources (Custody's settings, connections)."""
        env = {"CUSTODY_HOME": str(self.home), "CUSTODY_CONFIG_DIR": str(self.config),
               "AIRFLOW_CONN_CANARY_SQL": json.dumps({"conn_type": "sqlite", "host": str(self.sqlite)})}
        if self.pg_url:
            env["AIRFLOW_CONN_CANARY_PG"] = json.dumps({
                "conn_type": "postgres", "host": self.pg_url.host, "port": self.pg_url.port,
                "login": self.pg_url.username, "schema": self.pg_url.database})
        return env

    def _sqlite(self) -> None:
        conn = sqlite3.connect(self.sqlite)
        conn.execute("CREATE TABLE typed (id INTEGER PRIMARY KEY, tm TIME, flag BOOLEAN, n INTEGER, born DATE, "
                     "amount NUMERIC(10, 2), note TEXT, email TEXT, id_no TEXT)")
        c = CANARY
        conn.executemany("INSERT INTO typed (id, tm, flag, n, born, amount, note, email, id_no) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                             (1, c, None, None, None, None, None, None, None),
                             (2, None, c, None, None, None, None, None, None),
                             (3, None, None, "X" + c, None, None, None, None, None),  # stays TEXT
                             (4, None, None, None, c, None, None, None, None),
                             (5, None, None, None, None, c, None, None, None),
                             (6, None, None, None, None, None, "x\x00" + c, None, None),
                             (7, "09:00:00", 1, 7, "2000-01-01", 1.5, "note", c, c),
                         ] + [(i, "10:00:00", 0, i, "1990-05-06", 2.25, "备注", f"user{i}@example.com",
                               _resident_id(i)) for i in range(8, 40)])
        conn.commit()
        conn.close()

    def _files(self) -> None:
        c = CANARY
        good = "id,name,mobile\n1,张三,13800138000\n"
        put = {
            "headerless-a.csv": good.encode(), "headerless-b.csv": f"{c},李四,13900139000\n".encode(),
            # past the 64 KiB that planning reads: the part, not the plan, meets the other encoding
            "mixed-a.csv": (good + "".join(f"{i},王五,13700137000\n" for i in range(2, 6000))).encode()
            + f"6000,李四{c},13900139000\n".encode("gbk"),
            "quoting-a.csv": f'id,name,mobile\n1,"{c},13800138000\n2,b,2\n'.encode(),
            "twins-a.csv": b"id,name\n1,a\n", "twins-b.csv": f"{c},{c}\n1,2\n".encode(),
            "sheets-a.xlsx": _xlsx({"s1": [["id", "name"], ["1", "a"]], "s2": [[c, "李四"], ["2", "b"]]}),
            "records-a.jsonl": (f'{{"id": "1", "name": "a"}}\n{{"id": "2", "name": "{c}"\n'
                                f'{{"id": "3", "{c}": 1}}\n').encode(),
            "nul-a.csv": f"id,name\n1,{c}\x00\n2,b\n".encode(),
        }
        for name, data in put.items():
            (self.drop / name).write_bytes(data)
        (self.plan_drop / "leads-a.csv").write_bytes(f"{c},张三,13800138000\n".encode())

    def make_pg(self, server_url: str) -> None:
        """Create the SQL_ASCII database of ``canary_pg`` (a value beside a byte without UTF-8 form)."""
        import psycopg2

        assert self.pg_url is not None
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.pg_url.database}" WITH (FORCE)')
            conn.exec_driver_sql(f"CREATE DATABASE \"{self.pg_url.database}\" ENCODING 'SQL_ASCII' TEMPLATE template0")
        admin.dispose()
        raw = psycopg2.connect(host=self.pg_url.host, port=self.pg_url.port, user=self.pg_url.username,
                               dbname=self.pg_url.database)
        with raw, raw.cursor() as cur:
            cur.execute("CREATE TABLE t (id int PRIMARY KEY, s text)")
            cur.execute(b"INSERT INTO t VALUES (1, '" + CANARY.encode() + b" caf\xe9')")
        raw.close()

    def drop_pg(self, server_url: str) -> None:
        if self.pg_url is None:
            return
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.pg_url.database}" WITH (FORCE)')
        admin.dispose()

    def _config(self) -> None:
        suffix = {"sheets": "xlsx", "records": "jsonl"}
        drop_tables = [{"name": t, "files": f"{t}-*.{suffix.get(t, 'csv')}"}
                       for t in [*DROP_FAILURES, *DROP_QUARANTINE]]
        sources = [
            {"name": "canary_sql", "conn_id": "canary_sql", "lawful_basis": "contract",
             "retention_class": "customer_contract", "chunk_rows": 10,
             "tables": [{"name": "typed", "max_failing_share": 0.5,
                         "checks": [{"column": "email", "check": "email"}]}]},
            {"name": "canary_drop", "kind": "files", "landing": str(self.drop), "lawful_basis": "contract",
             "retention_class": "partner_drop", "tables": drop_tables},
            {"name": "canary_plan", "kind": "files", "landing": str(self.plan_drop), "lawful_basis": "contract",
             "retention_class": "partner_drop", "tables": [{"name": "leads", "files": "*.csv"}]},
        ]
        if self.pg_url:
            sources.append({"name": "canary_pg", "conn_id": "canary_pg", "lawful_basis": "contract",
                            "retention_class": "customer_contract", "tables": [{"name": "t"}]})
        doc = {"version": 1, "backup": {"local": True, "s3_conn_id": None}, "sources": sources}
        (self.config / "sources.yaml").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
