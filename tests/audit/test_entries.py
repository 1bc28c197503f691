"""Audit entries: the vocabulary, the canonical encoding (the leaf input), no free text, the actor."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from custody.audit.entries import ACTIONS, Actor, AuditEntry, EntryError, decode, subject_pseudonym

ACTOR = Actor(kind="cli", user="auditor", host="box")


def entry(**fields) -> AuditEntry:
    base = {"seq": 3, "at": "2026-12-01T09:00:00.000001Z", "actor": ACTOR, "action": "backup"}
    return AuditEntry(**{**base, **fields})


def test_encoding_is_canonical_json_and_the_leaf_is_rfc9162():
    e = entry(subject={"source": "crm", "snapshot": "snapshots/crm/r1.json"}, counts={"objects": 12},
              hashes={"snapshot_sha256": "ab" * 32})
    data = e.encode()
    assert data.startswith(b'{"action":"backup","actor":{"dag_id":null,"host":"box","kind":"cli"')
    assert b" " not in data.replace(b"snapshots/crm/r1.json", b"")
    assert json.loads(data)["seq"] == 3
    assert e.leaf_hash() == hashlib.sha256(b"\x00" + data).digest()
    assert decode(data) == e


def test_decode_refuses_anything_but_the_canonical_form():
    data = entry().encode()
    spaced = json.dumps(json.loads(data), sort_keys=True).encode()  # ", " and ": " separators
    with pytest.raises(EntryError, match="canonical"):
        decode(spaced)
    missing = json.loads(data)
    del missing["details"]
    with pytest.raises(EntryError, match="canonical"):
        decode(json.dumps(missing, sort_keys=True, separators=(",", ":")).encode())
    with pytest.raises(EntryError, match="version"):
        decode(data.replace(b'"version":1', b'"version":2'))
    with pytest.raises(EntryError, match="action"):
        decode(data.replace(b'"action":"backup"', b'"action":"shred"'))


@pytest.mark.parametrize("fields,field", [
    ({"action": "exfiltrate"}, "action"),
    ({"subject": {"customer_name": "x"}}, "subject"),
    ({"subject": {"source": "crm\nextra"}}, "subject"),
    ({"counts": {"rows": -1}}, "counts"),
    ({"hashes": {"sha": "not-hex"}}, "hashes"),
    ({"data_subject": "110101199003074258"}, "data_subject"),
    ({"reason": "ValueError: 110101199003074258 is bad"}, "reason"),
    ({"details": {"note": "张三 called about his contract"}}, "details"),
    ({"at": "2026-12-01 09:00:00"}, "at"),
])
def test_fields_outside_the_vocabulary_are_refused(fields, field):
    with pytest.raises(ValidationError) as err:
        entry(**fields)
    assert {e["loc"][0] for e in err.value.errors()} == {field}


def test_every_action_is_documented_in_the_format_spec():
    from pathlib import Path

    spec = (Path(__file__).resolve().parents[2] / "docs" / "format.md").read_text(encoding="utf-8")
    assert [a for a in ACTIONS if f"`{a}`" not in spec] == []


def test_actor_from_the_airflow_task_environment_or_the_cli_user():
    env = {"AIRFLOW_CTX_DAG_ID": "custody_pipeline_crm", "AIRFLOW_CTX_DAG_RUN_ID": "manual__1",
           "AIRFLOW_CTX_TASK_ID": "back_up", "AIRFLOW_CTX_TRY_NUMBER": "2"}
    task = Actor.from_env(env)
    assert (task.kind, task.dag_id, task.run_id, task.task_id, task.try_number) == (
        "airflow", "custody_pipeline_crm", "manual__1", "back_up", 2)
    assert task.label() == "airflow:custody_pipeline_crm/manual__1/back_up#2"
    cli = Actor.from_env({})
    assert cli.kind == "cli" and cli.label() == f"cli:{cli.user}@{cli.host}" and cli.user


def test_a_data_subject_appears_only_as_a_keyed_pseudonym(tmp_path, catalog_url, new_catalog):
    from custody.crypto import init_keyring, open_keyring

    init_keyring(f"local:{tmp_path / 'kek.json'}")
    keyring = open_keyring(f"local:{tmp_path / 'kek.json'}", key_store=catalog_url)
    token = subject_pseudonym(keyring, "resident_id", "11010519491231002X")
    assert len(token) == 32 and int(token, 16) >= 0
    assert subject_pseudonym(keyring, "resident_id", "110105 19491231 002x") == token  # normalised first
    assert "11010519491231002X" not in entry(data_subject=token).encode().decode()
    # Another deployment's key gives an unrelated pseudonym: tokens link only within one key.
    init_keyring(f"local:{tmp_path / 'kek2.json'}")
    other = open_keyring(f"local:{tmp_path / 'kek2.json'}", key_store=new_catalog(tmp_path / "other.db"))
    assert subject_pseudonym(other, "resident_id", "11010519491231002X") != token
