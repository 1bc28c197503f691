"""Advisory locks in a snapshot store: a backup and a prune never run together.

A lock is an object ``locks/<backup|prune>-<UTC time>-<random>.json`` holding its owner:
``{"kind", "created_at", "refreshed_at", "host", "pid", "process_started"}``. Each side writes its
lock first and then lists the others (as restic does), so a backup and a prune never both
proceed: a prune could otherwise delete objects a running backup has stored but not yet
referenced. Backups conflict only with prunes; a prune conflicts with every lock.

A lock whose owner is gone must not block the store: a killed backup would otherwise stop
``forget`` for as long as its lock is believed. A lock is **stale**, and ignored, when

- its owner ran on this host and that process is gone (no process with its pid, or one started
  at another time: the pid was reused), which is known at once; or
- its heartbeat is old: the holder rewrites ``refreshed_at`` every ``LOCK_REFRESH_S`` seconds
  while it holds the lock, and a lock not refreshed for ``LOCK_STALE_S`` seconds belongs to a
  process that stopped (another host's included). A lock without a readable body counts from
  the time in its key.

``docs/format.md`` section 6 lists the layout; ``custody.store.retention`` removes stale locks
after a prune.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from custody.store.backends import ObjectStore, StoreError

log = logging.getLogger(__name__)

LOCK_PREFIX = "locks/"
LOCK_REFRESH_S = 5 * 60
LOCK_STALE_S = 30 * 60
_LOCK_RE = re.compile(r"locks/(backup|prune)-(\d{8}T\d{6}Z)-[0-9a-f]+\.json$")


class StoreLockedError(StoreError):
    """Another backup or prune holds a lock on the store; the message names the lock keys.

    Transient: the task that meets it is retried once the other side is done."""

    transient = True


def _key_time(key: str) -> datetime | None:
    m = _LOCK_RE.search(key)
    return datetime.strptime(m.group(2), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if m else None


def _process_started(pid: int) -> float | None:
    """Start time (epoch seconds) of process ``pid`` on this host, or None when there is none."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "process_started": _process_started(os.getpid())}


def _body(store: ObjectStore, key: str) -> dict[str, Any]:
    try:
        body = json.loads(store.get_bytes(key))
    except (StoreError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _parse(when: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(when))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def lock_is_stale(store: ObjectStore, key: str, *, stale_s: float = LOCK_STALE_S,
                  now: datetime | None = None) -> bool:
    """Whether the lock at ``key`` belongs to a process that is gone (see the module docstring).

    Same host: the owner's pid and start time decide at once. Otherwise the heartbeat
    (``refreshed_at``, else ``created_at``, else the key's time) older than ``stale_s`` seconds.
    """
    now = now or datetime.now(UTC)
    body = _body(store, key)
    pid, started = body.get("pid"), body.get("process_started")
    if body.get("host") == socket.gethostname() and isinstance(pid, int):
        current = _process_started(pid)
        if current is None:
            return True
        if isinstance(started, (int, float)) and abs(current - started) > 1.0:
            return True  # the pid now belongs to another process
    beat = _parse(body.get("refreshed_at")) or _parse(body.get("created_at")) or _key_time(key)
    return beat is None or beat < now - timedelta(seconds=stale_s)


def stale_locks(store: ObjectStore, *, stale_s: float = LOCK_STALE_S) -> list[str]:
    """Lock keys whose owner is gone (``lock_is_stale``)."""
    return [k for k in store.list_keys(LOCK_PREFIX) if _LOCK_RE.search(k) and lock_is_stale(store, k, stale_s=stale_s)]


class _Heartbeat(threading.Thread):
    """Rewrites a held lock's ``refreshed_at`` every ``refresh_s`` seconds until stopped."""

    def __init__(self, store: ObjectStore, key: str, body: dict[str, Any], refresh_s: float) -> None:
        super().__init__(name=f"custody-lock-heartbeat-{key}", daemon=True)
        self.store, self.key, self.body, self.refresh_s = store, key, body, refresh_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.refresh_s):
            self.body["refreshed_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            try:
                self.store.put_bytes(self.key, json.dumps(self.body).encode())
            except StoreError as exc:  # the next beat tries again; the lock goes stale only if all fail
                log.warning("%s: could not refresh lock %s (%s)", self.store.location, self.key, type(exc).__name__)


@contextlib.contextmanager
def store_lock(
    store: ObjectStore,
    kind: Literal["backup", "prune"],
    *,
    stale_s: float = LOCK_STALE_S,
    refresh_s: float = LOCK_REFRESH_S,
) -> Iterator[str]:
    """Hold a ``backup`` (shared) or ``prune`` (exclusive) lock on ``store``; yields the lock key.

    The lock is refreshed every ``refresh_s`` seconds while held and removed on exit; locks of
    processes that are gone (``lock_is_stale`` with ``stale_s``) are ignored. Raises
    ``StoreLockedError`` naming the conflicting lock keys.
    """
    now = datetime.now(UTC)
    key = f"{LOCK_PREFIX}{kind}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}.json"
    stamp = now.isoformat(timespec="seconds")
    body = {"kind": kind, "created_at": stamp, "refreshed_at": stamp, **_owner()}
    store.put_bytes(key, json.dumps(body).encode())
    beat = _Heartbeat(store, key, dict(body), refresh_s)
    try:
        others = []
        for k in store.list_keys(LOCK_PREFIX):
            if k == key or not _LOCK_RE.search(k):
                continue
            if kind == "prune" or k.startswith(f"{LOCK_PREFIX}prune-"):
                if not lock_is_stale(store, k, stale_s=stale_s, now=now):
                    others.append(k)
        if others:
            raise StoreLockedError(f"{store.location}: {kind} refused, store locked by {', '.join(others)}")
        beat.start()
        yield key
    finally:
        beat.stopped.set()
        if beat.is_alive():
            beat.join()
        with contextlib.suppress(StoreError):
            store.delete(key)
