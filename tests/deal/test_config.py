"""deal.yaml: the shipped file validates; a file that would break a milestone is refused on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from custody.config import ConfigError
from custody.deal.config import DEFAULT_ACTIONS, MILESTONES, load_deals

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_deal_yaml_validates():
    deals = load_deals(ROOT / "include" / "config" / "deal.yaml")
    [deal] = deals.deals
    assert deal.id == "demo-2026" and set(deal.milestones) == set(MILESTONES)
    assert deal.actions("closing") == ["handover_package"] and deal.milestone("closing").handover.source == "crm"
    assert deal.transferee.public_key_env == "CUSTODY_TRANSFEREE_PUBLIC_KEY"
    with pytest.raises(ConfigError, match="CUSTODY_TRANSFEREE_PUBLIC_KEY"):
        deal.transferee.recipient_public(environ={})
    with pytest.raises(ConfigError, match="unknown deal 'other'"):
        deals.deal("other")


@pytest.mark.parametrize("body, message", [
    ("version: 1\ndeals: []\n", "deals"),
    ("version: 1\ndeals:\n  - {id: Bad Id, transferor: {name: a}, transferee: {name: b}}\n", "deals.0.id"),
    ("version: 1\ndeals:\n  - {id: d, transferor: {name: a}, transferee: {name: b, public_key: 'x25519:AAAA'}}\n",
     "3 bytes, an X25519 key has 32"),
    ("version: 1\ndeals:\n  - {id: d, transferor: {name: a}, transferee: {name: b},\n"
     "     milestones: {closing: {date: 2027-01-15}}}\n", "handover_package action needs handover"),
    ("version: 1\ndeals:\n  - {id: d, transferor: {name: a}, transferee: {name: b},\n"
     "     milestones: {signing: {actions: [shred_everything]}}}\n", "deals.0.milestones.signing.actions.0"),
    ("version: 1\ndeals:\n  - {id: d, transferor: {name: a}, transferee: {name: b},\n"
     "     milestones: {handshake: {}}}\n", "deals.0.milestones.handshake"),
])
def test_invalid_deal_yaml_is_refused(tmp_path, body, message):
    path = tmp_path / "deal.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_deals(path)


def test_default_actions_cover_every_milestone():
    assert set(DEFAULT_ACTIONS) == set(MILESTONES)
    assert DEFAULT_ACTIONS["signing"] == ["notification_list"]
