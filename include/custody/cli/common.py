"""What every command shares: the consoles, the store options, and opening a store with its keyring."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)
out = Console()


class StoreKind(str, Enum):
    local = "local"
    s3 = "s3"


StoreOpt = Annotated[StoreKind, typer.Option(help="Snapshot store to read from.")]
EndpointOpt = Annotated[
    str | None, typer.Option(help="S3 endpoint URL (S3-compatible stores).", envvar="AWS_ENDPOINT_URL")]


def _open(store: StoreKind, endpoint_url: str | None):
    from custody.crypto.open import open_keyring
    from custody.settings import Settings

    settings = Settings.from_env()
    # A missing key-encryption key is refused here (KeyMissingError), never replaced.
    keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
    return settings, keyring, _store(settings, store, endpoint_url)


def _store(settings, store: StoreKind, endpoint_url: str | None):
    from custody.store import LocalStore, S3Store
    from custody.store.backends import S3StoreOptions, make_s3_client

    if store is StoreKind.local:
        return LocalStore(settings.backup_dir)
    options = S3StoreOptions(bucket=settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=endpoint_url)
    return S3Store(make_s3_client(options), options=options)


def _resolve(store_obj, keyring, snapshot: str | None, source: str | None, recorded=None) -> str:
    """The snapshot key named on the command line; ``latest`` refuses to fall back past a recorded
    snapshot that is missing or replaced (``recorded``: the audit log's record, see ``_recorded``)."""
    from custody.store import latest_snapshot

    if snapshot in (None, "latest"):
        return latest_snapshot(store_obj, keyring, source, recorded=recorded)
    return snapshot if snapshot.startswith("snapshots/") else f"snapshots/{snapshot}.json"


def _recorded(settings, store_obj, source: str | None = None) -> list:
    """The snapshots the audit log says must exist in ``store_obj`` (``custody.audit.snapshots``)."""
    from custody.audit.log import AuditLog
    from custody.audit.snapshots import recorded_snapshots

    with AuditLog(settings.catalog_url) as log:
        return recorded_snapshots(log, store_obj.location, source)


def _audit(settings, action: str, **fields) -> None:
    """Append one entry to the audit log as ``user@host`` (``custody.audit.log.AuditLog.append``)."""
    from custody.audit.log import AuditLog

    with AuditLog(settings.catalog_url) as log:
        log.append(action, **fields)


def validation_message(exc) -> str:
    """A pydantic ``ValidationError`` as ``field: reason`` lines, without the library's help URL
    (``errors.pydantic.dev``) or the input value (it can be a secret or a customer's datum)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "options"
        lines.append(f"{where.replace('_', '-')}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def known_sources(settings, store_obj) -> list[str]:
    """Sources a command may name: the configured ones (``sources.yaml``) and every source that
    has snapshots in ``store_obj`` (a source removed from the configuration stays restorable)."""
    from custody.config import ConfigError, load_sources

    names: set[str] = set()
    try:
        names.update(s.name for s in load_sources(settings=settings).sources)
    except ConfigError:
        pass
    for key in store_obj.list_keys("snapshots/"):
        parts = key.split("/")
        if len(parts) == 3 and key.endswith(".json"):
            names.add(parts[1])
    return sorted(names)


def check_source(settings, store_obj, source: str | None) -> None:
    """Exit 2 (a usage error) when ``source`` is neither configured nor backed up in ``store_obj``:
    a mistyped name must not read as "no snapshots"."""
    if source is None:
        return
    known = known_sources(settings, store_obj)
    if source not in known:
        console.print(f"[red]error[/red]: unknown source {source!r}; known sources: "
                      f"{', '.join(known) or 'none'}", soft_wrap=True, markup=True, highlight=False)
        raise typer.Exit(2)


class Bar:
    """Handle of a progress bar: ``advance(n)`` for callbacks that count (restore's ``on_chunk``),
    ``bar(done, total)`` for callbacks that report a position (verify's and backup's ``on_object``)."""

    def __init__(self, progress: Progress, task) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)

    def __call__(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)


@contextmanager
def progress_bar(description: str, total: int | None = None, unit: str = "objects") -> Iterator[Bar]:
    """A rich progress bar on stderr for a long command; yields a ``Bar``.

    The one progress hook every long command uses (verify, restore, backup, and purge when it
    lands): pass ``bar`` or ``bar.advance`` as the core function's progress callback. It writes
    to stderr, so the command's own output (stdout) stays clean for a pipe.
    """
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        yield Bar(progress, progress.add_task(description, total=total))
