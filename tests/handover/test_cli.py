"""The handover commands end to end: the transferee makes a key, the transferor builds, the
transferee verifies and writes a receipt, the transferor acknowledges it; a tampered package
and a forged receipt are refused with exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from custody.audit.entries import decode
from custody.audit.log import AuditLog
from custody.catalog.schema import handover_package

ROOT = Path(__file__).resolve().parents[2]


def test_keygen_build_verify_acknowledge(deal_world, tmp_path):
    env = {**os.environ, **deal_world.env(), "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), os.environ.get("PYTHONPATH", "")])}

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([sys.executable, "-m", "custody.cli", *args], env=env, capture_output=True, text=True,
                             timeout=300)
        assert (res.returncode == 0) == ok, res.stdout[-2000:] + res.stderr[-2000:]
        return res

    key = tmp_path / "buyer" / "x25519.pem"
    public = cli("handover", "keygen", "--key", str(key)).stdout.strip()
    assert public.startswith("x25519:") and oct(key.stat().st_mode & 0o777) == "0o600"
    assert "exists" in cli("handover", "keygen", "--key", str(key), ok=False).stderr
    built = json.loads(cli("handover", "build", "--deal", "test-deal", "--recipient", public,
                           "--table", "people", "--table", "contacts").stdout)
    package = Path(built["package"])
    assert built["rows"] == 35 and package.is_dir()
    receipt = tmp_path / "receipt.json"
    out = cli("handover", "verify", str(package), "--key", str(key), "--receipt", str(receipt), "--by", "Buyer").stdout
    assert "ok  people: 8 rows" in out and "35 rows in 2 table(s)" in out
    # The deal's own transferee key (not this one) cannot open it.
    refused = cli("handover", "verify", str(package), "--key", str(tmp_path / "transferee" / "key.pem"),
                  ok=False)
    assert "encrypted to recipient key" in refused.stderr
    forged = {**json.loads(receipt.read_text()), "proof": "11" * 32}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert "not produced with the transferee key" in cli("handover", "acknowledge", str(tmp_path / "forged.json"),
                                                          ok=False).stderr
    assert "acknowledged (35 rows)" in cli("handover", "acknowledge", str(receipt)).stdout
    engine = sa.create_engine(deal_world.catalog_url)
    with engine.connect() as conn:
        [row] = conn.execute(sa.select(handover_package)).all()
    engine.dispose()
    assert row.acknowledged_by == "Buyer" and row.manifest_sha256 == built["manifest_sha256"]
    with AuditLog(deal_world.catalog_url) as log:
        acks = [(e.action, e.outcome) for e in (decode(r.data) for r in log.rows()) if e.action.startswith("handover")]
    assert acks == [("handover.build", "success"), ("handover.acknowledge", "refused"),
                    ("handover.acknowledge", "success")]
    # A flipped byte in an object: refused, exit 1, the object named.
    obj = next(package.rglob("*.cdy"))
    data = bytearray(obj.read_bytes())
    data[-5] ^= 0xFF
    obj.write_bytes(bytes(data))
    assert "SHA-256 differs" in cli("handover", "verify", str(package), "--key", str(key), ok=False).stderr
