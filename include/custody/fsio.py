"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one.

A process killed while writing leaves its ``.tmp-*`` file behind; ``remove_orphans`` removes those.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on clean exit fsync it and rename it over ``path``.

    On an exception (including ``OSError`` for a full disk) the temporary file is removed and the
    exception propagates; ``path`` is untouched. Temporary names start with ``.tmp-`` so listings
    can ignore them. Files are created with ``mode`` (default owner-only).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.parent / f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_writer``)."""
    with atomic_writer(path, mode) as fh:
        fh.write(data)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_orphans(folder: Path, *, older_than_s: float = 3600.0) -> int:
    """Remove the temporary files (``.tmp-*``, see ``atomic_writer``) under ``folder`` that were not
    modified for ``older_than_s`` seconds: what a killed process left half written. Returns how
    many were removed. A live writer keeps touching its file, so a generous age spares it; callers
    that know no writer is left (the last stage of a run) pass 0. Missing folders are fine.
    """
    import time

    folder = Path(folder)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in folder.rglob(f"{TEMP_PREFIX}*"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime <= cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            continue
    return removed


class FolderBusyError(BlockingIOError):
    """Another process holds the folder's lock (``exclusive_dir``)."""


@contextlib.contextmanager
def exclusive_dir(path: Path) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on the folder ``path`` itself (no lock file left behind).

    Raises ``FolderBusyError`` at once when another process holds it. POSIX only.
    """
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(f"{path} is locked by another process") from None
        yield path
    finally:
        os.close(fd)
