"""Column-classification benchmark: Custody's classifier against Presidio on the same labelled cells.

Not a test: a script that prints figures. ``make bench-classify`` or::

    .venv/bin/python bench/classify/run.py [--rows 200] [--repeat 3] [--check]

Data and labels: ``bench/classify/dataset.py`` builds the tables (Chinook when present, the generated
Chinese CRM, Faker en_US and de_DE/fr_FR/ja_JP/zh_TW, hard negatives); ``ground_truth.yaml`` holds one
label per column. Both classifiers see exactly the same cells: the first ``--rows`` rows of each table.

Custody: ``TableClassifier`` with ``include/config/policy.yaml``, one table at a time (header and
values; the free-text full scan and the minors scan included in the time).

Presidio (``presidio-analyzer``, pinned in ``requirements-bench.txt``): ``BatchAnalyzerEngine`` over
each column's cells, with the column name's words as context. No trained spaCy model can be
installed offline, so the NLP engine is a BLANK spaCy pipeline (``spacy.blank("en")`` saved to a
temporary folder and loaded through ``NlpEngineProvider``): Presidio's pattern recognizers (e-mail,
phone, credit card, IBAN, IP, SSN, dates, MAC ...) work, its NER-based entities (PERSON, LOCATION,
ORGANIZATION, NER dates) cannot fire. tldextract reads its bundled public-suffix snapshot (no network).

Column decision for Presidio: per cell, the highest-scoring recognised entity (score >= ``--score``)
mapped to a Custody PI type; the column gets the most frequent mapped type if it covers at least
``--min-share`` of the column's cells, else no PI type. Mapping (Presidio -> Custody):
EMAIL_ADDRESS->email; PHONE_NUMBER->phone (also counted correct on mainland-mobile columns:
Presidio has no such entity, so it is not penalised for the finer type); CREDIT_CARD, IBAN_CODE,
US_BANK_NUMBER->bank_account; IP_ADDRESS->ip_address; US_SSN->ssn; MAC_ADDRESS->device_id;
US_PASSPORT->passport; PERSON->person_name; LOCATION->postal_address; ORGANIZATION->org_name;
DATE_TIME->birth_date (Presidio has no date-of-birth entity: this is the only way it can find one,
at the price of every other date column). Everything else (URL, UUID, US_DRIVER_LICENSE, ...) -> none.

Scores: per PI type, precision, recall and F1 over columns (a column with the wrong type counts as a
false positive of the predicted type and a false negative of the true one); overall = micro-average
over all typed columns. Throughput: cells and UTF-8 kilobytes of those cells per second of
classification, engine set-up excluded (median of ``--repeat`` runs for Custody, one for Presidio).
Goals (issue "classification"): overall F1 >= 0.95 and above Presidio's; throughput >= 2x Presidio.

Header variants (issue 17, classification that does not lean on headers): the same cells are
classified three times, with the normal headers, with every header replaced by a neutral name
(``c01``, ``c02``, ... : values alone decide) and with pinyin-initial headers (``xm``, ``sfzh``,
``lxdh`` ..., from ``ground_truth.yaml``); overall F1 of each is printed beside Presidio's on the same
headers (its context words come from the header). Goals: neutral >= 0.90, pinyin >= 0.95, normal
>= 0.95, and the throughput not below half of the classifier's before issue 17: ``--reference
<checkout>`` (e.g. ``git worktree add ../before <commit before issue 17>``) times both checkouts'
classifiers on the same cells, each in its own process, alternating ``--rounds`` times, and prints
the ratio of their median CPU times beside wall times (a shared machine stretches wall time).

Calibration and hold-out: the values-only models were calibrated on the tables not listed under
``holdout`` in ``ground_truth.yaml``; F1 is printed for all tables, for the calibration tables and
for the held-out ones. ``--hide-holdout`` lists misclassified columns of calibration tables only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import dataset  # noqa: E402

PRESIDIO_TO_CUSTODY = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "bank_account",
    "IBAN_CODE": "bank_account",
    "US_BANK_NUMBER": "bank_account",
    "IP_ADDRESS": "ip_address",
    "US_SSN": "ssn",
    "MAC_ADDRESS": "device_id",
    "US_PASSPORT": "passport",
    "PERSON": "person_name",
    "LOCATION": "postal_address",
    "ORGANIZATION": "org_name",
    "DATE_TIME": "birth_date",
}
ORG_TYPES = {"org_name", "uscc", "industry"}
#: Custody types Presidio can find with a pattern recognizer (no NER model needed).
PATTERN_TYPES = {
    "email",
    "phone",
    "mobile_phone",
    "bank_account",
    "ip_address",
    "ssn",
    "device_id",
    "passport",
    "birth_date",
}
GOAL_F1 = 0.95
GOAL_SPEEDUP = 2.0
#: Overall F1 goals per header variant (issue 17).
GOAL_F1_BY_HEADERS = {"normal": 0.95, "neutral": 0.90, "pinyin": 0.95}
#: Throughput goal of issue 17: at least half the classifier's before it (``--reference``).
GOAL_VS_REFERENCE = 0.5


def cells_of(table) -> dict[str, list[str]]:
    """Non-null cells of each column as the text Presidio is given (``str(value)``)."""
    return {
        name: [str(v) for v in table.column(name).to_pylist() if v is not None] for name in table.column_names
    }


# ----------------------------------------------------------------------------------- Custody
def run_custody(tables, repeat: int, root: Path = ROOT) -> tuple[dict[tuple[str, str], str | None], float]:
    """Classify every table ``repeat`` times after one warm-up; ``(predictions, median seconds)``.
    ``root``: the checkout whose ``include/config/policy.yaml`` is used (its package must be the one
    imported)."""
    from custody.classification import TableClassifier, load_policy

    policy = load_policy(root / "include" / "config" / "policy.yaml")

    def once():
        out = {}
        for bt in tables:
            group, name = bt.name.split(".", 1)
            clf = TableClassifier(policy, source=group, table=name)
            clf.observe(bt.data)
            results = clf.result()
            clf.minors(results)
            out.update({(bt.name, r.column): r.pi_type for r in results})
        return out

    once()  # warm-up: regex compilation, given-name dictionary, library imports
    times, preds = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        preds = once()
        times.append(time.perf_counter() - started)
    return preds, statistics.median(times)


def time_only(rows: int, repeat: int, root: Path) -> None:
    """``--time-only``: print one JSON line with this process's timed runs (wall and CPU seconds)."""
    import json

    from custody.classification import TableClassifier, load_policy

    tables, _ = dataset.load(rows)
    policy = load_policy(root / "include" / "config" / "policy.yaml")

    def once():
        for bt in tables:
            group, name = bt.name.split(".", 1)
            clf = TableClassifier(policy, source=group, table=name)
            clf.observe(bt.data)
            clf.minors(clf.result())

    once()
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        once()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    print(json.dumps({"wall": wall, "cpu": cpu}))


def compare_with(reference: Path, rows: int, repeat: int, rounds: int, n_cells: int) -> float:
    """Time this checkout's classifier and ``reference``'s back to back, each in its own process
    (``--time-only`` with ``PYTHONPATH`` at the checkout's ``include``), alternating ``rounds``
    times; prints both and returns the ratio of the median CPU times (reference / this), i.e. this
    checkout's throughput as a multiple of the reference's. CPU time is reported beside wall time
    because other processes on a shared machine stretch wall time, not CPU time."""
    import json
    import subprocess

    runs: dict[str, dict[str, list[float]]] = {"this": {"wall": [], "cpu": []}, "reference": {"wall": [], "cpu": []}}
    for _ in range(rounds):
        for label, root in (("reference", reference.resolve()), ("this", ROOT)):
            env = dict(os.environ, PYTHONPATH=str(root / "include"))
            cmd = [sys.executable, str(HERE / "run.py"), "--time-only", "--rows", str(rows), "--repeat", str(repeat)]
            cmd += ["--policy-root", str(root)]
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            got = json.loads(out.strip().splitlines()[-1])
            runs[label]["wall"] += got["wall"]
            runs[label]["cpu"] += got["cpu"]
    print(f"Back to back with {reference} ({rounds} alternating rounds of {repeat} runs, same cells):")
    med = {k: {m: statistics.median(v[m]) for m in ("wall", "cpu")} for k, v in runs.items()}
    for label in ("reference", "this"):
        w, c = med[label]["wall"], med[label]["cpu"]
        print(f"  {label:<9}: wall {w:7.3f} s ({n_cells / w:8.0f} cells/s),", end="")
        print(f" CPU {c:7.3f} s ({n_cells / c:8.0f} cells/s)")
    ratio = med["reference"]["cpu"] / med["this"]["cpu"]
    wall_ratio = med["reference"]["wall"] / med["this"]["wall"]
    print(f"  throughput of this checkout = {ratio:.2f}x the reference's (CPU), {wall_ratio:.2f}x (wall)")
    return ratio


# ----------------------------------------------------------------------------------- Presidio
def presidio_engine():
    """A Presidio AnalyzerEngine on a blank spaCy English pipeline (pattern recognizers only)."""
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    # The e-mail recognizer validates domains with tldextract, which would try to download the
    # public-suffix list; the bundled snapshot gives the same answer offline.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    email_recognizer.tldextract = type("Offline", (), {"extract": staticmethod(offline)})

    with tempfile.TemporaryDirectory(prefix="custody-bench-spacy-") as folder:
        spacy.blank("en").to_disk(folder)  # create_engine loads it into memory; the folder can go
        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": folder}],
            }
        )
        return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def run_presidio(tables, score: float, min_share: float):
    from presidio_analyzer import BatchAnalyzerEngine

    from custody.naming import column_tokens

    started = time.perf_counter()
    engine = BatchAnalyzerEngine(presidio_engine())
    setup = time.perf_counter() - started
    engine.analyze_iterator(["warm-up a@b.example +1 202 555 0143"], language="en")
    preds: dict[tuple[str, str], str | None] = {}
    seconds = 0.0
    for bt in tables:
        for column, cells in cells_of(bt.data).items():
            if not cells:
                preds[(bt.name, column)] = None
                continue
            started = time.perf_counter()
            results = engine.analyze_iterator(
                cells, language="en", batch_size=64, context=column_tokens(column), score_threshold=score
            )
            seconds += time.perf_counter() - started
            votes: Counter = Counter()
            for found in results:
                mapped = [
                    (r.score, PRESIDIO_TO_CUSTODY[r.entity_type])
                    for r in found
                    if r.entity_type in PRESIDIO_TO_CUSTODY
                ]
                if mapped:
                    votes[max(mapped)[1]] += 1
            top = votes.most_common(1)
            preds[(bt.name, column)] = top[0][0] if top and top[0][1] >= min_share * len(cells) else None
    return preds, seconds, setup


# ----------------------------------------------------------------------------------- scoring
def prf(tp: int, fp: int, fn: int) -> tuple[float | None, float | None, float]:
    """Precision (None: nothing predicted), recall (None: nothing to find) and F1 (0 when either is 0)."""
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if p and r else 0.0
    return p, r, f


def score(truth: dict, preds: dict, types: set[str] | None = None) -> dict[str, tuple[int, int, int]]:
    """Per type ``(tp, fp, fn)`` over columns; ``types`` restricts which labels count."""
    counts: dict[str, list[int]] = {}
    for key, t in truth.items():
        p = preds.get(key)
        if types is not None:
            t = t if t in types else None
            p = p if p in types else None
        if t is not None:
            counts.setdefault(t, [0, 0, 0])
        if p is not None:
            counts.setdefault(p, [0, 0, 0])
        if t is not None and p == t:
            counts[t][0] += 1
        else:
            if p is not None:
                counts[p][1] += 1
            if t is not None:
                counts[t][2] += 1
    return {k: tuple(v) for k, v in counts.items()}  # type: ignore[misc]


def overall(counts: dict[str, tuple[int, int, int]]) -> tuple[float, float, float]:
    tp = sum(c[0] for c in counts.values())
    fp = sum(c[1] for c in counts.values())
    fn = sum(c[2] for c in counts.values())
    return prf(tp, fp, fn)


def fmt(x: tuple[float | None, float | None, float] | None) -> str:
    if x is None:
        return "   -     -     -  "
    return " ".join("    -" if v is None else f"{v:5.2f}" for v in x)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200, help="rows per table (the same cells for both)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of Custody's classifier (median)")
    ap.add_argument("--score", type=float, default=0.4, help="Presidio score threshold per entity")
    ap.add_argument(
        "--min-share", type=float, default=0.5, help="Presidio: share of cells the column's type needs"
    )
    ap.add_argument("--no-presidio", action="store_true", help="score Custody only")
    ap.add_argument(
        "--headers",
        default=",".join(dataset.HEADERS),
        help="header variants to run, comma-separated (normal, neutral, pinyin); the first gets the details",
    )
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument(
        "--reference",
        type=Path,
        help="a checkout of the code before issue 17 (git worktree): time both back to back, print the ratio",
    )
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds with --reference")
    ap.add_argument(
        "--hide-holdout", action="store_true", help="list misclassified columns of calibration tables only"
    )
    ap.add_argument("--time-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--policy-root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.time_only:
        time_only(args.rows, args.repeat, args.policy_root)
        return 0

    variants = [v.strip() for v in args.headers.split(",") if v.strip()]
    tables, notes = dataset.load(args.rows)
    tables = dataset.rename(tables, variants[0])
    truth = {(bt.name, c): t for bt in tables for c, t in bt.truth.items()}
    n_cells = n_bytes = 0
    for bt in tables:
        for cells in cells_of(bt.data).values():
            n_cells += len(cells)
            n_bytes += sum(len(c.encode("utf-8")) for c in cells)
    typed = sum(1 for t in truth.values() if t is not None)
    print(
        f"Benchmark: {len(tables)} tables, {len(truth)} columns ({typed} with a PI or organisation type, "
        f"{len(truth) - typed} negatives), {n_cells} cells, {n_bytes / 1024:.1f} KiB"
    )
    for note in notes:
        print(f"  note: {note}")

    ours, ours_s = run_custody(tables, args.repeat)
    theirs, theirs_s, setup = None, None, None
    if not args.no_presidio:
        try:
            import presidio_analyzer  # noqa: F401
        except ImportError:
            print(
                "  note: presidio-analyzer is not installed "
                "(pip install -r requirements-bench.txt -c constraints.txt)"
            )
        else:
            theirs, theirs_s, setup = run_presidio(tables, args.score, args.min_share)
            # Presidio has one phone entity: a PHONE_NUMBER decision on a mainland-mobile column counts.
            theirs = {
                k: ("mobile_phone" if p == "phone" and truth[k] == "mobile_phone" else p)
                for k, p in theirs.items()
            }

    c_ours = score(truth, ours)
    c_theirs = score(truth, theirs) if theirs is not None else {}
    types = sorted({t for t in truth.values() if t is not None} | {p for p in ours.values() if p})
    print()
    print(
        "Presidio: presidio-analyzer with a BLANK spaCy pipeline (spacy.blank('en') via NlpEngineProvider):"
    )
    print("  pattern recognizers only; PERSON, LOCATION, ORGANIZATION (NER) cannot be found without a model.")
    print()
    print(f"{'PI type':<16}{'cols':>5}   {'Custody  P     R    F1':<22}   {'Presidio P     R    F1':<22}")
    for t in types:
        support = sum(1 for v in truth.values() if v == t)
        ot = prf(*c_ours[t]) if t in c_ours else None
        pt = prf(*c_theirs[t]) if t in c_theirs else None
        label = t + (" (org)" if t in ORG_TYPES else "")
        print(f"{label:<16}{support:>5}   {fmt(ot):<22}   {fmt(pt) if theirs is not None else 'not run':<22}")
    rows = [("overall (all types)", None)]
    rows.append(("overall (PI only, no org)", {t for t in types if t not in ORG_TYPES}))
    rows.append(("overall (Presidio patterns)", PATTERN_TYPES))
    print("-" * 70)
    summary = {}
    for label, subset in rows:
        o = overall(score(truth, ours, subset))
        p = overall(score(truth, theirs, subset)) if theirs is not None else None
        summary[label] = (o, p)
        print(f"{label:<27}{fmt(o):<22}   {fmt(p) if p else 'not run':<22}")

    holdout = dataset.load_holdout()
    show = (lambda key: key[0] not in holdout) if args.hide_holdout else (lambda key: True)
    wrong = [(k, truth[k], ours[k]) for k in truth if ours[k] != truth[k]]
    print()
    print(f"Custody misclassified {len(wrong)} of {len(truth)} columns" + (":" if wrong else "."))
    for (table, column), t, p in wrong:
        if show((table, column)):
            print(f"  {table}.{column}: truth {t}, got {p}")
    if theirs is not None:
        missed = sum(1 for k in truth if theirs[k] != truth[k])
        print(f"Presidio misclassified {missed} of {len(truth)} columns.")

    print()
    print(f"Throughput over the same {n_cells} cells ({n_bytes / 1024:.1f} KiB), set-up excluded:")
    print(
        f"  Custody : {ours_s:8.3f} s  {n_cells / ours_s:10.0f} cells/s  {n_bytes / 1024 / ours_s:9.1f} KB/s"
        f"  (median of {args.repeat})"
    )
    speedup = None
    if theirs_s:
        speedup = theirs_s / ours_s
        print(
            f"  Presidio: {theirs_s:8.3f} s  {n_cells / theirs_s:10.0f} cells/s"
            f"  {n_bytes / 1024 / theirs_s:9.1f} KB/s"
            f"  (engine set-up {setup:.1f} s not counted)"
        )
        print(f"  Custody is {speedup:.1f}x Presidio's pattern-only throughput")

    f1_ours = summary["overall (all types)"][0][2]
    f1_theirs = summary["overall (all types)"][1][2] if theirs is not None else None
    goals = [(f"overall F1 {f1_ours:.3f} >= {GOAL_F1}", f1_ours >= GOAL_F1)]
    if f1_theirs is not None:
        goals.append((f"overall F1 {f1_ours:.3f} > Presidio's {f1_theirs:.3f}", f1_ours > f1_theirs))
        goals.append((f"throughput {speedup:.1f}x >= {GOAL_SPEEDUP}x Presidio", speedup >= GOAL_SPEEDUP))
    if args.reference is not None:
        print()
        ratio = compare_with(args.reference, args.rows, args.repeat, args.rounds, n_cells)
        goals.append((f"throughput {ratio:.2f}x the reference's >= {GOAL_VS_REFERENCE}", ratio >= GOAL_VS_REFERENCE))
    else:
        print("  (throughput before issue 17: pass --reference <checkout of the code before it>)")

    # Header variants: the same cells under other headers (issue 17).
    by_variant = {variants[0]: (ours, theirs, truth)}
    for variant in variants[1:]:
        vt = dataset.rename(tables, variant)
        vtruth = {(bt.name, c): t for bt in vt for c, t in bt.truth.items()}
        v_ours, _ = run_custody(vt, 1)
        v_theirs = None
        if theirs is not None:
            v_theirs, _, _ = run_presidio(vt, args.score, args.min_share)
            v_theirs = {
                k: ("mobile_phone" if p == "phone" and vtruth[k] == "mobile_phone" else p) for k, p in v_theirs.items()
            }
        by_variant[variant] = (v_ours, v_theirs, vtruth)
        wrong = [(k, vtruth[k], v_ours[k]) for k in vtruth if v_ours[k] != vtruth[k]]
        print()
        print(f"Headers {variant}: Custody misclassified {len(wrong)} of {len(vtruth)} columns", end="")
        print(":" if wrong else ".")
        for (table, column), t, p in wrong:
            if show((table, column)):
                print(f"  {table}.{column}: truth {t}, got {p}")

    def f1(preds, labels, keep) -> float | None:
        if preds is None:
            return None
        sub = {k: t for k, t in labels.items() if keep(k[0])}
        return overall(score(sub, preds))[2]

    print()
    print(
        f"{'Headers':<24}{'Custody F1':>11}{'calibration':>13}{'held out':>10}{'Presidio F1':>13}"
    )
    for variant, (v_ours, v_theirs, vtruth) in by_variant.items():
        label = {"normal": "normal", "neutral": "neutral (c01, c02, ...)", "pinyin": "pinyin initials"}[variant]
        f_o = f1(v_ours, vtruth, lambda t: True)
        f_cal = f1(v_ours, vtruth, lambda t: t not in holdout)
        f_hold = f1(v_ours, vtruth, lambda t: t in holdout)
        f_t = f1(v_theirs, vtruth, lambda t: True)
        print(
            f"{label:<24}{f_o:>11.3f}{f_cal:>13.3f}{f_hold:>10.3f}"
            f"{'not run' if f_t is None else f'{f_t:.3f}':>13}"
        )
        goal = GOAL_F1_BY_HEADERS[variant]
        goals.append((f"{variant} headers: overall F1 {f_o:.3f} >= {goal}", f_o >= goal))
    print(f"  held out: {', '.join(sorted(holdout))}")
    print()
    for text, ok in goals:
        print(f"  goal: {text}: {'PASS' if ok else 'FAIL'}")
    return 1 if args.check and not all(ok for _, ok in goals) else 0


if __name__ == "__main__":
    sys.exit(main())
