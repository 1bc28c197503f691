"""Source configuration rules (custody.config)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from custody.config import SourceConfig, TableConfig


def test_config_rules_for_extraction():
    with pytest.raises(ValidationError, match="incremental tables need watermark_column"):
        SourceConfig(name="a", conn_id="c", lawful_basis="contract", retention_class="r",
                     tables=[TableConfig(name="t", mode="incremental")])
    with pytest.raises(ValidationError, match="needs landing"):
        SourceConfig(name="a", kind="files", lawful_basis="contract", retention_class="r",
                     tables=[TableConfig(name="t", files="*.csv")])
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        SourceConfig(name="a", conn_id="c", lawful_basis="contract", retention_class="r", timezone="Mars/Base",
                     tables=[TableConfig(name="t")])
    s = SourceConfig(name="a", conn_id="c", lawful_basis="contract", retention_class="r",
                     tables=[TableConfig(name="t")])
    assert s.pool_name == "custody_a"
    from custody.config import load_sources

    assert load_sources().pools() == {"custody_crm": 2, "custody_chinook": 2}


def test_custody_sources_limits_the_offered_sources():
    import pytest

    from custody.config import ConfigError, load_sources, offered_sources

    configured = load_sources()
    assert [s.name for s in offered_sources(configured, {})] == [s.name for s in configured.sources]
    assert [s.name for s in offered_sources(configured, {"CUSTODY_SOURCES": " crm "})] == ["crm"]
    with pytest.raises(ConfigError, match="unknown source 'nope'; configured: crm, chinook"):
        offered_sources(configured, {"CUSTODY_SOURCES": "crm,nope"})
