"""Which errors met while reading a source are transient (retry) and which are permanent (fail at once).

A transient error says nothing about the data or the configuration: the source was unreachable
for a moment, the connection was cut, a lock or statement timed out, the transaction lost a
deadlock or a serialization conflict. Retrying the same read later can succeed. Everything else
(authentication refused, unknown database or table, a syntax or permission error, bad data,
Custody's own checks) fails the same way every time, so it fails the task at once.

Decided from the driver's code when there is one, never from a value:

- PostgreSQL SQLSTATE (psycopg2 ``pgcode``, psycopg 3 ``sqlstate``): class ``08`` (connection
  exception), ``40001`` serialization failure, ``40P01`` deadlock, ``55P03`` lock not available,
  ``57014`` query cancelled (statement timeout), ``57P01``-``57P03`` server shutting down or
  starting, ``53300`` too many connections.
- MySQL / MariaDB errno (PyMySQL ``args[0]``): 1040 too many connections, 1053 shutdown,
  1158-1161 network read/write errors and timeouts, 1205 lock wait timeout, 1213 deadlock, 1317
  query interrupted, 1927 connection killed, 2002/2003 cannot connect, 2006 server gone away,
  2013 lost connection, 2055 lost connection (system error), 3024 statement timeout, 4031
  disconnected for inactivity.
- SQLite: ``SQLITE_BUSY`` (5) and ``SQLITE_LOCKED`` (6), "database is locked".
- Connection failures that carry no code (libpq reports them as text): refused, timed out,
  closed, terminated, reset are transient; authentication, an unknown role or database, TLS and
  certificate problems are permanent. The text is inspected here and never passed on.
- ``TimeoutError``, ``ConnectionError`` (refused, reset, broken pipe); S3 landings: botocore
  connection errors, timeouts, throttling and 5xx answers.
"""

from __future__ import annotations

from typing import Any

PG_TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03", "53300"})
MYSQL_TRANSIENT_ERRNOS = frozenset(
    {1040, 1053, 1158, 1159, 1160, 1161, 1205, 1213, 1317, 1927, 2002, 2003, 2006, 2013, 2055, 3024, 4031}
)
SQLITE_TRANSIENT_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (primary result codes)

_PERMANENT_TEXT = ("authentication", "password", "pg_hba.conf", "does not exist", "access denied",
                   "permission denied", "ssl", "certificate", "unknown database", "invalid dsn")
_TRANSIENT_TEXT = ("could not connect", "connection refused", "server closed the connection", "timeout",
                   "timed out", "terminating connection", "connection reset", "could not receive data",
                   "could not send data", "no route to host", "network is unreachable", "temporarily",
                   "the database system is starting up", "the database system is shutting down",
                   "lost connection", "gone away", "can't connect", "database is locked", "connection is closed",
                   "connection already closed", "broken pipe")
_S3_TRANSIENT = frozenset({"RequestTimeout", "RequestTimeoutException", "SlowDown", "Throttling",
                           "ThrottlingException", "InternalError", "ServiceUnavailable", "OperationAborted"})


def _errno(orig: BaseException) -> int | None:
    """MySQL / MariaDB errno: PyMySQL puts it first in ``args`` (its ``sqlstate`` is a coarse class)."""
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) and not isinstance(args[0], bool) else None


def database_code(exc: BaseException) -> str | None:
    """The errno (MySQL/MariaDB, SQLite) or SQLSTATE (PostgreSQL) of a driver error, as text, or None.

    ``exc`` may be a ``sqlalchemy.exc.DBAPIError`` (its ``orig`` is read) or a driver exception.
    """
    orig = getattr(exc, "orig", None) or exc
    if (errno := _errno(orig)) is not None:
        return str(errno)
    if isinstance(getattr(orig, "sqlite_errorcode", None), int):
        return str(orig.sqlite_errorcode)
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return str(code) if code else None


def is_transient(exc: BaseException) -> bool:
    """True when retrying the read that raised ``exc`` later may succeed (see the module docstring).

    Looks at ``exc`` itself, a SQLAlchemy error's driver exception (``orig``) and its
    ``connection_invalidated`` flag; an exception may also say so itself with a ``transient``
    attribute. Never raises.
    """
    flagged = getattr(exc, "transient", None)
    if isinstance(flagged, bool):
        return flagged
    if getattr(exc, "connection_invalidated", False):
        return True
    orig = getattr(exc, "orig", None)
    if orig is not None and orig is not exc:
        if _driver_transient(orig):
            return True
        return _code_free_connection_error(exc, orig)
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if type(exc).__module__.startswith("botocore"):
        return _botocore_transient(exc)
    return _driver_transient(exc)


def _driver_transient(orig: BaseException) -> bool:
    if isinstance(orig, (TimeoutError, ConnectionError)):
        return True
    if (errno := _errno(orig)) is not None:
        return errno in MYSQL_TRANSIENT_ERRNOS
    sqlite = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite, int):
        return (sqlite & 0xFF) in SQLITE_TRANSIENT_CODES
    sqlstate = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if sqlstate:
        return str(sqlstate).startswith("08") or str(sqlstate) in PG_TRANSIENT_STATES
    return False


def _code_free_connection_error(exc: BaseException, orig: BaseException) -> bool:
    """psycopg's connection failures come as OperationalError text without a SQLSTATE."""
    if database_code(exc) is not None or type(orig).__name__ not in ("OperationalError", "InterfaceError"):
        return False
    text = str(orig).lower()  # inspected, never reported
    if any(marker in text for marker in _PERMANENT_TEXT):
        return False
    return any(marker in text for marker in _TRANSIENT_TEXT)


def _botocore_transient(exc: Any) -> bool:
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return exc.response.get("Error", {}).get("Code") in _S3_TRANSIENT or status >= 500
    return isinstance(exc, (ConnectionError, HTTPClientError, ReadTimeoutError))
