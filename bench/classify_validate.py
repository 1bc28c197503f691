"""Classification + validation benchmark: one decrypting pass against two, on the CRM ``contacts``.

Not a test: a script that prints figures. ``make bench-classify-validate`` or::

    .venv/bin/python bench/classify_validate.py [--size 1000000] [--server URL]

It builds (or reuses) the PostgreSQL scratch database of ``bench/extract.py`` with ``contacts`` at
``--size`` rows, extracts it into a temporary ``CUSTODY_HOME`` with the demo's checks for
``contacts`` (``include/config/sources.yaml``), then times, each in a fresh subprocess:

- **one pass**: ``custody.stages.stage_classify_and_validate`` (what the DAG runs): every chunk
  decrypted once and fed to both the classifier and validation;
- **two passes**: the former design, through the same function (``single_pass=False``): every
  chunk decrypted for the classifier, then every chunk decrypted again for validation.

Printed: seconds, rows/s and peak RSS of each (with each one's split into classification and
validation), and the ratio. The validation and classification
results of both are compared (they must be equal). Every run also reports the seconds spent in
classification (``TableClassifier`` calls) and in validation (validating and storing each
chunk's quarantine), with their rows/s, to compare with extraction's.

``--baseline DIR`` compares code instead of designs: the one-pass stage of another checkout
(``DIR/include`` first on ``PYTHONPATH``, e.g. the main branch) against this tree's, alternating
runs on the same extracted data, and prints both with the speed-ups. Validation counts may differ
only where the rules changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = os.environ.get("CUSTODY_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")

SOURCES = """version: 1
backup: {{local: true, s3_conn_id: null}}
sources:
  - name: bench
    conn_id: bench
    lawful_basis: contract
    retention_class: bench
    chunk_rows: 50000
    split_rows: 100000000
    tables:
      - name: contacts
        checks:
{checks}
"""

ONE_PASS = r"""
import json, sys, time
import custody.stages.inspect as inspect_stage
from custody.classification.classifier import TableClassifier
from custody.stages import Runtime, stage_classify_and_validate

spent = {"classify": 0.0, "validate": 0.0, "classify_cpu": 0.0, "validate_cpu": 0.0}
depth = {"classify": 0, "validate": 0}


def timed(cls, name, part):
    original = getattr(cls, name)

    def run(*args, **kwargs):  # nested timed calls (step -> flush) count once
        t, c = time.perf_counter(), time.thread_time()  # this thread's CPU: the two run in parallel
        depth[part] += 1
        try:
            return original(*args, **kwargs)
        finally:
            depth[part] -= 1
            if depth[part] == 0:
                spent[part] += time.perf_counter() - t
                spent[part + "_cpu"] += time.thread_time() - c

    setattr(cls, name, run)


for name in ("observe", "result", "minors"):
    timed(TableClassifier, name, "classify")
# Validation's time: its batches' own (validated in a worker thread since 4 December 2026), or in
# older code (a --baseline checkout) the calls that validated in the stage's thread.
for name in (("validate",) if hasattr(inspect_stage._TableValidation, "validate") else ("step", "flush")):
    timed(inspect_stage._TableValidation, name, "validate")
# GX's import and context in the stage's warm-up thread (since 5 December 2026) are validation's
# set-up: they count as validation (overlapping intervals once), as they did inside the first batch.
try:
    from custody.validation.runner import WarmUp
except ImportError:
    pass
else:
    timed(WarmUp, "_run", "validate")
rt = Runtime.from_env()
t0, c0 = time.perf_counter(), time.process_time()
out = stage_classify_and_validate(rt, "bench", sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "valid": out["valid_rows"],
                  "quarantined": out["quarantined_rows"], "levels": out["columns_by_level"],
                  "passes": out["passes"], **spent}))
"""

TWO_PASSES = ONE_PASS.replace('sys.argv[1])', 'sys.argv[1], single_pass=False)')


def _run_child(code: str, env: dict[str, str], run_key: str) -> tuple[dict, float]:
    """Run ``code`` in a fresh interpreter; return its JSON line and its peak RSS in MiB."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-c", code, run_key], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                peak = max(peak, p.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed with exit code {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), peak / 2**20


def _line(name: str, run: dict, rss: float, rows: int) -> str:
    """Wall seconds and rows/s (CPU seconds and rows per CPU second in brackets: on a shared machine
    the wall figures carry the other jobs' load)."""
    return (f"{name}: {run['seconds']:.1f} s ({rows / run['seconds']:,.0f} rows/s) [cpu {run['cpu']:.1f} s]; "
            f"classify {run['classify']:.1f} s ({rows / run['classify']:,.0f} rows/s) "
            f"[cpu {run['classify_cpu']:.1f} s, {rows / run['classify_cpu']:,.0f} rows/s]; "
            f"validate {run['validate']:.1f} s ({rows / run['validate']:,.0f} rows/s) "
            f"[cpu {run['validate_cpu']:.1f} s, {rows / run['validate_cpu']:,.0f} rows/s]; "
            f"peak RSS {rss:.0f} MiB; quarantined {run['quarantined']:,}")


def _compare_code(args, env: dict[str, str], run_key: str, rows: int) -> None:
    """One-pass runs of ``args.baseline`` and of this tree, alternating; print each and the best."""
    trees = {"baseline": args.baseline.resolve(), "this tree": ROOT}
    runs: dict[str, list[tuple[dict, float]]] = {name: [] for name in trees}
    for i in range(args.repeat):
        for name, tree in trees.items():
            path = os.pathsep.join([str(tree / "include"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            result = _run_child(ONE_PASS, {**env, "PYTHONPATH": path}, run_key)
            runs[name].append(result)
            print(_line(f"run {i + 1} {name}", *result, rows), flush=True)
    best = {name: min(r, key=lambda x: x[0]["seconds"]) for name, r in runs.items()}
    for name, (run, rss) in best.items():
        print(_line(f"best of {args.repeat}, {name}", run, rss, rows))
    (base, _), (this, _) = best["baseline"], best["this tree"]
    print(f"speed-up (baseline / this tree): total {base['seconds'] / this['seconds']:.2f}x, "
          f"classify {base['classify'] / this['classify']:.2f}x, validate {base['validate'] / this['validate']:.2f}x; "
          f"classification equal: {base['levels'] == this['levels']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--block", type=int, default=100_000, help="contacts generated before replication")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each design, alternating")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout: compare its one-pass stage with this tree's, alternating")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "bench"))
    import yaml
    from extract import prepare  # bench/extract.py: the shared scratch database

    import sqlalchemy as sa

    url = prepare(args.server, args.size, args.block)
    demo = yaml.safe_load((ROOT / "include" / "config" / "sources.yaml").read_text(encoding="utf-8"))
    checks = next(t for t in demo["sources"][0]["tables"] if t["name"] == "contacts")["checks"]
    with tempfile.TemporaryDirectory(prefix="custody-bench-inspect-") as home:
        config = Path(home) / "config"
        config.mkdir()
        (config / "sources.yaml").write_text(
            SOURCES.format(checks="\n".join(f"          - {json.dumps(c)}" for c in checks)), encoding="utf-8")
        shutil.copy(ROOT / "include" / "config" / "policy.yaml", config / "policy.yaml")
        env = {**os.environ, "CUSTODY_HOME": home, "CUSTODY_CONFIG_DIR": str(config)}
        env.pop("CUSTODY_KEYRING", None)
        env.pop("CUSTODY_CATALOG_URL", None)
        os.environ.update({"CUSTODY_HOME": home, "CUSTODY_CONFIG_DIR": str(config)})
        from custody.catalog import migrate
        from custody.crypto.open import init_keyring
        from custody.stages import Runtime, stage_extract

        rt = Runtime.from_env()
        migrate(sa.create_engine(rt.settings.catalog_url))
        init_keyring(rt.settings.keyring)  # the deployment's `custody keys init`
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        t0 = time.perf_counter()
        out = stage_extract(rt, engine, "bench", "bench__inspect")
        engine.dispose()
        rows = out["rows"]["contacts"]
        print(f"[{rows:,} rows] extracted in {time.perf_counter() - t0:.1f} s", flush=True)

        if args.baseline:
            _compare_code(args, env, out["run_key"], rows)
            return
        # Alternate the two designs and keep each one's fastest run: other load on the machine
        # then falls on both alike.
        runs: dict[str, list[tuple[dict, float]]] = {"two": [], "one": []}
        for _ in range(args.repeat):
            runs["two"].append(_run_child(TWO_PASSES, env, out["run_key"]))
            runs["one"].append(_run_child(ONE_PASS, env, out["run_key"]))
    (two, two_rss), (one, one_rss) = (min(runs[k], key=lambda r: r[0]["seconds"]) for k in ("two", "one"))
    same = (one["valid"], one["quarantined"], one["levels"]) == (two["valid"], two["quarantined"], two["levels"])
    for name, best, rss in (("two passes (classify, then validate)", two, two_rss),
                            ("one pass (classify and validate)", one, one_rss)):
        print(f"{name}: best of {args.repeat} {best['seconds']:.1f} s, {rows / best['seconds']:,.0f} rows/s, "
              f"peak RSS {rss:.0f} MiB, passes {best['passes']}")
        print("  " + _line("best", best, rss, rows))
    print(f"one pass / two passes time: {one['seconds'] / two['seconds']:.2f}; results equal: {same}")


if __name__ == "__main__":
    main()
