"""Store locks: a lock left by a killed process does not block `forget`; a live one does; a held
lock keeps a heartbeat; a prune removes the temporary files killed writers left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import custody
from custody.store import LocalStore, RetentionPolicy, StoreLockedError, apply_retention, create_snapshot, store_lock
from custody.store.locks import lock_is_stale
from store._runs import setup, stage_run

HOLDER = """
import sys, time
from pathlib import Path
from custody.store import LocalStore, store_lock
with store_lock(LocalStore(Path(sys.argv[1])), "backup") as key:
    print(key, flush=True)
    time.sleep(600)
"""


def _backups(tmp_path: Path, n: int = 2):
    keyring, staging = setup(tmp_path)
    store = LocalStore(tmp_path / "backups")
    for i in range(n):
        create_snapshot([store], staging, stage_run(staging, run_key=f"r{i}", offset=100 * i), None, keyring)
    return keyring, store


def _holder(store: LocalStore) -> tuple[subprocess.Popen, str]:
    """A separate process holding a backup lock on ``store``; returns it and the lock key."""
    env = {**os.environ, "PYTHONPATH": str(Path(custody.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(store.root)], stdout=subprocess.PIPE, text=True,
                            env=env)
    key = proc.stdout.readline().strip()
    assert key.startswith("locks/backup-"), key
    return proc, key


def test_a_lock_left_by_a_killed_backup_does_not_block_forget(tmp_path):
    keyring, store = _backups(tmp_path)
    proc, key = _holder(store)
    try:
        with pytest.raises(StoreLockedError, match="prune refused"):  # alive: the prune waits
            apply_retention(store, keyring, RetentionPolicy(keep_last=1))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert key in store.list_keys("locks/")  # killed: its lock stays behind
    t0 = time.monotonic()
    result = apply_retention(store, keyring, RetentionPolicy(keep_last=1))
    assert time.monotonic() - t0 < 60  # not a day, not the heartbeat's half hour: at once
    assert result.forgotten == 1 and result.stale_locks_removed == 1
    assert store.list_keys("locks/") == []


def _lock(store: LocalStore, name: str, body: dict) -> str:
    key = f"locks/backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{name}.json"
    store.put_bytes(key, json.dumps(body).encode())
    return key


def test_locks_of_other_hosts_go_stale_by_their_heartbeat(tmp_path):
    store = LocalStore(tmp_path / "backups")
    now = datetime.now(UTC)
    fresh = _lock(store, "0a", {"host": "elsewhere", "pid": 1,
                                "refreshed_at": (now - timedelta(minutes=10)).isoformat()})
    old = _lock(store, "0b", {"host": "elsewhere", "pid": 1, "refreshed_at": (now - timedelta(hours=2)).isoformat()})
    assert not lock_is_stale(store, fresh) and lock_is_stale(store, old)
    with pytest.raises(StoreLockedError) as refused:
        with store_lock(store, "prune"):
            pass
    assert fresh in str(refused.value) and old not in str(refused.value)


def test_a_reused_pid_does_not_keep_a_dead_owners_lock_alive(tmp_path):
    import socket

    store = LocalStore(tmp_path / "backups")
    # Our own pid, but a process started at another time: the owner that wrote the lock is gone.
    key = _lock(store, "0c", {"host": socket.gethostname(), "pid": os.getpid(), "process_started": 1.0,
                              "refreshed_at": datetime.now(UTC).isoformat()})
    assert lock_is_stale(store, key)
    with store_lock(store, "prune"):
        pass


def test_a_held_lock_keeps_its_heartbeat(tmp_path):
    store = LocalStore(tmp_path / "backups")
    with store_lock(store, "backup", refresh_s=0.2) as key:
        first = json.loads(store.get_bytes(key))["refreshed_at"]
        deadline = time.monotonic() + 10
        while json.loads(store.get_bytes(key))["refreshed_at"] == first and time.monotonic() < deadline:
            time.sleep(0.2)
        assert json.loads(store.get_bytes(key))["refreshed_at"] > first
    assert store.list_keys("locks/") == []


def test_a_prune_removes_the_temporary_files_killed_writers_left(tmp_path):
    keyring, store = _backups(tmp_path)
    old = store.root / "objects" / "ab" / ".tmp-abcd.cdy.0123abcd"
    fresh = store.root / "snapshots" / "crm" / ".tmp-r9.json.89abcdef"
    for path in (old, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half an object")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    result = apply_retention(store, keyring, RetentionPolicy(keep_last=1))
    assert result.temporary_removed == 1 and result.summary()["temporary_removed"] == 1
    assert not old.exists() and fresh.exists()  # a live writer's file is spared
