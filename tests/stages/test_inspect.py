"""Classification and validation in one decrypting pass give exactly what two separate passes give.

The reference is the former design, rebuilt from the same parts: a classifier fed every chunk, then
validation of every chunk with the checks derived from the final classification. The one-pass
stage must produce the same classification and validation documents, decrypting each chunk once
when the classification settles on the first chunk, and twice (never wrongly) when it does not.
"""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest
import sqlalchemy as sa

from custody.classification import TableClassifier, load_policy
from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.documents import ClassificationDocument, ValidationDocument
from custody.settings import DEFAULT_CONFIG_DIR
from custody.stages import Runtime, stage_classify_and_validate, stage_extract
from custody.validation import KeyTracker, derive_rules, summarize, validate_chunk

SOURCES = """version: 1
backup: {{local: true, s3_conn_id: null}}
sources:
  - name: crm
    conn_id: crm
    lawful_basis: contract
    retention_class: customer_contract
    chunk_rows: {chunk_rows}
    tables:
      - name: contacts
        checks:
          - {{column: contact_id, check: unique}}
          - {{column: email, check: email}}
      - name: sparse
        checks: []
"""


@pytest.fixture
def run(tmp_path, monkeypatch, new_catalog, new_keyring):
    def make(chunk_rows: int):
        config = tmp_path / "config"
        config.mkdir(exist_ok=True)
        (config / "sources.yaml").write_text(SOURCES.format(chunk_rows=chunk_rows), encoding="utf-8")
        shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
        monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(config))
        monkeypatch.setenv("CUSTODY_CATALOG_URL", new_catalog(tmp_path / "home" / "catalog.db"))
        monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
        crm = generate_crm(contacts=3000)
        load_tables(engine, {"enterprise_customers": crm["enterprise_customers"], "contacts": crm["contacts"]})
        # A table whose only text column is so sparse that no chunk fills its sample: its free-text
        # decision (and so its classification) can only be made at the end of the table.
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE sparse (id INTEGER PRIMARY KEY, remark TEXT)")
            rows = ", ".join(f"({i}, {repr('客户备注 ' + str(i)) if i % 50 == 0 else 'NULL'})" for i in range(1, 3001))
            conn.exec_driver_sql(f"INSERT INTO sparse VALUES {rows}")
        rt = Runtime.from_env()
        new_keyring(rt.settings.keyring)
        out = stage_extract(rt, engine, "crm", "manual__inspect")
        return rt, out["run_key"]

    return make


def _reference(rt: Runtime, run_key: str) -> dict:
    """Classification and validation computed the former way: two full passes."""
    manifest = rt.manifest("crm", run_key)
    policy = load_policy(rt.settings.config_dir / "policy.yaml")
    src = rt.sources.source("crm")
    as_of = datetime.fromisoformat(manifest.created_at).date()
    out = {}
    for tm in manifest.tables:
        clf = TableClassifier(policy, source="crm", table=tm.table, as_of=as_of)
        for entry in tm.chunks:
            clf.observe(rt.staging.get_table(entry))
        columns = clf.result()
        cfg = next(t for t in src.tables if t.name == tm.table)
        rules = derive_rules([c.model_dump() for c in cfg.checks], [c.model_dump(mode="json") for c in columns],
                             tm.primary_key, src.failing_share(cfg), table=tm.table)
        tracker = KeyTracker(tm.table)
        report = summarize([validate_chunk(rt.staging.get_table(e), rules, tracker=tracker).summary()
                            for e in tm.chunks], table=tm.table)
        out[tm.table] = ({c.column: (c.pi_type, c.level, c.confidence) for c in columns},
                         (report.rows_valid, report.rows_quarantined, [c.unexpected for c in report.checks]))
    return out


def _counting(rt: Runtime, monkeypatch) -> dict[str, int]:
    reads: dict[str, int] = {}
    real = type(rt.staging).get_table

    def counted(self, entry, **kw):
        reads[entry.object_id] = reads.get(entry.object_id, 0) + 1
        return real(self, entry, **kw)

    monkeypatch.setattr(type(rt.staging), "get_table", counted)
    return reads


@pytest.mark.parametrize("chunk_rows", [1000, 100_000])
def test_one_pass_equals_two_passes(run, monkeypatch, chunk_rows):
    rt, run_key = run(chunk_rows)
    expected = _reference(rt, run_key)
    reads = _counting(rt, monkeypatch)
    result = stage_classify_and_validate(rt, "crm", run_key)

    cdoc = rt.staging.get(result["classification_key"], ClassificationDocument)
    vdoc = rt.staging.get(result["validation_key"], ValidationDocument)
    for t in cdoc.tables:
        got_columns = {c.column: (c.pi_type, c.level, c.confidence) for c in t.columns}
        v = vdoc.table(t.table)
        got_validation = (v.valid_rows, v.quarantined_rows, [r.unexpected for r in v.results])
        assert (got_columns, got_validation) == expected[t.table], t.table
    assert vdoc.table("contacts").quarantined_rows > 0  # the demo data carries bad e-mails

    manifest = rt.manifest("crm", run_key)
    contacts = manifest.table("contacts")
    sparse = manifest.table("sparse")
    counts = [reads[e.object_id] for e in contacts.chunks]
    if chunk_rows >= contacts.extracted_rows:
        # One chunk holds every sample: settled at once, decrypted once.
        assert result["passes"]["contacts"] == 1 and counts == [1]
    else:
        # Small chunks: a nullable text column may need a second chunk to fill its sample; only the
        # chunks read before it settled are decrypted again, the rest once.
        assert counts[-1] == 1 and set(counts) <= {1, 2}
        assert result["passes"]["contacts"] == (2 if 2 in counts else 1)
    # sparse never settles early: its chunks are read twice, and its result is still exact.
    assert result["passes"]["sparse"] == 2
    assert {reads[e.object_id] for e in sparse.chunks} == {2}
    if chunk_rows == 1000:
        assert len(contacts.chunks) == 3


def test_two_pass_mode_gives_the_same_documents(run, monkeypatch):
    rt, run_key = run(1000)
    expected = _reference(rt, run_key)
    reads = _counting(rt, monkeypatch)
    result = stage_classify_and_validate(rt, "crm", run_key, single_pass=False)
    cdoc = rt.staging.get(result["classification_key"], ClassificationDocument)
    vdoc = rt.staging.get(result["validation_key"], ValidationDocument)
    for t in cdoc.tables:
        v = vdoc.table(t.table)
        assert ({c.column: (c.pi_type, c.level, c.confidence) for c in t.columns},
                (v.valid_rows, v.quarantined_rows, [r.unexpected for r in v.results])) == expected[t.table]
    assert result["passes"] == {"contacts": 2, "sparse": 2}
    assert set(reads.values()) == {2}


def test_batched_validation_writes_each_chunks_quarantine(run, monkeypatch):
    """Chunks validated together (one GX run per batch) still get their own quarantine object,
    holding exactly the rows validating that chunk alone (with the table's tracker) quarantines."""
    from custody.stages import inspect as inspect_stage

    monkeypatch.setattr(inspect_stage._TableValidation, "BATCH_ROWS", 2000)  # the first chunk, then 2
    runs = []
    real = inspect_stage._TableValidation.validate

    def counted(self, rt, batch):
        runs.append(len(batch))
        return real(self, rt, batch)

    monkeypatch.setattr(inspect_stage._TableValidation, "validate", counted)
    import threading

    writers = set()
    real_store = inspect_stage._TableValidation._store

    def store(self, rt, entry, q):  # written by the stage's thread, off the validation worker
        writers.add(threading.current_thread().name)
        return real_store(self, rt, entry, q)

    monkeypatch.setattr(inspect_stage._TableValidation, "_store", store)
    rt, run_key = run(1000)
    result = stage_classify_and_validate(rt, "crm", run_key)
    assert writers == {threading.current_thread().name}
    vdoc = rt.staging.get(result["validation_key"], ValidationDocument)
    manifest = rt.manifest("crm", run_key)
    tm = manifest.table("contacts")
    rules_doc = vdoc.table("contacts")
    assert len(tm.chunks) == 3 and runs == [1, 2] * result["passes"]["contacts"]

    columns = TableClassifier(load_policy(rt.settings.config_dir / "policy.yaml"), source="crm", table="contacts",
                              as_of=datetime.fromisoformat(manifest.created_at).date())
    for entry in tm.chunks:
        columns.observe(rt.staging.get_table(entry))
    cfg = next(t for t in rt.sources.source("crm").tables if t.name == "contacts")
    rules = derive_rules([c.model_dump() for c in cfg.checks], [c.model_dump(mode="json") for c in columns.result()],
                         tm.primary_key, rt.sources.source("crm").failing_share(cfg), table="contacts")
    tracker = KeyTracker("contacts")
    expected = {}
    for entry in tm.chunks:
        q = validate_chunk(rt.staging.get_table(entry), rules, tracker=tracker).quarantine
        if q.num_rows:
            expected[entry.chunk] = q
    got = {e.chunk: rt.staging.get_table(e) for e in rules_doc.quarantine}
    assert sorted(got) == sorted(expected) and expected
    for chunk, q in expected.items():
        assert got[chunk].equals(q), chunk


class _Staging:
    """Reads tables by entry name; ``bad`` fails like a chunk that does not authenticate."""

    def __init__(self, bad: str | None = None):
        self.bad, self.reads = bad, []

    def get_table(self, entry, *, check_content=True):
        import threading

        self.reads.append((entry, threading.current_thread().name))
        if entry == self.bad:
            from custody.crypto.envelope import IntegrityError

            raise IntegrityError(f"object {entry}: authentication failed")
        return f"table of {entry}"


class _Rt:
    def __init__(self, staging):
        self.staging = staging


@pytest.mark.parametrize("entries", [[], ["c0"], ["c0", "c1", "c2", "c3"]])
def test_read_ahead_yields_every_chunk_in_order(entries):
    from custody.stages.inspect import _read_ahead

    staging = _Staging()
    got = list(_read_ahead(_Rt(staging), entries))
    assert got == [(e, f"table of {e}") for e in entries]
    assert [e for e, _ in staging.reads] == entries  # each chunk read exactly once
    if len(entries) > 1:
        assert all(name.startswith("custody-read") for _, name in staging.reads)


def test_read_ahead_raises_a_failed_read_at_that_chunk_and_stops_reading():
    from custody.crypto.envelope import IntegrityError
    from custody.stages.inspect import _read_ahead

    staging = _Staging(bad="c2")
    seen = []
    with pytest.raises(IntegrityError, match="c2"):
        for entry, _ in _read_ahead(_Rt(staging), ["c0", "c1", "c2", "c3", "c4"]):
            seen.append(entry)
    assert seen == ["c0", "c1"]
    assert [e for e, _ in staging.reads] == ["c0", "c1", "c2"]  # nothing read past the failure


def _validate_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("custody-validate")]


def _warm_up_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == "custody-gx-warm-up"]


def test_the_stage_warms_gx_up_and_leaves_no_thread_behind_either_way(run, monkeypatch):
    """GX's import and context start with the stage, in a thread the stage joins before it returns
    or raises."""
    from custody.validation import runner

    started = []
    real = runner.WarmUp.start

    def start(self):
        started.append(self)
        return real(self)

    monkeypatch.setattr(runner.WarmUp, "start", start)
    rt, run_key = run(200)
    assert stage_classify_and_validate(rt, "crm", run_key)["valid_rows"] > 0
    assert len(started) == 1 and started[0].seconds is not None and not started[0].failed
    assert _warm_up_threads() == []
    with pytest.raises(Exception, match="no such document"):
        stage_classify_and_validate(rt, "crm", "no-such-run")
    assert len(started) == 2 and started[1].seconds is not None  # joined: it had finished
    assert _warm_up_threads() == []


def test_a_failing_background_batch_fails_the_stage_and_leaves_no_worker(run, monkeypatch):
    """A batch validated in the worker thread raises in the stage, which ends without its documents."""
    from custody.stages import inspect as inspect_stage

    monkeypatch.setattr(inspect_stage._TableValidation, "BATCH_ROWS", 2000)
    real = inspect_stage._TableValidation.validate
    calls = []

    def failing(self, rt, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise OSError("disk gone while storing a quarantine object")
        return real(self, rt, batch)

    monkeypatch.setattr(inspect_stage._TableValidation, "validate", failing)
    rt, run_key = run(1000)
    with pytest.raises(Exception, match=r"failed \(OSError;"):  # the message withheld: it could quote a value
        stage_classify_and_validate(rt, "crm", run_key)
    assert len(calls) == 2
    assert _validate_threads() == []
    assert not rt.staging.exists(f"crm/{run_key}/validation.json")


def test_a_failing_read_waits_for_the_batch_in_validation(run, monkeypatch):
    """The stage's own failure (a chunk that cannot be read) does not leave a validation running:
    every batch the worker started has finished when the stage raises."""
    import threading

    from custody.stages import inspect as inspect_stage

    monkeypatch.setattr(inspect_stage._TableValidation, "BATCH_ROWS", 1000)
    started, finished = [], []
    release = threading.Event()  # validation holds until the read has failed
    real = inspect_stage._TableValidation.validate

    def held(self, rt, batch):
        started.append(len(batch))
        assert release.wait(10)
        stores = real(self, rt, batch)
        finished.append(len(batch))
        return stores

    monkeypatch.setattr(inspect_stage._TableValidation, "validate", held)
    rt, run_key = run(1000)
    real_get = type(rt.staging).get_table
    reads = []

    def get_table(self, entry, **kw):
        reads.append(entry.chunk)
        if len(reads) == 3:
            release.set()  # the batch under way goes on while the stage meets the failure
            raise OSError("chunk unreadable")
        return real_get(self, entry, **kw)

    monkeypatch.setattr(type(rt.staging), "get_table", get_table)
    with pytest.raises(Exception, match=r"failed \(OSError;"):
        stage_classify_and_validate(rt, "crm", run_key)
    assert started and finished == started  # none cut short, none still running
    assert _validate_threads() == []


def test_a_discarded_first_pass_still_raises_its_batchs_error_and_abandon_does_not(monkeypatch):
    """Before a second pass the first pass is discarded: a batch it validated that failed still fails
    the stage (as it would had it run in the stage's thread); a failing stage abandons quietly."""
    import threading
    from types import SimpleNamespace

    import pyarrow as pa
    from custody.stages import inspect as inspect_stage

    monkeypatch.setattr(inspect_stage._TableValidation, "BATCH_ROWS", 2)
    gate = threading.Event()

    def failing(self, rt, batch):
        gate.wait(5)
        raise RuntimeError("batch failed")

    monkeypatch.setattr(inspect_stage._TableValidation, "validate", failing)
    tm = SimpleNamespace(table="t", quarantine_reasons={})
    chunk = pa.table({"id": [1, 2]})
    for ending, expect_error in (("discard", True), ("abandon", False)):
        state = inspect_stage._TableValidation(None, tm)
        state.step(None, None, chunk)  # a full batch: submitted to the worker
        state.step(None, None, pa.table({"id": [3]}))  # buffered, never validated
        gate.set()
        if expect_error:
            with pytest.raises(RuntimeError, match="batch failed"):
                getattr(state, ending)()
        else:
            getattr(state, ending)()
        assert state._pending == [] and state._pool is None and _validate_threads() == []
        gate.clear()
