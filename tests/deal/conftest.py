"""A deal world: a Custody home with a migrated catalog, a key, a snapshot of ``crm`` and a deal.yaml
whose transferee key the test holds."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DEAL_YAML = """\
version: 1
deals:
  - id: test-deal
    transferor: {name: "Seller"}
    transferee: {name: "Buyer", public_key: "%(public)s"}
    milestones:
      due_diligence: {date: 2026-11-02}
      signing: {date: 2026-12-01, actions: []}
      closing:
        date: 2027-01-15
        handover: {source: crm, tables: [enterprise_customers, contacts]}
      post_closing:
        date: 2027-02-15
        retention: {transferor_copies_expire_after_days: 30}
"""


@dataclass
class DealWorld:
    home: Path
    config: Path
    catalog_url: str
    transferee: object
    manifest: object

    def env(self) -> dict[str, str]:
        return {"CUSTODY_HOME": str(self.home), "CUSTODY_CONFIG_DIR": str(self.config),
                "CUSTODY_CATALOG_URL": self.catalog_url,
                "CUSTODY_KEYRING": f"local:{self.home / 'keys' / 'kek.json'}"}


@pytest.fixture
def deal_world(tmp_path, new_catalog, monkeypatch) -> DealWorld:
    from custody.crypto import init_keyring
    from custody.handover import generate_recipient_key
    from custody.staging import StagingStore
    from custody.store import LocalStore, create_snapshot
    from store._runs import stage_run

    home = tmp_path / "home"
    catalog_url = new_catalog(home / "catalog.db")
    keyring = init_keyring(f"local:{home / 'keys' / 'kek.json'}", key_store=catalog_url)
    from custody.crypto import open_keyring

    scoped = open_keyring(f"local:{home / 'keys' / 'kek.json'}", key_store=catalog_url)
    staging = StagingStore(home / "staging", scoped)
    manifest = stage_run(staging, tables={"enterprise_customers": [12], "contacts": [20, 7]})
    create_snapshot([LocalStore(home / "backups")], staging, manifest, None, scoped)
    transferee = generate_recipient_key(tmp_path / "transferee" / "key.pem")
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(ROOT / "include" / "config" / "sources.yaml", config / "sources.yaml")
    (config / "deal.yaml").write_text(DEAL_YAML % {"public": transferee.public_text}, encoding="utf-8")
    world = DealWorld(home, config, catalog_url, transferee, manifest)
    for k, v in world.env().items():
        monkeypatch.setenv(k, v)
    del keyring
    return world
