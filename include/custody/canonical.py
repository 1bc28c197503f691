"""Canonical JSON: the one byte form that headers, seals and hashes are computed over.

Keys sorted, no whitespace, UTF-8 (not ASCII-escaped). Floats are rendered by Python's ``repr``
(shortest round-trip form, ``docs/format.md`` section "Canonical JSON"); documents that are
sealed carry counts and shares, and a share is always rounded before it is stored.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no whitespace, UTF-8) used for headers and MACs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")
