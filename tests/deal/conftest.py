"""A deal world: a Custody home with a migrated catalog, a key, a snapshot of ``crm`` and a deal.yaml
whose transferee key the test holds."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from custody.catalog.schema import inventory_column

ROOT = Path(__file__).resolve().parents[2]
# Seven people in eight rows (one twice): resident IDs with valid check digits; e-mail, mobile or neither.
_IDS = [f"11010519800101{n:03d}" for n in range(1, 8)]
IDS = [i + ric.calc_check_digit(i) for i in _IDS]
PEOPLE = pa.table({
    "person_id": pa.array(range(8), pa.int64()),
    "resident_id": pa.array([*IDS, IDS[0]], pa.string()),
    "mobile": pa.array(["13800138000", None, "13900139000", None, "13700137000", None, None, None], pa.string()),
    "email": pa.array([None, "a@example.cn", None, None, None, None, None, "z@example.cn"], pa.string()),
})
# By subject: IDS[0] has a mobile (row 0) and an e-mail (row 7): email; IDS[1] email; IDS[2], IDS[4] sms;
# the other three: announcement.
CHANNELS = {"email": 2, "sms": 2, "post": 0, "announcement": 3}

DEAL_YAML = """\
version: 1
deals:
  - id: test-deal
    transferor: {name: "Seller"}
    transferee: {name: "Buyer", public_key: "%(public)s"}
    milestones:
      due_diligence: {date: 2026-11-02}
      signing: {date: 2026-12-01}
      closing:
        date: 2027-01-15
        handover: {source: crm, tables: [enterprise_customers, contacts, people]}
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
    manifest = stage_run(staging, tables={"enterprise_customers": [12], "contacts": [20, 7]},
                         extra={"people": PEOPLE})
    create_snapshot([LocalStore(home / "backups")], staging, manifest, None, scoped)
    transferee = generate_recipient_key(tmp_path / "transferee" / "key.pem")
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(ROOT / "include" / "config" / "sources.yaml", config / "sources.yaml")
    (config / "deal.yaml").write_text(DEAL_YAML % {"public": transferee.public_text}, encoding="utf-8")
    now = datetime.now(UTC)
    engine = sa.create_engine(catalog_url)
    with engine.begin() as conn:
        for column, pi_type, level in [("resident_id", "resident_id", "sensitive"),
                                       ("mobile", "mobile_phone", "internal"), ("email", "email", "internal")]:
            conn.execute(sa.insert(inventory_column).values(
                source="crm", table_name="people", column_name=column, pi_type=pi_type, level=level,
                confidence=0.99, evidence="{}", policy_version="test", first_seen=now, last_seen=now,
                last_run_key="r1"))
    engine.dispose()
    world = DealWorld(home, config, catalog_url, transferee, manifest)
    for k, v in world.env().items():
        monkeypatch.setenv(k, v)
    del keyring
    return world
