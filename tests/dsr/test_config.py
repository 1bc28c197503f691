"""``include/config/dsr.yaml`` through ``custody.config.DsrConfig``: the shipped file and what is refused."""

from __future__ import annotations

import pytest

from custody.config import ConfigError, load_dsr


def test_shipped_regimes(dsr_config):
    pipl, gdpr = dsr_config.regime("pipl"), dsr_config.regime("gdpr")
    assert dsr_config.default_regime == "pipl"
    assert (pipl.due_days, pipl.due_months, pipl.extendable) == (15, 0, False)
    assert (gdpr.due_days, gdpr.due_months, gdpr.extension_months, gdpr.extendable) == (0, 1, 2, True)
    assert "Art 50" in pipl.reference and "Art 12(3)" in gdpr.reference
    with pytest.raises(ConfigError, match="unknown regime 'ccpa'"):
        dsr_config.regime("ccpa")


@pytest.mark.parametrize("text, message", [
    ("version: 1\ndefault_regime: gdpr\nregimes:\n  pipl: {reference: x, due_days: 15}\n", "default_regime"),
    ("version: 1\ndefault_regime: pipl\nregimes:\n  pipl: {reference: x}\n", "due_days or due_months"),
    ("version: 1\ndefault_regime: pipl\nregimes:\n  pipl: {reference: x, due_days: -1}\n", "due_days"),
    ("version: 1\ndefault_regime: pipl\nregimes:\n  pipl: {reference: x, due_days: 3, grace: 1}\n", "grace"),
    ("version: 2\ndefault_regime: pipl\nregimes:\n  pipl: {reference: x, due_days: 3}\n", "version"),
])
def test_invalid_files_are_refused_naming_the_key(tmp_path, text, message):
    path = tmp_path / "dsr.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_dsr(path)
