"""Local store faults: full disk, file-size limit, flipped bits; backup repairs a corrupt copy."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from custody.store import (
    LocalStore,
    SnapshotError,
    StoreError,
    create_snapshot,
    verify_snapshot,
    verify_store,
)
from custody.store.snapshots import object_key
from store._runs import big_table, setup, stage_run

ROOT = Path(__file__).resolve().parents[2]


def _no_partial(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and (p.name.startswith(".tmp-") or p.suffix == ".cdy")]


def test_full_disk_gives_a_clear_error_and_no_partial_file(tmp_path, monkeypatch):
    """ENOSPC injected into the write path (no tmpfs: mounting needs privileges CI may not grant)."""
    keyring, staging = setup(tmp_path)
    manifest = stage_run(staging, tables={}, extra={"blobs": big_table(6 << 20)})
    entry = manifest.tables[0].chunks[0]
    store = LocalStore(tmp_path / "backups")

    import custody.fsio as fsio

    real_fdopen = fsio.os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh, self.n = fh, 0

        def write(self, data):
            self.n += len(data)
            if self.n > (3 << 20):
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.fh.__exit__(*exc)

    monkeypatch.setattr(fsio.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(StoreError, match=r"cannot write objects/.*: disk full \(ENOSPC\); no partial file"):
        create_snapshot([store], staging, manifest, None, keyring)
    monkeypatch.undo()
    assert _no_partial(store.root) == [] and store.list_keys("snapshots/") == []
    # Space back: the rerun completes.
    create_snapshot([store], staging, manifest, None, keyring)
    assert store.size(object_key(entry.sha256)) == entry.ciphertext_bytes


FSIZE_CHILD = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    from custody.store import LocalStore, StoreError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    try:
        LocalStore(Path(sys.argv[1])).put_file("objects/ab/big.cdy", Path(sys.argv[2]))
    except StoreError as exc:
        print(exc)
        sys.exit(3)
""")


def test_kernel_write_limit_in_a_subprocess_leaves_no_partial_file(tmp_path):
    """A real failing write(2) from the kernel: RLIMIT_FSIZE of 1 MiB in a child process."""
    src = tmp_path / "src.bin"
    src.write_bytes(b"\0" * (3 << 20))
    root = tmp_path / "backups"
    res = subprocess.run(
        [sys.executable, "-c", FSIZE_CHILD, str(root), str(src)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert res.returncode == 3, res.stderr[-2000:]
    assert "cannot write objects/ab/big.cdy: file size limit reached (EFBIG); no partial file" in res.stdout
    assert list(root.rglob("*.cdy")) == [] and list(root.rglob(".tmp-*")) == []


def test_flipped_bit_is_found_by_verify_and_repaired_by_the_next_backup(tmp_path):
    keyring, staging = setup(tmp_path)
    manifest = stage_run(staging)
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    victim = manifest.tables[0].chunks[1]
    path = store.root / object_key(victim.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x04
    path.write_bytes(bytes(data))
    for deep in (True, False):
        with pytest.raises(SnapshotError, match="chunk-00001.*SHA-256 differs") as err:
            verify_snapshot(store, "snapshots/crm/r1.json", keyring, deep=deep)
        assert [oid for oid, _ in err.value.failures] == [victim.object_id]
    assert not verify_store(store, keyring, raise_on_failure=False).ok
    summary = create_snapshot([store], staging, manifest, None, keyring)
    counts = summary["stores"][0]
    assert (counts["repaired"], counts["reused"], counts["uploaded"]) == (1, 1, 0)
    assert verify_store(store, keyring).ok


def test_sampled_verify_reads_a_seeded_share(tmp_path):
    keyring, staging = setup(tmp_path)
    manifest = stage_run(staging, tables={"contacts": [5] * 20})
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    a = verify_store(store, keyring, sample=0.1, seed=42)
    b = verify_store(store, keyring, sample=0.1, seed=42)
    assert (a.total, a.checked, a.snapshots) == (20, 2, 1) and a.bytes_read == b.bytes_read
    assert verify_snapshot(store, "snapshots/crm/r1.json", keyring, sample=0.25, seed=1).checked == 5
    with pytest.raises(ValueError):
        verify_store(store, keyring, sample=0)
