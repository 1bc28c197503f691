"""``custody dsr`` end to end on a backed-up demo run: identifiers from stdin (never arguments),
the lifecycle, a deletion that ``custody restore`` then honours, an access export opened with its
key, and no identifier in anything the commands print."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
from typer.testing import CliRunner

from custody.cli import app
from custody.identifiers import resident_id
from dsr._runs import subject_of

runner = CliRunner()


def _rid(output: str) -> str:
    return re.search(r"(dsr-[0-9a-f]{16}):", output).group(1)


def test_deletion_then_restore_and_access_through_the_command_line(backed_up, tmp_path):
    rt, snapshot, crm, _ = backed_up
    rid, contact_id, accounts = subject_of(crm)
    printed = []

    def run(args, **kw):
        res = runner.invoke(app, args, **kw)
        printed.append(res.output)
        return res

    res = run(["dsr", "receive", "--kind", "deletion", "--id", "resident_id"], input=rid + "\n")
    assert res.exit_code == 0, res.output
    req = _rid(res.output)
    assert "received" in res.output and "regime pipl" in res.output and "(15 days left)" in res.output
    res = run(["dsr", "execute", req])
    assert res.exit_code == 1 and "cannot execute a request in state received" in res.output
    assert run(["dsr", "verify", req]).exit_code == 0
    res = run(["dsr", "approve", req, "--approver", "dpo"])
    assert res.exit_code == 0 and "approved" in res.output
    res = run(["dsr", "execute", req])
    assert res.exit_code == 0, res.output
    assert "crm/contacts: 1 rows" in res.output and f"crm/bank_accounts: {len(accounts)} rows" in res.output

    res = run(["restore", snapshot.removeprefix("snapshots/").removesuffix(".json"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "1 rows of erased data subjects left out" in res.output
    contacts = pq.read_table(tmp_path / "r" / "crm" / "contacts.parquet")
    assert contact_id not in contacts["contact_id"].to_pylist()
    restored_ids = {resident_id.canonical(v) for v in contacts["resident_id"].to_pylist() if v}
    assert resident_id.canonical(rid) not in restored_ids

    res = run(["dsr", "list", "--json"])
    section = json.loads(res.output)
    assert [o["request_id"] for o in section["open"]] == [req] and section["open"][0]["state"] == "executed"
    assert run(["dsr", "close", req]).exit_code == 0
    assert json.loads(run(["dsr", "list", "--json"]).output)["open"] == []

    # Access: the same subject, now erased, is found in no restore, so an export of the earlier
    # snapshot (which still holds them until retention) is what the request gets.
    res = run(["dsr", "receive", "--kind", "access", "--id", "resident_id", "--id", "email"],
              input=rid + "\n" + "not-an-email\n")
    assert res.exit_code == 1 and "email" in res.output
    res = run(["dsr", "receive", "--kind", "access", "--id", "resident_id"], input=rid + "\n")
    access = _rid(res.output)
    run(["dsr", "verify", access])
    res = run(["dsr", "approve", access, "--approver", "dpo"])
    res = run(["dsr", "execute", access, "--out", str(tmp_path / "exports")])
    assert res.exit_code == 0, res.output
    key = re.search(r"key \(shown once; hand it over by another channel\):\n(\S+)\n", res.output).group(1)
    printed[-1] = printed[-1].replace(key, "")
    (tmp_path / "key.txt").write_text(key)
    res = run(["dsr", "open", str(tmp_path / "exports" / f"{access}.cdyx"), "--out", str(tmp_path / "opened"),
               "--key-file", str(tmp_path / "key.txt")])
    assert res.exit_code == 0, res.output
    opened = json.loads((tmp_path / "opened" / "crm__contacts.json").read_text(encoding="utf-8"))
    assert dict(zip(opened["columns"], opened["rows"][0]))["contact_id"] == contact_id
    printed[-1] = ""  # the opened files' paths only; nothing else was printed
    everything = "\n".join(printed)
    assert rid not in everything and rid[:10] not in everything
