"""Backup and restore throughput: Custody's object writer and snapshot store against baselines.

One run, on the same staged bytes (Parquet files of random-valued columns, ``--size-mib`` in total):

1. **encrypt + hash + write**: Custody's object writer (``custody.crypto.envelope.encrypt_stream``
   into an atomic, fsynced file) against raw ``AESGCM`` + SHA-256 over the same 1 MiB segments,
   also written and fsynced. Goal: Custody >= 0.7x raw.
2. **backup**: plaintext files in -> verified snapshot out. Custody: encrypt into staging, then
   ``create_snapshot`` to a ``LocalStore`` (copy, read back, hash). restic: ``restic backup`` of
   the same files into a local repository. Goal: >= 1.0x restic.
3. **restore**: snapshot -> plaintext files. Custody: ``restore_object`` per object (hash,
   authenticated decryption, atomic write). restic: ``restic restore latest``. Goal: >= 1.0x.

Throughput is plaintext MiB per wall-clock second. Files are read from the page cache in every
case (no cache drop: that needs root and would hit every tool alike). Prints a table of MiB/s and
ratios. Usage: ``python bench/backup.py [--size-mib 256] [--files 4] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1 << 20


def make_data(root: Path, size_mib: int, files: int) -> list[Path]:
    """Parquet (zstd) files of random ids, floats and 24-byte strings, ``size_mib`` MiB in total."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    per_file = size_mib * MiB // files
    rows = max(1, per_file // 34)  # ~34 bytes per row after encoding (ids compress)
    out = []
    for i in range(files):
        text = rng.integers(0, 2**63, size=rows * 3, dtype=np.int64).tobytes()
        names = pa.FixedSizeBinaryArray.from_buffers(pa.binary(24), rows, [None, pa.py_buffer(text)])
        t = pa.table(
            {
                "id": pa.array(np.arange(i * rows, (i + 1) * rows, dtype=np.int64)),
                "score": pa.array(rng.random(rows)),
                "name": names,
            }
        )
        path = root / f"part-{i:03d}.parquet"
        pq.write_table(t, path, compression="zstd")
        out.append(path)
    return out


def timed(fn, *args, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    res = fn(*args, **kw)
    return time.perf_counter() - t0, res


def raw_encrypt(files: list[Path], out_dir: Path) -> None:
    """AES-256-GCM per 1 MiB segment + SHA-256 of the ciphertext, written and fsynced."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        aead = AESGCM(secrets.token_bytes(32))
        prefix = secrets.token_bytes(7)
        sha = hashlib.sha256()
        with open(path, "rb") as src, open(out_dir / (path.name + ".raw"), "wb") as dst:
            i = 0
            while seg := src.read(MiB):
                ct = aead.encrypt(prefix + i.to_bytes(5, "big"), seg, b"aad")
                sha.update(ct)
                dst.write(ct)
                i += 1
            dst.flush()
            os.fsync(dst.fileno())


def custody_encrypt(files: list[Path], staging, keyring) -> list:
    """Custody's object writer into staging; returns manifest entries for the snapshot step."""
    from custody.crypto.envelope import encrypt_stream
    from custody.fsio import atomic_writer
    from custody.documents import ObjectEntry

    entries = []
    for i, path in enumerate(files):
        e = ObjectEntry(
            object_id=f"bench/run/data/chunk-{i:05d}",
            key=f"bench/run/data/chunk-{i:05d}.cdy",
            kind="chunk",
            source="bench",
            run_key="run",
            table="data",
            chunk=i,
            rows=0,
            content_hash="0" * 64,
            scope="bench/default",
        )
        with open(path, "rb") as src, atomic_writer(staging.path(e.key)) as dst:
            info = encrypt_stream(
                src, dst, object_id=e.object_id, binding=e.binding(), keyring=keyring, scope=e.scope
            )
        entries.append(
            e.model_copy(
                update={
                    "plaintext_bytes": info.plaintext_bytes,
                    "ciphertext_bytes": info.ciphertext_bytes,
                    "sha256": info.sha256,
                    "kek_id": info.kek_id,
                }
            )
        )
    return entries


def custody_snapshot(entries, staging, keyring, store) -> dict:
    from custody import hashing
    from custody.documents import RunManifest, TableManifest

    tm = TableManifest(
        table="data",
        source_table="data",
        primary_key=["id"],
        columns=[],
        source_rows=0,
        extracted_rows=0,
        content_hash=hashing.to_hex(0),
        chunks=entries,
    )
    manifest = RunManifest(source="bench", run_key="run", dialect="none", tables=[tm])
    from custody.store import create_snapshot

    return create_snapshot([store], staging, manifest, {}, keyring)


def custody_restore(entries, store, keyring, out_dir: Path) -> int:
    from custody.restore import restore_object

    out_dir.mkdir(parents=True, exist_ok=True)
    return sum(restore_object(store, e, keyring, out_dir / f"{e.chunk:05d}.parquet") for e in entries)


def restic(args: list[str], repo: Path, env: dict) -> None:
    subprocess.run(
        ["restic", "--repo", str(repo), "--quiet", *args], check=True, env=env, stdout=subprocess.DEVNULL
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--size-mib", type=int, default=256, help="staged data in MiB (default 256; try 1024-2048)"
    )
    ap.add_argument("--files", type=int, default=4, help="number of Parquet files (objects)")
    ap.add_argument("--workdir", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument(
        "--skip-restic", action="store_true", help="only the encrypt comparison and Custody figures"
    )
    ap.add_argument("--profile", action="store_true", help="profile Custody's encrypt and backup paths")
    args = ap.parse_args()

    from custody.crypto import LocalKeyring
    from custody.staging import StagingStore
    from custody.store import LocalStore

    work = args.workdir or Path(tempfile.mkdtemp(prefix="custody-bench-"))
    try:
        t, files = timed(make_data, work / "data", args.size_mib, args.files)
        total = sum(p.stat().st_size for p in files)
        mib = total / MiB
        print(f"staged {len(files)} Parquet files, {mib:.1f} MiB, in {t:.1f} s under {work}", file=sys.stderr)
        keyring = LocalKeyring.create(work / "keys" / "kek.json")
        staging = StagingStore(work / "staging", keyring)
        store = LocalStore(work / "store")
        rows: list[tuple[str, float, float | None, str]] = []

        t_raw, _ = timed(raw_encrypt, files, work / "raw")
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        t_enc, entries = timed(custody_encrypt, files, staging, keyring)
        if prof:
            prof.disable()
        t_snap, _ = timed(custody_snapshot, entries, staging, keyring, store)
        t_rest, n = timed(custody_restore, entries, store, keyring, work / "restored")
        assert n == total, (n, total)
        for e, p in zip(entries, files):  # the restore is byte-exact
            with open(work / "restored" / f"{e.chunk:05d}.parquet", "rb") as a, open(p, "rb") as b:
                assert hashlib.sha256(a.read()).digest() == hashlib.sha256(b.read()).digest()
        rows.append(("encrypt+hash+write", mib / t_enc, mib / t_raw, "raw AESGCM+SHA-256 (goal >= 0.70x)"))

        t_backup = t_enc + t_snap
        restic_ok = not args.skip_restic and shutil.which("restic")
        if restic_ok:
            env = {
                **os.environ,
                "RESTIC_PASSWORD": "bench-only",
                "RESTIC_CACHE_DIR": str(work / "restic-cache"),
            }
            repo = work / "restic-repo"
            restic(["init"], repo, env)
            t_rb, _ = timed(restic, ["backup", str(work / "data")], repo, env)
            t_rr, _ = timed(
                restic, ["restore", "latest", "--target", str(work / "restic-restored")], repo, env
            )
            rows.append(
                (
                    "backup (plaintext -> verified snapshot)",
                    mib / t_backup,
                    mib / t_rb,
                    "restic backup (goal >= 1.0x)",
                )
            )
            rows.append(
                (
                    "restore (snapshot -> plaintext files)",
                    mib / t_rest,
                    mib / t_rr,
                    "restic restore (goal >= 1.0x)",
                )
            )
        else:
            rows.append(("backup (plaintext -> verified snapshot)", mib / t_backup, None, "restic not run"))
            rows.append(("restore (snapshot -> plaintext files)", mib / t_rest, None, "restic not run"))

        print(
            f"\nCustody bench: {mib:.0f} MiB in {len(files)} objects, {os.cpu_count()} CPUs"
            + (
                f", {subprocess.run(['restic', 'version'], capture_output=True, text=True).stdout.strip()}"
                if restic_ok
                else ""
            )
        )
        print(f"{'path':<42} {'Custody MiB/s':>14} {'baseline MiB/s':>15} {'ratio':>7}  baseline")
        for name, ours, base, label in rows:
            ratio = f"{ours / base:6.2f}x" if base else "    n/a"
            print(f"{name:<42} {ours:14.1f} {base if base else float('nan'):15.1f} {ratio:>7}  {label}")
        print(f"{'  of which: snapshot copy + read-back':<42} {mib / t_snap:14.1f}")
        print(
            json.dumps(
                {
                    "mib": round(mib, 1),
                    "custody": {
                        "encrypt_s": round(t_enc, 3),
                        "snapshot_s": round(t_snap, 3),
                        "restore_s": round(t_rest, 3),
                    },
                    "raw_encrypt_s": round(t_raw, 3),
                }
            )
        )
        if prof:
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(15)
            print(s.getvalue())
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
