"""The errors readers raise when a source cannot be read as configured.

They are defined here, with the readers, because readers raise them and import nothing of a
later stage; ``custody.extract`` raises the same classes and exports them
(``custody.extract.ExtractError``), which is where callers catch them.
"""

from __future__ import annotations


class ExtractError(Exception):
    """A table or file cannot be extracted as configured (missing table, no key, count mismatch,
    schema drift, undecodable file). Messages carry names, counts and line numbers, never values."""


class SourceUnavailable(ExtractError):
    """The source could not be read for a while: connection refused or lost, timeout, deadlock,
    serialization failure (``custody.sources.transient``). Retrying the same read may succeed."""

    transient = True


class SchemaError(ExtractError):
    """Column names are duplicated or differ only in case or punctuation, or the schema drifted."""
