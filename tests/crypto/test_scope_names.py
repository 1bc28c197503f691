"""Rolling key scopes: source x retention class x period; legacy two-part scopes keep working."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from custody.config import SourceConfig
from custody.crypto import decrypt_bytes, encrypt_bytes
from custody.crypto.scope_names import ScopeParts, parse_scope, period_bounds, period_of, scope_name
from custody.crypto.scopes import ScopeDestroyedError
from custody.extract.writer import PartWriter
from custody.staging import StagingStore


def test_names_and_parts():
    assert scope_name("crm", "customer_contract", "2026-11") == "crm/customer_contract/2026-11"
    assert scope_name("crm", "customer_contract", None) == "crm/customer_contract"
    assert parse_scope("crm/customer_contract/2026-11") == ScopeParts("crm", "customer_contract", "2026-11")
    assert parse_scope("crm/customer_contract") == ScopeParts("crm", "customer_contract", None)
    assert parse_scope("custody/seal") is None and parse_scope("default") is None
    assert parse_scope("crm/x/2026-13") is None
    assert period_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"
    assert period_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        scope_name("crm", "a/b", "2026-01")


def test_one_period_shreds_alone_and_legacy_scopes_still_open(scoped):
    nov, _ = encrypt_bytes(b"nov", object_id="o-nov", binding={}, keyring=scoped,
                           scope=scope_name("crm", "customer_contract", "2026-11"))
    dec, _ = encrypt_bytes(b"dec", object_id="o-dec", binding={}, keyring=scoped,
                           scope=scope_name("crm", "customer_contract", "2026-12"))
    legacy, _ = encrypt_bytes(b"old", object_id="o-old", binding={}, keyring=scoped, scope="crm/customer_contract")
    cert = scoped.destroy_scope("crm/customer_contract/2026-11", "ops", "retention expired")
    assert cert["counts"]["keys_destroyed"] == 1
    with pytest.raises(ScopeDestroyedError, match="2026-11"):
        decrypt_bytes(nov, keyring=scoped)
    assert decrypt_bytes(dec, keyring=scoped) == b"dec"
    assert decrypt_bytes(legacy, keyring=scoped) == b"old"


def test_part_writer_stages_under_the_period_scope(tmp_path, scoped):
    source = SourceConfig(name="crm", conn_id="c", lawful_basis="contract", retention_class="customer_contract",
                          chunk_rows=10, tables=[{"name": "t"}])
    staging = StagingStore(tmp_path / "staging", scoped)
    writer = PartWriter(staging, source, "r1", "t", 0, ["id"], period="2026-10")
    writer.add(pa.table({"id": pa.array(range(12), pa.int64())}))
    writer.close()
    assert {e.scope for e in writer.chunks} == {"crm/customer_contract/2026-10"}
    keys = {k["scope"] for k in scoped.inventory("scope")}
    assert "crm/customer_contract/2026-10" in keys
    default = PartWriter(staging, source, "r2", "t", 0, ["id"])
    assert default.period == period_of(datetime.now(UTC))
