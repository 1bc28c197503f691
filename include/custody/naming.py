"""Column-name helpers shared by every stage.

Source systems spell the same column differently (``customer_id`` in the PostgreSQL Chinook
script, ``CustomerId`` in the SQLite and MySQL ones). Config and rules refer to columns by a
normalised key so that one YAML entry matches every dialect.
"""

from __future__ import annotations

import re

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^0-9a-z\u4e00-\u9fff]+")


def column_key(name: str) -> str:
    """Return the comparison key of a column name.

    Lower-cases, drops every character outside ``[0-9a-z]`` and CJK ideographs, so
    ``CustomerId``, ``customer_id`` and ``Customer ID`` all give ``customerid``.
    """
    return _NON_ALNUM.sub("", name.lower())


def column_tokens(name: str) -> list[str]:
    """Split a column name into lower-case word tokens.

    ``SupportRepId`` -> ``["support", "rep", "id"]``; ``email_verified`` -> ``["email", "verified"]``;
    a Chinese header such as ``身份证号`` is one token. Used by header rules.
    """
    spaced = _CAMEL.sub(" ", name)
    return [t for t in re.split(r"[^0-9A-Za-z\u4e00-\u9fff]+", spaced.lower()) if t]
