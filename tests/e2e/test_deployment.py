"""Custody as a real Airflow deployment: CeleryExecutor, two workers that share nothing but S3.

The stack of ``make stack`` (``scripts/stack.py``): Airflow metadata on this machine's PostgreSQL,
Celery on its Redis (own DB number), scheduler, dag-processor, API server, triggerer and two
Celery workers with separate ``CUSTODY_HOME`` folders; Custody's catalog on PostgreSQL; staging
and backups on a moto S3 server over HTTP. A PostgreSQL source of ``CONTACTS`` contacts (1M by
default; ``CUSTODY_STACK_CONTACTS`` overrides) is extracted in four key ranges.

1. A run triggered through the REST API succeeds, both workers ran extraction ranges (task
   instances' hostnames), and neither worker's home holds staging.
2. A second run in which one worker is SIGKILLed while it extracts a range: the range is retried
   on the other worker and the run converges to the same counts and content hashes.

Everything the stack started is stopped at the end. Needs PostgreSQL, Redis and the Celery
provider: skipped with the reason when missing, failed under ``CI=true``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from pathlib import Path

import pytest

from conftest import _unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = int(os.environ.get("CUSTODY_STACK_CONTACTS", "1000000"))
SPLIT = CONTACTS // 4
RUN_TIMEOUT = 2400


def _stack_module():
    spec = importlib.util.spec_from_file_location("custody_stack", ROOT / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    module = _stack_module()
    missing = module.missing_services()
    if missing:
        _unavailable("deployment stack cannot start: " + "; ".join(missing))
    s = module.Stack(tmp_path_factory.mktemp("stack"), workers=2, contacts=CONTACTS, split_rows=SPLIT,
                     redis_db=12, tag=f"_{os.getpid()}")
    with s, pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            mp.setenv(name, s.env[name])  # this process reads the stack's S3 staging too
        yield s


def _runtime(stack):
    from custody.settings import Settings
    from custody.stages import Runtime

    return Runtime(Settings.from_env(stack.env))


def _manifest(stack, run_id: str):
    from custody.documents import run_key_for

    return _runtime(stack).manifest("stack", run_key_for(run_id))


def _extract_hosts(stack, run_id: str) -> dict[int, list[tuple[str, str]]]:
    """``{map_index: [(hostname, state) of every try]}`` of the run's extraction ranges."""
    out = {}
    for ti in stack.task_instances(run_id):
        if ti["task_id"] == "extract_part":
            out[ti["map_index"]] = [(t["hostname"], t["state"]) for t in
                                    stack.tries(run_id, "extract_part", ti["map_index"])]
    return out


def _wait_for_first_chunk(stack, run_id: str, part: int, deadline: float) -> bool:
    """Wait until range ``part`` of the run has staged a chunk (a range of ``SPLIT`` rows is several
    chunks), polling staging every 50 ms; False when the range stopped running first. A fixed wait
    after the task started raced a fast range (the workers preload Custody's modules, so a task
    starts extracting at once)."""
    from custody.documents import run_key_for
    from custody.documents.layout import extraction_prefixes

    folder, _ = extraction_prefixes("stack", run_key_for(run_id), "contacts", part)
    staging = _runtime(stack).staging
    polls = 0
    while time.monotonic() < deadline:
        if any(k.rsplit("/", 1)[-1].startswith("chunk-") for k in staging.list_keys(folder)):
            return True
        polls += 1
        if polls % 20 == 0 and not _running(stack, run_id, part):
            return False
        time.sleep(0.05)
    return False


def _running(stack, run_id: str, part: int) -> bool:
    return any(ti["task_id"] == "extract_part" and ti["map_index"] == part and ti["state"] == "running"
               for ti in stack.task_instances(run_id))


def test_two_workers_run_the_ranges_and_a_killed_worker_s_range_is_retried_elsewhere(stack):
    # 1. A run on both workers.
    first = stack.trigger("deploy__both_workers")
    assert stack.wait_run(first, RUN_TIMEOUT) == "success", stack.tail()
    print("timings, both workers:", json.dumps(stack.timings(first)))  # shown with -s (docs/scaling.md)
    hosts = _extract_hosts(stack, first)
    assert len(hosts) >= 4 and sorted(hosts) == list(range(len(hosts)))  # key ranges of CONTACTS // 4
    workers = {h.split("@")[0] for tries in hosts.values() for h, state in tries if state == "success"}
    assert workers == {"worker-1", "worker-2"}, hosts
    manifest = _manifest(stack, first)
    (contacts,) = manifest.tables
    assert contacts.source_rows == CONTACTS
    assert contacts.extracted_rows + contacts.quarantined_at_extract == CONTACTS
    for n in (1, 2):
        assert not (stack.root / f"worker-{n}" / "staging").exists()
    states = {ti["task_id"]: ti["state"] for ti in stack.task_instances(first)}
    assert states["back_up"] == "success" and states["report"] == "success"
    # Each worker imported Custody's task modules once, before its pool forked the tasks.
    for n in (1, 2):
        out = (stack.root / "logs" / f"worker-{n}.out").read_text(encoding="utf-8", errors="replace")
        assert re.search(r"Custody preloaded \d+ module\(s\) in [\d.]+ s; 0 failed", out), out[-3000:]

    # 2. The same source again; one worker is killed (SIGKILL, its whole process group) while it
    # extracts a range.
    second = stack.trigger("deploy__worker_killed")
    victim = None
    deadline = time.monotonic() + RUN_TIMEOUT
    tried: set[int] = set()
    while victim is None and time.monotonic() < deadline:
        running = [ti for ti in stack.task_instances(second) if ti["task_id"] == "extract_part"
                   and ti["state"] == "running" and ti["hostname"] and ti["map_index"] not in tried]
        if not running:
            time.sleep(0.2)
            continue
        candidate = (running[0]["map_index"], running[0]["hostname"].split("@")[0])
        tried.add(candidate[0])
        # Mid-range: it has staged a chunk and is still running (a range may finish in between).
        if _wait_for_first_chunk(stack, second, candidate[0], deadline) and _running(stack, second, candidate[0]):
            victim = candidate
    assert victim is not None, stack.tail()
    stack.kill(victim[1])
    assert stack.wait_run(second, RUN_TIMEOUT) == "success", stack.tail()

    print("timings, one worker killed:", json.dumps(stack.timings(second)))
    tries = _extract_hosts(stack, second)[victim[0]]
    assert len(tries) >= 2, tries
    assert tries[0][0].split("@")[0] == victim[1] and tries[0][1] != "success"
    survivor = {"worker-1": "worker-2", "worker-2": "worker-1"}[victim[1]]
    assert tries[-1][1] == "success" and tries[-1][0].split("@")[0] == survivor
    again = _manifest(stack, second)
    (contacts2,) = again.tables
    assert (contacts2.source_rows, contacts2.extracted_rows, contacts2.quarantined_at_extract) == (
        contacts.source_rows, contacts.extracted_rows, contacts.quarantined_at_extract)
    assert contacts2.content_hash == contacts.content_hash
    # The retried range replaced what the killed try staged: exactly the objects its document lists.
    staged = _runtime(stack).staging.list_keys(f"stack/{again.run_key}/tables/contacts/")
    assert sorted(staged) == sorted(e.key for e in [*contacts2.chunks, *contacts2.row_keys])
