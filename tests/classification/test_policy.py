"""Policy files: loading, errors that name the bad key, overrides and business-data rules."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from custody.classification import PolicyError, TableClassifier, classify_table, load_policy
from custody.classification.policy import Override

from ._gen import make_uscc
from .conftest import CONFIG_DIR


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(
        data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )
    return p


def _base() -> dict:
    return yaml.safe_load((CONFIG_DIR / "policy.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["policy.yaml", "policy.gbt45574-2025.yaml", "policy.gdpr.yaml"])
def test_shipped_policies_load_and_cover_every_detector(name):
    p = load_policy(CONFIG_DIR / name)
    TableClassifier(p)  # raises if a detector's PI type has no level rule
    for t in ("resident_id", "bank_account", "passport", "travel_permit"):
        assert p.levels[t].level == "sensitive", (name, t)
    assert p.levels["org_name"].level == "public"
    assert all(rule.ref for rule in p.levels.values())


def test_default_policy_levels_and_refs(policy):
    assert (policy.standard, policy.version) == ("PIPL + GB/T 35273-2020", "2026.1")
    assert policy.label == "PIPL + GB/T 35273-2020 2026.1"
    internal = ["person_name", "mobile_phone", "phone", "email", "postal_address", "birth_date", "ip_address"]
    assert {t: policy.levels[t].level for t in internal} == dict.fromkeys(internal, "internal")
    assert policy.levels["uscc"].level == "public" and "sole proprietor" in policy.levels["uscc"].ref
    assert "Art 28" in policy.levels["resident_id"].ref and "Annex B" in policy.levels["bank_account"].ref
    assert policy.non_pi_level == "internal" and policy.free_text.level_with_embedded == "sensitive"
    for t in ("org_name", "uscc", "industry"):  # public, except in a table about people
        assert (policy.levels[t].level, policy.levels[t].in_person_tables.level) == ("public", "internal")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"non_pi_level": "public"}, "non_pi_level: Value error, public must be earned"),
        (
            {"business_data": [{"name": "codes", "columns": ["code"], "level": "public", "ref": "because"}]},
            "business_data: Value error, codes: public must be earned",
        ),
        (
            {"levels": {"org_name": {"level": "public", "ref": "registered names"}}},
            "levels.org_name: Value error, a public type needs in_person_tables",
        ),
    ],
)
def test_public_must_be_earned(tmp_path, change, message):
    """Public is never a default: only a detector of a public type or an override makes a column public."""
    raw = _base()
    for key, value in change.items():
        raw[key] = {**raw[key], **value} if key == "levels" else value
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, raw))
    assert message in str(err.value)


def test_public_override_records_who_and_why(policy):
    table = pa.table({"region_code": ["310000", "110000", "440300"] * 5})
    assert classify_table(table, policy, source="crm", table_name="regions")[0].level == "internal"
    ov = Override(
        source="crm",
        table="regions",
        column="region_code",
        level="public",
        who="dpo@example.com",
        why="GB/T 2260 division codes are published reference data",
    )
    p = policy.model_copy(update={"overrides": [ov]})
    r = classify_table(table, p, source="crm", table_name="regions")[0]
    assert r.level == "public" and r.policy_ref == "override: GB/T 2260 division codes are published reference data"
    assert r.evidence.public_basis.model_dump() == {
        "by": "override",
        "detector": None,
        "who": "dpo@example.com",
        "ref": "GB/T 2260 division codes are published reference data",
    }


def test_default_path_follows_config_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(tmp_path))
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy()
    (tmp_path / "policy.yaml").write_text(
        (CONFIG_DIR / "policy.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert load_policy().version == "2026.1"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["levels"]["email"].update(level="secret"), r"levels\.email\.level"),
        (lambda d: d.pop("version"), r"policy\.yaml: version: Field required"),
        (lambda d: d.update(levelz={}), r"levelz: Extra inputs are not permitted"),
        (lambda d: d["levels"].pop("free_text"), r"levels: .*free_text"),
        (lambda d: d["levels"]["email"].pop("ref"), r"levels\.email\.ref"),
        (lambda d: d["free_text"].update(embedded_types=["tattoo"]), r"embedded_types.*tattoo"),
        (lambda d: d.update(non_pi_level="open"), r"non_pi_level"),
        (
            lambda d: d.update(
                overrides=[
                    {"source": "crm", "table": "t", "column": "c", "level": "public", "why": "because"}
                ]
            ),
            r"overrides\.0\.who: Field required",
        ),
        (
            lambda d: d.update(
                overrides=[
                    {
                        "source": "crm",
                        "table": "t",
                        "column": "c",
                        "level": "public",
                        "pi_type": "tattoo",
                        "who": "x",
                        "why": "because",
                    }
                ]
            ),
            r"overrides\.0\.pi_type 'tattoo'",
        ),
        (lambda d: d["business_data"][0].update(columns=[]), r"business_data\.0\.columns"),
        (
            lambda d: d["minors"].update(basis_types=["email"]),
            r"minors\.basis_types.*cannot give a birth date",
        ),
        (lambda d: d["minors"].update(under_age=0), r"minors\.under_age"),
        (lambda d: d["minors"].pop("ref"), r"minors\.ref: Field required"),
    ],
)
def test_policy_errors_name_the_bad_key(tmp_path, mutate, expected):
    data = _base()
    mutate(data)
    with pytest.raises(PolicyError, match=expected):
        load_policy(_write(tmp_path, data))


def test_policy_file_errors(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="not valid YAML at line"):
        load_policy(_write(tmp_path, "standard: [unclosed\n"))
    with pytest.raises(PolicyError, match="expected a mapping"):
        load_policy(_write(tmp_path, "- a\n- b\n"))


def test_classifier_refuses_policy_without_a_detector_type(tmp_path):
    data = _base()
    data["levels"].pop("ip_address")
    with pytest.raises(PolicyError, match="ip_address"):
        TableClassifier(load_policy(_write(tmp_path, data)))


def test_overrides_are_applied_and_recorded(tmp_path):
    import random

    data = _base()
    data["overrides"] = [
        {
            "source": "crm",
            "table": "merchants",
            "column": "USCC",
            "level": "internal",
            "pi_type": "uscc",
            "who": "dpo@acquirer.example",
            "why": "merchants include sole proprietors (个体工商户)",
        },
        {
            "source": "*",
            "table": "*",
            "column": "legacy_notes",
            "level": "sensitive",
            "who": "dpo@acquirer.example",
            "why": "scanned copies of contracts pasted as text",
        },
    ]
    policy = load_policy(_write(tmp_path, data))
    rng = random.Random(1)
    table = pa.table({"uscc": [make_uscc(rng) for _ in range(30)], "legacy_notes": ["ok"] * 30})
    r = {x.column: x for x in classify_table(table, policy, source="crm", table_name="merchants")}
    assert (r["uscc"].pi_type, r["uscc"].level, r["uscc"].confidence) == ("uscc", "internal", 1.0)
    assert r["uscc"].evidence.override.who == "dpo@acquirer.example"
    assert r["uscc"].evidence.detector == "cn_uscc"  # detection evidence is kept beside the override
    assert r["legacy_notes"].level == "sensitive" and r["legacy_notes"].pi_type is None
    assert r["legacy_notes"].policy_ref.startswith("override:")
    other = {x.column: x for x in classify_table(table, policy, source="crm", table_name="customers")}
    assert other["uscc"].level == "public" and other["uscc"].evidence.override is None
    assert other["legacy_notes"].level == "sensitive"


def test_business_data_rules(policy):
    table = pa.table(
        {
            "Title": ["Sales Manager", "IT Staff", "General Manager"] * 5,
            "HireDate": ["2002-08-14 00:00:00"] * 15,
        }
    )
    emp = {x.column: x for x in classify_table(table, policy, table_name="Employee")}
    assert (emp["Title"].pi_type, emp["Title"].level) == (None, "internal")
    assert emp["Title"].evidence.reason == "business_data:hr_job"
    assert emp["HireDate"].level == "internal"
    album = {x.column: x for x in classify_table(table, policy, table_name="Album")}
    assert album["Title"].evidence.reason == "not_pi:no_detector_matched"  # hr_job is for employee tables
    assert album["Title"].level == "internal"  # ... and nothing earned it public
    assert album["HireDate"].level == "internal"  # hire dates are HR data in any table


@pytest.mark.parametrize(
    ("name", "age"), [("policy.yaml", 14), ("policy.gbt45574-2025.yaml", 14), ("policy.gdpr.yaml", 16)]
)
def test_shipped_policies_escalate_minors_and_know_new_types(name, age):
    p = load_policy(CONFIG_DIR / name)
    assert p.minors is not None and p.minors.under_age == age and p.minors.level == "sensitive"
    assert set(p.minors.basis_types) == {"birth_date", "resident_id"}
    assert "Art 28" in p.minors.ref or "Art 8" in p.minors.ref
    assert p.levels["ssn"].level == "sensitive" and p.levels["device_id"].level == "internal"


def test_minors_rule_is_optional(tmp_path):
    data = _base()
    data.pop("minors")
    assert load_policy(_write(tmp_path, data)).minors is None
