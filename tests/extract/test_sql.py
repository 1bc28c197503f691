"""SQL extraction on the machine's PostgreSQL and MariaDB: types, quarantine, incremental runs, ranges."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from custody import hashing
from custody.config import SourceConfig, TableConfig
from custody.extract import ExtractError, SchemaError, extract_table
from custody.documents import PartDocument
from custody.demo import generate_crm
from custody.demo.loaders import drop_database, ensure_database, load_tables
from extract.conftest import run_source

DB = f"custody_extract_{os.getpid()}"
UTC = dt.UTC


@pytest.fixture(params=["postgres", "postgres-psycopg3", "mariadb"])
def server(request):
    pg = request.param.startswith("postgres")
    server_url = request.getfixturevalue("pg_server_url" if pg else "mariadb_server_url")
    url = ensure_database(server_url, DB)
    if request.param == "postgres-psycopg3":  # the driver of the engine Airflow's PostgreSQL hook builds
        url = sa.make_url(url).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url)
    yield ("postgres" if pg else request.param), engine
    engine.dispose()
    drop_database(server_url, DB)


# Airflow's PostgreSQL hook hands out psycopg 3 engines; psycopg2 engines are still supported.
PG_DRIVERS = pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])


def pg_engine(url: str, driver: str, **kw) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(drivername=f"postgresql+{driver}"), **kw)


def source(tables, **kw) -> SourceConfig:
    return SourceConfig(name="crm", conn_id="custody_crm", lawful_basis="contract", retention_class="customer_contract",
                        chunk_rows=kw.pop("chunk_rows", 100), tables=tables, **kw)


def rows_of(staging, tm) -> pa.Table:
    return pa.concat_tables([staging.get_table(e) for e in tm.chunks]) if tm.chunks else None


# -- incremental ------------------------------------------------------------------------------------
def test_incremental_extracts_exactly_changed_rows_and_reruns_are_idempotent(server, staging, store):
    kind, engine = server
    crm = generate_crm(contacts=300)
    load_tables(engine, {"enterprise_customers": crm["enterprise_customers"], "contacts": crm["contacts"],
                         "bank_accounts": crm["bank_accounts"]})
    src = source([TableConfig(name="contacts", mode="incremental", watermark_column="updated_at"),
                  TableConfig(name="bank_accounts", mode="incremental", watermark_column="account_id"),
                  TableConfig(name="enterprise_customers")])
    end1 = dt.datetime(2026, 12, 1, tzinfo=UTC)
    m1 = run_source(src, staging, engine=engine, store=store, run_id="run-1", interval_end=end1)
    counts = {t.table: t.source_rows for t in m1.tables}
    assert counts == {"contacts": 300, "bank_accounts": crm["bank_accounts"].num_rows, "enterprise_customers": 60}

    # Changes after the first interval: 5 new contacts, 3 updated ones, 4 new bank accounts.
    later = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    stored = later if kind == "postgres" else later.replace(tzinfo=None)  # MariaDB DATETIME holds naive UTC
    new = crm["contacts"].slice(0, 5).to_pylist()
    with engine.begin() as conn:
        contacts = sa.Table("contacts", sa.MetaData(), autoload_with=conn)
        for i, r in enumerate(new):
            r.update(contact_id=10_000 + i, created_at=stored, updated_at=stored)
            if kind != "postgres":
                r["created_at"] = r["updated_at"] = stored
        conn.execute(contacts.insert(), new)
        conn.execute(contacts.update().where(contacts.c.contact_id.in_([7, 8, 9])).values(
            notes="updated", updated_at=stored))
        accounts = sa.Table("bank_accounts", sa.MetaData(), autoload_with=conn)
        top = conn.execute(sa.select(sa.func.max(accounts.c.account_id))).scalar()
        conn.execute(accounts.insert(), [
            {"account_id": top + i + 1, "contact_id": 1, "bank_name": "招商银行",
             "account_number": f"62258{i:011d}", "opened_on": dt.date(2026, 12, 1)} for i in range(4)])

    end2 = dt.datetime(2026, 12, 2, tzinfo=UTC)
    m2 = run_source(src, staging, engine=engine, store=store, run_id="run-2", interval_end=end2)
    t2 = {t.table: t for t in m2.tables}
    assert t2["contacts"].extracted_rows == 8 and t2["contacts"].source_rows == 8
    assert sorted(rows_of(staging, t2["contacts"]).column("contact_id").to_pylist()) == [
        7, 8, 9, 10_000, 10_001, 10_002, 10_003, 10_004]
    assert t2["bank_accounts"].extracted_rows == 4
    assert t2["enterprise_customers"].extracted_rows == 60  # full snapshot every run
    # Row keys: staged by default for the incremental tables (one object per chunk), not for the
    # full snapshot.
    assert [len(t2[n].row_keys) for n in ("contacts", "bank_accounts", "enterprise_customers")] == [1, 1, 0]
    assert [e.kind for e in t2["contacts"].row_keys] == ["rowkeys"]
    full = staging.list_keys(f"crm/{m2.run_key}/tables/enterprise_customers/")
    assert full and not [k for k in full if "/rowkeys-" in k]
    assert t2["contacts"].extraction.watermark_from == end1.isoformat(timespec="microseconds")
    assert t2["contacts"].extraction.watermark_to == end2.isoformat(timespec="microseconds")

    # Rerun of the same run id (e.g. cleared in Airflow): same interval, same rows, same hashes.
    wm_before = store.current("crm", "contacts")["value"]
    again = run_source(src, staging, engine=engine, store=store, run_id="run-2",
                       interval_end=end2 + dt.timedelta(days=3))
    assert [(t.table, t.extracted_rows, t.content_hash) for t in again.tables] == [
        (t.table, t.extracted_rows, t.content_hash) for t in m2.tables]
    assert store.current("crm", "contacts")["value"] == wm_before

    # A new run over a later interval with no change extracts nothing new.
    m3 = run_source(src, staging, engine=engine, store=store, run_id="run-3", interval_end=end2 + dt.timedelta(hours=1))
    assert {t.table: t.extracted_rows for t in m3.tables} == {"contacts": 0, "bank_accounts": 0,
                                                              "enterprise_customers": 60}


def test_watermark_advances_only_on_commit(server, staging, store):
    from custody.extract import extract_part, plan_extract

    kind, engine = server
    load_tables(engine, {"enterprise_customers": generate_crm(contacts=50)["enterprise_customers"]})
    src = source([TableConfig(name="enterprise_customers", mode="incremental", watermark_column="customer_id")])
    plan = plan_extract(engine, source=src, run_key="r1", run_id="r1", staging=staging, store=store)
    for p in plan.part_refs():
        extract_part(engine, source=src, plan=plan, table=p.table, part=p.part, staging=staging)
    assert store.current("crm", "enterprise_customers") is None  # extracted but not committed
    m = run_source(src, staging, engine=engine, store=store, run_id="r1")
    assert m.tables[0].extracted_rows == 10
    assert store.current("crm", "enterprise_customers")["value"] == "10"


# -- key ranges ---------------------------------------------------------------------------------------
def test_large_tables_split_into_key_ranges_that_reconcile(server, staging):
    from custody.extract import plan_extract

    kind, engine = server
    crm = generate_crm(contacts=450)
    load_tables(engine, {"enterprise_customers": crm["enterprise_customers"], "contacts": crm["contacts"]})
    src = source([TableConfig(name="contacts", split_rows=100, row_keys=True)], chunk_rows=40)
    plan = plan_extract(engine, source=src, run_key="r", run_id="r", staging=staging)
    parts = plan.tables[0].parts
    assert len(parts) == 5 and parts[0].lo is None and parts[-1].hi is None
    m = run_source(src, staging, engine=engine, run_id="r")
    tm = m.tables[0]
    assert tm.source_rows == tm.extracted_rows == 450 and tm.extraction.parts == 5
    # every range, both drivers: psycopg 3 in binary (every column has a plain binary form here)
    expected_path = {"psycopg": "copy_binary", "psycopg2": "copy"}.get(engine.dialect.driver, "cursor")
    assert tm.extraction.path == (expected_path if kind == "postgres" else "cursor")
    assert tm.content_hash == hashing.to_hex(hashing.table_hash(crm["contacts"]))
    assert len(tm.row_keys) == len(tm.chunks) and len({c.chunk for c in tm.chunks}) == len(tm.chunks)
    # row_keys: true on a full snapshot: every chunk's companion holds its rows' keys and hashes.
    from custody import rowkeys

    for chunk_entry, rk_entry in zip(tm.chunks, tm.row_keys, strict=True):
        chunk = staging.get_table(chunk_entry)
        expected, content = rowkeys.change_capture(chunk, ["contact_id"], source="crm", table_name="contacts")
        assert rk_entry.chunk == chunk_entry.chunk and rk_entry.kind == "rowkeys"
        assert rowkeys.unpack(staging.get_table(rk_entry)).equals(rowkeys.unpack(expected))
        assert hashing.to_hex(content) == chunk_entry.content_hash


# -- binary COPY -------------------------------------------------------------------------------------
def _copy_path(driver: str) -> str:
    """The COPY path a table of plain column types takes: binary with psycopg 3 where the decoder
    was built, text otherwise."""
    from custody.extract import copy_binary

    return "copy_binary" if driver == "psycopg" and copy_binary._copyread is not None else "copy"


BINARY_DDL = """
CREATE TABLE plain (
  id bigint PRIMARY KEY, small smallint, medium integer, flag boolean, note text, code varchar(12),
  fixed char(4), born date, at timestamptz
)"""


def _extract_three_ways(engine, staging, table: str, monkeypatch) -> tuple:
    """The same table through the binary COPY, the text COPY (compiled decoder hidden) and the cursor."""
    from custody.extract import copy_binary

    src = source([TableConfig(name=table)], timezone="Asia/Shanghai")
    binary = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="bin", staging=staging)
    with monkeypatch.context() as m:
        m.setattr(copy_binary, "_copyread", None)
        text = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="csv", staging=staging)
    cursor = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="cur", staging=staging,
                           prefer_copy=False)
    return binary, text, cursor


@pytest.fixture
def plain_engine(pg_server_url):
    """A psycopg 3 engine on a database with the empty table ``plain`` (BINARY_DDL)."""
    from custody.extract import copy_binary

    if copy_binary._copyread is None and os.environ.get("CI") != "true":
        pytest.skip("custody._copyread was not built here (no C compiler at install)")
    engine = pg_engine(ensure_database(pg_server_url, DB), "psycopg")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS plain")
        conn.exec_driver_sql(BINARY_DDL)
    yield engine
    engine.dispose()


def test_binary_copy_is_exact_against_the_text_copy_and_the_cursor(plain_engine, staging, monkeypatch):
    """Extremes of every integer width, nulls in every column, empty, padded and 4-byte UTF-8 text,
    and dates and instants at the edges of years 1-9999 and of both epochs: the binary path stages
    exactly what the other two stage (same content hash, same values)."""
    engine = plain_engine
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO plain VALUES "
            "(-9223372036854775808, -32768, -2147483648, true, '', '客户😀', 'ab', '0001-01-01',"
            " '0001-01-01 00:00:00+00'),"
            "(9223372036854775807, 32767, 2147483647, false, 'a,\"b\"\nc', 'x', NULL, '9999-12-31',"
            " '9999-12-31 23:59:59.999999+00'),"
            "(0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
            "(1, 0, 0, true, 'N', '', '', '1999-12-31', '1999-12-31 23:59:59.999999+00'),"
            "(2, 1, -1, false, '\\N', ' ', 'x', '1970-01-01', '1969-12-31 23:59:59.999999+00'),"
            "(3, 2, 3, true, repeat('长', 5000), 'y', 'yy', '2000-01-01', '2000-01-01 00:00:00+08')")
    binary, text, cursor = _extract_three_ways(engine, staging, "plain", monkeypatch)
    assert (binary.extraction.path, text.extraction.path, cursor.extraction.path) == (
        "copy_binary", "copy", "cursor")
    assert binary.content_hash == text.content_hash == cursor.content_hash
    assert binary.extracted_rows == binary.source_rows == 6
    got = {r["id"]: r for r in rows_of(staging, binary).to_pylist()}
    assert got[-9223372036854775808]["fixed"] == "ab  " and got[1]["note"] == "N" and got[0]["note"] is None
    assert got[2]["note"] == "\\N" and got[-9223372036854775808]["code"] == "客户😀"
    assert got[2]["at"] == dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert got[3]["at"] == dt.datetime(1999, 12, 31, 16, 0, tzinfo=UTC)
    assert got[9223372036854775807]["born"] == dt.date(9999, 12, 31)
    assert rows_of(staging, binary).equals(rows_of(staging, text))


@pytest.mark.parametrize("value", ["'infinity'", "'-infinity'", "'0044-03-15 BC'", "'10000-01-01'"])
def test_binary_copy_hands_dates_outside_years_1_to_9999_to_the_text_rules(plain_engine, staging, value, caplog):
    engine = plain_engine
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO plain (id, note, born) SELECT g, 'canary-' || g, '2001-01-01' "
                             "FROM generate_series(1, 20000) g")
        conn.exec_driver_sql(f"UPDATE plain SET born = {value} WHERE id = 15000")
    src = source([TableConfig(name="plain")], timezone="Asia/Shanghai")
    with caplog.at_level("WARNING"):
        tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="edge", staging=staging)
    cursor = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="cur", staging=staging,
                           prefer_copy=False)
    # Read again by the text COPY, whose rules then send the range on to the cursor, which
    # quarantines the value with its reason: the same outcome as a cursor-only read.
    assert tm.extraction.path in ("copy", "cursor") and tm.content_hash == cursor.content_hash
    assert (tm.extracted_rows, tm.quarantined_at_extract) == (cursor.extracted_rows,
                                                              cursor.quarantined_at_extract)
    assert tm.extracted_rows + tm.quarantined_at_extract == 20000
    assert "copy_binary path unavailable (a date or timestamp outside years 1-9999)" in caplog.text
    assert "canary" not in caplog.text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("reader", ["binary", "text"])
def test_a_failure_while_staging_ends_the_copy_instead_of_hanging(plain_engine, staging, monkeypatch, reader):
    """The writer fails on the second batch of a COPY far larger than the read-ahead buffer: the
    error comes out at once, the COPY is cancelled (the server is not left writing to a full
    socket) and the connection goes back to the pool usable."""
    from custody.extract import copy_binary, writer as writer_mod

    with plain_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO plain (id, note) SELECT g, repeat('z', 300) "
                             "FROM generate_series(1, 150000) g")
    if reader == "text":
        monkeypatch.setattr(copy_binary, "_copyread", None)
    calls = []
    original = writer_mod.PartWriter.add

    def failing_add(self, table):
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise RuntimeError("the staging store failed")
        return original(self, table)

    monkeypatch.setattr(writer_mod.PartWriter, "add", failing_add)
    src = source([TableConfig(name="plain")])
    with pytest.raises(RuntimeError, match="staging store failed"):
        extract_table(plain_engine, source=src, table_cfg=src.tables[0], run_key="boom", staging=staging)
    assert len(calls) == 2
    with plain_engine.connect() as conn:
        busy = conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND query LIKE 'COPY%%' AND state = 'active'").scalar()
        assert busy == 0 and conn.exec_driver_sql("SELECT count(*) FROM plain").scalar() == 150000


@pytest.mark.parametrize("ddl,rows,alter", [
    ("v text", "(1, '123'), (2, '-5')", "TYPE integer USING v::integer"),
    ("v integer", "(1, 7), (2, 8)", "TYPE date USING DATE '2024-01-01' + v"),
    ("v timestamptz", "(1, '2024-01-01 00:00:00+00')", "TYPE bigint USING extract(epoch FROM v)::bigint"),
])
def test_a_column_altered_after_the_table_was_read_is_not_decoded_as_its_old_type(plain_engine, staging, monkeypatch,
                                                                                   ddl, rows, alter):
    """ALTER TABLE ... TYPE committed between the part's reflection and its transaction: binary
    COPY has no types of its own, so the query's are checked and the range goes to the text COPY,
    which stages what the cursor stages under the same change (never the new type's bytes read
    as the old type)."""
    from custody.extract import extract_part, parts, plan_extract

    def run(prefer_copy: bool, key: str):
        with plain_engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS r")
            conn.exec_driver_sql(f"CREATE TABLE r (id int PRIMARY KEY, {ddl})")
            conn.exec_driver_sql(f"INSERT INTO r VALUES {rows}")
        src = source([TableConfig(name="r")])
        plan = plan_extract(plain_engine, source=src, run_key=key, run_id=key, staging=staging)
        original = parts.reflect_table

        def reflect_then_alter(engine, tcfg):
            table = original(engine, tcfg)
            with plain_engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE r ALTER COLUMN v {alter}")
            return table

        with monkeypatch.context() as m:
            m.setattr(parts, "reflect_table", reflect_then_alter)
            doc = extract_part(plain_engine, source=src, plan=plan, table="r", part=0, staging=staging,
                               prefer_copy=prefer_copy)
        return doc, [staging.get_table(e) for e in doc.chunks]

    fast, fast_chunks = run(True, "fast")
    slow, slow_chunks = run(False, "slow")
    assert fast.path in ("copy", "cursor") and slow.path == "cursor"
    assert (fast.extracted_rows, fast.quarantined_rows) == (slow.extracted_rows, slow.quarantined_rows)
    assert fast.content_hash == slow.content_hash
    for chunk in fast_chunks:
        chunk.validate(full=True)


def test_tables_with_a_type_without_a_plain_binary_form_take_the_text_copy(pg_server_url, staging):
    engine = pg_engine(ensure_database(pg_server_url, DB), "psycopg")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS mixed")
            conn.exec_driver_sql("CREATE TABLE mixed (id bigint PRIMARY KEY, amount numeric(10,2), u uuid)")
            conn.exec_driver_sql("INSERT INTO mixed VALUES (1, 1.50, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')")
        src = source([TableConfig(name="mixed")])
        tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="m", staging=staging)
        assert tm.extraction.path == "copy" and tm.extracted_rows == 1
    finally:
        engine.dispose()


# -- type fidelity ------------------------------------------------------------------------------------
PG_DDL = """
CREATE TABLE typed (
  id bigint PRIMARY KEY, amount numeric(20,4), qty integer, ts_utc timestamptz, ts_local timestamp,
  blob bytea, note text, born date, flag boolean, ratio double precision, doc jsonb, price numeric
)"""


@PG_DRIVERS
def test_postgres_types_are_exact_on_both_read_paths(pg_server_url, staging, driver):
    url = ensure_database(pg_server_url, DB)
    engine = pg_engine(url, driver)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS typed")
            conn.exec_driver_sql(PG_DDL)
            conn.exec_driver_sql("SET TIME ZONE 'Asia/Shanghai'")
            conn.exec_driver_sql(
                "INSERT INTO typed VALUES "
                "(1, 12345678901234.5678, NULL, '2024-01-01 08:00:00+08', '2024-01-01 08:00:00', '\\x00ff0a', "
                " 'a,\"b\"\nc\\\\d', '2000-02-29', true, 0.1, '{\"k\": [1, 2.50]}', 1.5),"
                "(2, -0.0001, 7, NULL, NULL, '\\x', '', NULL, NULL, NULL, NULL, NULL),"
                "(3, NULL, NULL, '1969-12-31 23:59:59.999999+00', '2024-07-01 00:00:00', NULL, NULL, "
                " '1900-01-01', false, -1e300, 'null', 123456789.0123456789)")
        src = source([TableConfig(name="typed")], timezone="Asia/Shanghai")
        fast = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="fast", staging=staging)
        slow = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="slow", staging=staging,
                             prefer_copy=False)
        assert fast.extraction.path == "copy" and slow.extraction.path == "cursor"
        assert fast.content_hash == slow.content_hash and fast.extracted_rows == 3
        got = rows_of(staging, fast)
        schema = {f.name: str(f.type) for f in got.schema}
        assert schema["amount"] == "decimal128(20, 4)" and schema["qty"] == "int64"
        assert schema["ts_utc"] == schema["ts_local"] == "timestamp[us, tz=UTC]" and schema["blob"] == "binary"
        r = got.to_pylist()
        assert r[0]["amount"] == Decimal("12345678901234.5678") and r[1]["amount"] == Decimal("-0.0001")
        assert r[0]["qty"] is None and r[1]["qty"] == 7
        assert r[0]["ts_utc"] == dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
        assert r[0]["ts_local"] == dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai
        assert r[0]["blob"] == b"\x00\xff\x0a" and r[1]["blob"] == b"" and r[2]["blob"] is None
        assert r[0]["note"] == 'a,"b"\nc\\\\d' and r[1]["note"] == "" and r[2]["note"] is None
        assert r[0]["doc"] == '{"k": [1, 2.50]}'
        zones = {c.name: c.source_zone for c in fast.columns}
        assert zones["ts_local"] == "Asia/Shanghai" and zones["ts_utc"] and zones["amount"] is None
    finally:
        engine.dispose()
        drop_database(pg_server_url, DB)


def test_case_variant_columns_are_rejected(pg_server_url, staging):
    url = ensure_database(pg_server_url, DB)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql('DROP TABLE IF EXISTS people')
            conn.exec_driver_sql('CREATE TABLE people (id int PRIMARY KEY, "Email" text, email text)')
        src = source([TableConfig(name="people")])
        with pytest.raises(SchemaError, match="differ only in case, width or punctuation: 'Email' / 'email'"):
            extract_table(engine, source=src, table_cfg=src.tables[0], run_key="r", staging=staging)
    finally:
        engine.dispose()
        drop_database(pg_server_url, DB)


def test_mariadb_zero_and_invalid_dates_are_quarantined_with_reasons(mariadb_server_url, staging):
    url = ensure_database(mariadb_server_url, DB)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
            conn.exec_driver_sql("DROP TABLE IF EXISTS legacy")
            conn.exec_driver_sql("CREATE TABLE legacy (id int PRIMARY KEY, born date, seen datetime(6), "
                                 "stamp timestamp NULL, amount decimal(12,2), qty int NULL, bin varbinary(8))")
            conn.exec_driver_sql(
                "INSERT INTO legacy VALUES "
                "(1, '1990-05-06', '2024-01-01 08:00:00.123456', '2024-01-01 00:00:00', 10.10, NULL, X'00FF'),"
                "(2, '0000-00-00', '2024-01-01 00:00:00', NULL, 0.01, 3, NULL),"
                "(3, '2023-02-30', '0000-00-00 00:00:00', NULL, -5.00, NULL, ''),"
                "(4, NULL, NULL, NULL, NULL, NULL, NULL),"
                "(5, '2023-04-31', '2023-02-29 10:00:00', '2024-06-30 23:59:59', 1.00, 0, X'01')")
            conn.commit()
        src = source([TableConfig(name="legacy")], timezone="Asia/Shanghai")
        tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="r", staging=staging)
        assert tm.source_rows == 5 and tm.extracted_rows == 2 and tm.quarantined_at_extract == 3
        assert tm.quarantine_reasons == {"zero_date:born": 1, "invalid_date:born": 2, "zero_date:seen": 1,
                                         "invalid_date:seen": 1}
        good = rows_of(staging, tm).to_pylist()
        assert [r["id"] for r in good] == [1, 4]
        assert good[0]["born"] == dt.date(1990, 5, 6)
        assert good[0]["seen"] == dt.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)  # from Asia/Shanghai
        assert good[0]["stamp"] == dt.datetime(2024, 1, 1, tzinfo=UTC)
        assert good[0]["amount"] == Decimal("10.10") and good[0]["qty"] is None and good[0]["bin"] == b"\x00\xff"
        q = pa.concat_tables([staging.get_table(e) for e in tm.quarantine]).to_pylist()
        assert sorted(r["id"] for r in q) == [2, 3, 5]
        assert all(r["_custody_row_key"] and len(r["_custody_row_key"]) == 64 for r in q)
        assert {c.name: c.source_zone for c in tm.columns}["seen"] == "Asia/Shanghai"
    finally:
        engine.dispose()
        drop_database(mariadb_server_url, DB)


def test_sqlite_text_dates_and_missing_tables(tmp_path, staging):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, born DATE, amount NUMERIC(10, 2))")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, '2000-01-01', 1.10), (2, 'not a date', 2), (3, NULL, NULL)")
    src = source([TableConfig(name="t")])
    tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="r", staging=staging)
    assert (tm.source_rows, tm.extracted_rows, tm.quarantine_reasons) == (3, 2, {"invalid_date:born": 1})
    with pytest.raises(ExtractError, match="not found"):
        extract_table(engine, source=src, table_cfg=TableConfig(name="nope"), run_key="r", staging=staging)


def test_rerun_of_a_part_leaves_only_the_objects_its_document_lists(tmp_path, staging):
    # First attempt stages 5 chunks; the table then shrinks and a crashed write left a temporary
    # file. The rerun of the same part stages 2 chunks and removes the 3 stale chunks, their row
    # key companions and the temporary file, so the folder holds exactly what the document lists
    # (what other stages write lives elsewhere in the layout and is not touched).
    from custody.extract import extract_part, plan_extract

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES " + ", ".join(f"({i}, 'v{i}')" for i in range(50)))
    src = source([TableConfig(name="t", row_keys=True)], chunk_rows=10)
    plan = plan_extract(engine, source=src, run_key="r", run_id="r", staging=staging)
    (p,) = plan.part_refs()
    first = extract_part(engine, source=src, plan=plan, table=p.table, part=p.part, staging=staging)
    folder = staging.path("crm/r/tables/t/p0000")
    assert first.extracted_rows == 50 and len(list(folder.glob("*.cdy"))) == 10
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM t WHERE id >= 20")
    (folder / ".tmp-chunk-00001.cdy.dead").write_bytes(b"partial")
    validation_q = staging.path("crm/r/quarantine/t/validate/c000000000.cdy")
    validation_q.parent.mkdir(parents=True)
    validation_q.write_bytes(b"a later stage's object")  # validation's, not extraction's
    again = extract_part(engine, source=src, plan=plan, table=p.table, part=p.part, staging=staging)
    doc = staging.get(again.key(), PartDocument)
    listed = {staging.path(e.key) for e in doc.objects()}
    assert again.extracted_rows == 20 and len(listed) == 4
    assert set(folder.iterdir()) == listed
    assert validation_q.exists()
    assert sum(staging.get_table(e).num_rows for e in doc.chunks) == 20


@PG_DRIVERS
def test_copy_path_reads_the_table_the_session_sees_and_survives_an_idle_timeout(pg_server_url, staging, monkeypatch,
                                                                                driver):
    # The engine sets search_path through connection options, so `customers` means crm.customers;
    # a decoy public.customers has the same row count. The COPY child must read crm.customers.
    # The database also cuts sessions idle in a transaction after 1 s while the consumer of the
    # first batch takes 1.5 s: the extracting session must not be cut.
    import time

    from custody.extract.writer import PartWriter

    url = ensure_database(pg_server_url, DB)
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS crm CASCADE")
        conn.exec_driver_sql("DROP TABLE IF EXISTS public.customers")
        conn.exec_driver_sql("CREATE SCHEMA crm")
        conn.exec_driver_sql("CREATE TABLE crm.customers (id int PRIMARY KEY, email text)")
        conn.exec_driver_sql("INSERT INTO crm.customers VALUES (1, 'a@example.com'), (2, 'b@example.com')")
        conn.exec_driver_sql("CREATE TABLE public.customers (id int PRIMARY KEY, email text)")
        conn.exec_driver_sql("INSERT INTO public.customers VALUES (1, 'decoy'), (2, 'decoy')")
        conn.exec_driver_sql(f"ALTER DATABASE {DB} SET idle_in_transaction_session_timeout = '1s'")
    engine = pg_engine(url, driver, connect_args={"options": "-c search_path=crm"})
    add = PartWriter.add

    def slow_add(self, table):
        time.sleep(1.5)
        return add(self, table)

    monkeypatch.setattr(PartWriter, "add", slow_add)
    try:
        src = source([TableConfig(name="customers")])
        tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="r", staging=staging)
        assert tm.extraction.path == _copy_path(driver)
        assert sorted(rows_of(staging, tm).column("email").to_pylist()) == ["a@example.com", "b@example.com"]
    finally:
        engine.dispose()
        admin.dispose()
        drop_database(pg_server_url, DB)


def test_database_errors_name_the_error_class_never_the_value(pg_server_url, staging):
    # A SQL_ASCII database holding a non-UTF-8 value: the server refuses to convert it on both read
    # paths; the error says so by class and SQLSTATE and quotes no byte of the value.
    import psycopg2

    name = f"{DB}_ascii"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0")
    url = sa.engine.make_url(pg_server_url).set(database=name)
    raw = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=name)
    with raw, raw.cursor() as cur:
        cur.execute("CREATE TABLE t (id int PRIMARY KEY, s text)")
        cur.execute(b"INSERT INTO t VALUES (1, 'secret caf\xe9')")
    raw.close()
    engine = sa.create_engine(url)
    through_psycopg3 = url.set(drivername="postgresql+psycopg")
    try:
        src = source([TableConfig(name="t")])
        # psycopg 3 (Airflow's default) cannot read a SQL_ASCII database: the run says how to switch
        # the connection to psycopg2, without a value and without a driver's TypeError.
        with pytest.raises(ExtractError, match="SQL_ASCII.*sqlalchemy_scheme.*postgresql\\+psycopg2") as err:
            extract_table(sa.create_engine(through_psycopg3), source=src, table_cfg=src.tables[0], run_key="r",
                          staging=staging)
        assert "secret" not in str(err.value) and err.value.__cause__ is None
        for prefer_copy in (True, False):
            with pytest.raises(ExtractError, match="refused the read|COPY child process failed") as err:
                extract_table(engine, source=src, table_cfg=src.tables[0], run_key="r", staging=staging,
                              prefer_copy=prefer_copy)
            assert "CharacterNotInRepertoire" in str(err.value) and "secret" not in str(err.value)
            assert "0xe9" not in str(err.value) and err.value.__cause__ is None
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@PG_DRIVERS
def test_postgres_values_without_an_exact_arrow_equivalent_are_quarantined(pg_server_url, staging, driver):
    # infinity would otherwise become 9999-12-31 (indistinguishable from a real value), a BC date
    # crashes, 24:00 becomes 00:00 and a timetz offset was dropped; numeric(5,-2) / (3,5) broke
    # Parquet. Now: out_of_range quarantine, timetz normalised to UTC, exact decimals.
    url = ensure_database(pg_server_url, DB)
    engine = pg_engine(url, driver)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS special")
            conn.exec_driver_sql("CREATE TABLE special (id int PRIMARY KEY, tz timestamptz, d date, tm time, "
                                 "ttz timetz, ts timestamp, hundreds numeric(5, -2), tiny numeric(3, 5))")
            conn.exec_driver_sql(
                "INSERT INTO special VALUES "
                "(1, 'infinity', '2000-01-01', '24:00:00', '12:00+05:30', '2000-01-01', 12345, 0.00123), "
                "(2, '-infinity', '4714-11-24 BC', '01:00', '12:00+00', '-infinity', NULL, NULL), "
                "(3, '9999-12-31 23:59:59.999999+00', '9999-12-31', '23:59:59', '23:30-01:00', '2000-01-01 00:00', "
                " -99900, -0.00999)")
        src = source([TableConfig(name="special")], timezone="Asia/Shanghai")
        tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="r", staging=staging)
        assert (tm.source_rows, tm.extracted_rows, tm.quarantined_at_extract) == (3, 1, 2)
        assert tm.quarantine_reasons == {"out_of_range:tz": 2, "out_of_range:tm": 1, "out_of_range:d": 1,
                                         "out_of_range:ts": 1}
        (row,) = rows_of(staging, tm).to_pylist()
        assert row["tz"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)  # a real value stays
        assert row["ttz"] == dt.time(0, 30) and row["hundreds"] == Decimal("-99900")
        assert row["tiny"] == Decimal("-0.00999")
        quarantined = pa.concat_tables([staging.get_table(e) for e in tm.quarantine]).to_pylist()
        by_id = {q["id"]: q for q in quarantined}
        assert by_id[1]["ttz"] == dt.time(6, 30) and by_id[1]["hundreds"] == Decimal("12300")
        assert by_id[1]["tiny"] == Decimal("0.00123") and by_id[2]["d"] is None
    finally:
        engine.dispose()
        drop_database(pg_server_url, DB)


def test_copy_child_refuses_a_table_its_session_resolves_differently(pg_server_url):
    # A temporary table shadows public.customers in this session only: the COPY child (a new
    # session) would read the public one, so it refuses and the range takes the cursor path.
    from custody.extract.copy_path import FastPathUnavailable, copy_batches
    from custody.extract.sessions import prepare_session
    from custody.sources.sqltypes import plan_columns

    url = ensure_database(pg_server_url, DB)
    engine = sa.create_engine(url, poolclass=sa.pool.StaticPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS public.customers")
            conn.exec_driver_sql("CREATE TABLE public.customers (id int PRIMARY KEY, email text)")
            conn.exec_driver_sql("CREATE TEMP TABLE customers (id int PRIMARY KEY, email text)")
            conn.commit()
            table = sa.Table("customers", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                             sa.Column("email", sa.Text))
            with conn.begin():
                zone, _ = prepare_session(conn)
                plans = plan_columns(table, "postgresql", "UTC", zone)
                with pytest.raises(FastPathUnavailable, match="another relation"):
                    list(copy_batches(conn, sa.select(table.c.id, table.c.email), plans, table))
    finally:
        engine.dispose()
        drop_database(pg_server_url, DB)


def test_psycopg3_copy_keeps_row_level_security_and_the_session_s_settings(pg_server_url, staging):
    # The psycopg 3 COPY runs in the extracting session itself: a policy reading a custom setting
    # of that session (set by the engine's connect options) still applies, so the range keeps the
    # fast path (psycopg2's child session could not see the setting: cursor path) and reads
    # exactly the rows the session sees.
    url = ensure_database(pg_server_url, DB)
    admin = sa.create_engine(url)
    role = f"custody_rls_{os.getpid()}"
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS tenants")
        conn.exec_driver_sql("CREATE TABLE tenants (id int PRIMARY KEY, tenant text, email text)")
        conn.exec_driver_sql("INSERT INTO tenants SELECT i, CASE WHEN mod(i, 3) = 0 THEN 'a' ELSE 'b' END, "
                             "'u' || i || '@example.com' FROM generate_series(1, 300) i")
        conn.exec_driver_sql("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
        conn.exec_driver_sql("CREATE POLICY by_tenant ON tenants USING (tenant = current_setting('app.tenant'))")
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT SELECT ON tenants TO {role}")
    results = {}
    try:
        for driver in ("psycopg", "psycopg2"):
            engine = pg_engine(sa.make_url(url).set(username=role), driver,
                               connect_args={"options": "-c app.tenant=a"})
            src = source([TableConfig(name="tenants")])
            tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key=driver, staging=staging)
            engine.dispose()
            results[driver] = (tm.extraction.path, tm.source_rows, tm.content_hash,
                               set(rows_of(staging, tm).column("tenant").to_pylist()))
        assert results["psycopg"][:2] == (_copy_path("psycopg"), 100) and results["psycopg2"][:2] == ("cursor", 100)
        assert results["psycopg"][2:] == results["psycopg2"][2:] and results["psycopg"][3] == {"a"}
    finally:
        admin.dispose()
        drop_database(pg_server_url, DB)
        with sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")


def test_a_database_error_quoting_a_value_while_planning_leaves_no_value(pg_server_url, staging):
    """A row-level security function raises with the row's value in its message during the plan's
    COUNT(*): planning reports the error class and SQLSTATE only, with no chain to the driver's."""
    from custody.extract import plan_extract

    canary = "CANARY-plan-5e1d"
    url = ensure_database(pg_server_url, DB)
    admin = sa.create_engine(url)
    role = f"custody_rls_plan_{os.getpid()}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS secrets")
            conn.exec_driver_sql("CREATE TABLE secrets (id int PRIMARY KEY, secret text)")
            conn.exec_driver_sql(f"INSERT INTO secrets SELECT g, '{canary}-' || g FROM generate_series(1, 50) g")
            conn.exec_driver_sql("CREATE OR REPLACE FUNCTION chk(id int, v text) RETURNS boolean LANGUAGE plpgsql "
                                 "AS $f$ BEGIN IF id = 40 THEN RAISE EXCEPTION 'bad value %%', v; END IF; "
                                 "RETURN true; END $f$")
            conn.exec_driver_sql("ALTER TABLE secrets ENABLE ROW LEVEL SECURITY")
            conn.exec_driver_sql("CREATE POLICY p ON secrets FOR SELECT USING (chk(id, secret))")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
            conn.exec_driver_sql(f"GRANT SELECT ON secrets TO {role}")
        engine = pg_engine(sa.make_url(url).set(username=role), "psycopg")
        src = source([TableConfig(name="secrets")])
        with pytest.raises(ExtractError) as caught:
            plan_extract(engine, source=src, run_key="p", run_id="p", staging=staging)
        engine.dispose()
        err = caught.value
        assert "P0001" in str(err) and canary not in str(err)
        assert err.__cause__ is None and err.__suppress_context__
    finally:
        admin.dispose()
        drop_database(pg_server_url, DB)
        with sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")


@PG_DRIVERS
def test_a_value_without_an_exact_arrow_value_in_a_long_copy_stream_falls_back_whole(pg_server_url, staging,
                                                                                     driver):
    # 60,000 rows (several 1 MiB COPY blocks): an 'infinity' early on stops Arrow while the server
    # is still sending. The COPY is stopped (psycopg 3: cancelled in the session, which is then
    # dropped), nothing it staged is kept, and the range is read again on the cursor path.
    url = ensure_database(pg_server_url, DB)
    engine = pg_engine(url, driver)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS events")
            conn.exec_driver_sql("CREATE TABLE events (id int PRIMARY KEY, at timestamptz, note text)")
            conn.exec_driver_sql("INSERT INTO events SELECT i, CASE WHEN i = 7 THEN 'infinity'::timestamptz "
                                 "ELSE '2024-01-01 00:00+00'::timestamptz + i * interval '1 minute' END, "
                                 "repeat('x', 30) FROM generate_series(1, 60000) i")
        src = source([TableConfig(name="events", row_keys=True)], chunk_rows=20_000)
        tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="r", staging=staging)
        assert (tm.extraction.path, tm.source_rows, tm.extracted_rows) == ("cursor", 60000, 59999)
        assert tm.quarantine_reasons == {"out_of_range:at": 1}
        assert len(tm.chunks) == 3 and len(list(staging.path("crm/r").rglob("*.cdy"))) == 3 + 3 + 1
        with engine.connect() as conn:  # the pool hands out a working session afterwards
            assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 60000
    finally:
        engine.dispose()
        drop_database(pg_server_url, DB)


@PG_DRIVERS
def test_an_empty_range_stays_on_the_copy_path(pg_server_url, staging, driver):
    # The last key range of a table (above its largest key) is usually empty: a COPY of no rows
    # sends no byte, and that is zero rows, not a reason to read the range again by cursor.
    url = ensure_database(pg_server_url, DB)
    engine = pg_engine(url, driver)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS nothing")
            conn.exec_driver_sql("CREATE TABLE nothing (id int PRIMARY KEY, email text)")
        src = source([TableConfig(name="nothing")])
        tm = extract_table(engine, source=src, table_cfg=src.tables[0], run_key="r", staging=staging)
        assert (tm.extraction.path, tm.source_rows, tm.extracted_rows, tm.chunks) == (_copy_path(driver), 0, 0, [])
    finally:
        engine.dispose()
        drop_database(pg_server_url, DB)
