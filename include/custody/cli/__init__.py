"""The ``custody`` command line, one module per group of commands.

- ``snapshots``: ``snapshots``, ``verify``, ``restore``, ``backup``, ``forget``, ``cleanup-uploads``;
- ``catalog``: ``catalog migrate``, ``catalog status``;
- ``keys``: ``keys init`` (the one command that creates a key-encryption key);
- ``status``: ``status`` (what needs attention: failed runs, overdue checks, drift, audit log);
- ``audit``: ``audit verify``, ``audit proof``, ``audit check-proof``, ``audit show``,
  ``audit checkpoint``, ``audit key``;
- ``purge``: ``purge plan`` (a dry run), ``purge execute`` (an approved plan), ``purge certificate``.
- ``dsr``: ``dsr receive``, ``dsr verify``, ``dsr approve``, ``dsr reject``, ``dsr extend``,
  ``dsr execute``, ``dsr close``, ``dsr list``, ``dsr open`` (data-subject requests).
- ``milestone``: ``milestone record``, ``milestone list`` (the deal's milestones);
- ``handover``: ``handover keygen``, ``handover build``, ``handover verify``, ``handover acknowledge``;
- ``incident``: ``incident open``, ``incident restore``, ``incident close``, ``incident show``.
- ``report``: ``report compliance`` (the periodic compliance report).

Exit codes: 0 success, 1 verification or restore failure (a snapshot or the audit log), or a
catalog not at head, 2 usage error (an unknown source, an invalid option). Long commands show a
rich progress bar on stderr (``custody.cli.common.progress_bar``); tables keep ids and numbers
whole at any width (``custody.cli.render``). Custody's own errors print one line, never a value; any other
error prints its traceback without its message (``main``).
"""

from __future__ import annotations

from typing import Any

from custody.cli import (  # noqa: F401 - registers the commands
    audit, catalog, dsr, handover, incident, keys, milestone, purge, report, snapshots, status,
)
from custody.cli.app import app
from custody.cli.common import console

__all__ = ["app", "main"]


def _user_error(exc: Exception) -> bool:
    """Errors a user can act on: Custody's own, the file system's, a malformed database URL."""
    kind = type(exc)
    return (kind.__module__.startswith("custody.") or isinstance(exc, OSError)
            or (kind.__module__ == "sqlalchemy.exc" and kind.__name__ in ("ArgumentError", "NoSuchModuleError")))


def main() -> None:
    """Console-script entry point.

    Custody's own errors (store, snapshot, keyring, integrity, ...), file-system errors and a
    malformed ``--to-db`` URL print one line and exit 1; anything else (a bug to report) prints
    its traceback without its message and exits 1. SIGTERM (``timeout``, systemd, docker stop)
    exits like Ctrl-C, through the clean-up of a restore in progress, with status 143.
    """
    import signal

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    from pydantic import ValidationError

    from custody.cli.common import validation_message

    try:
        app()
    except ValidationError as exc:  # its own text ends with the library's help URL: never shown
        console.print(f"[red]failed[/red]: invalid settings: {validation_message(exc)}", soft_wrap=True)
        raise SystemExit(1) from None
    except Exception as exc:
        if not _user_error(exc):
            _print_withheld(exc)
            raise SystemExit(1) from None
        console.print(f"[red]failed[/red]: {type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


def _print_withheld(exc: BaseException) -> None:
    """The traceback of an unexpected error (a bug to report) without its message or chain: a
    restore has rows in hand, and another library's message could quote one."""
    import traceback

    frames = "".join(traceback.format_tb(exc.__traceback__))
    console.print(f"Traceback (most recent call last):\n{frames}{type(exc).__name__} (message withheld: it may "
                  "quote a value)", markup=False, highlight=False)

