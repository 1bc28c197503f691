"""Classification policy: which protection level each PI type gets, and why.

The policy is a YAML file (default ``<CUSTODY_CONFIG_DIR>/policy.yaml``) validated by the pydantic
models below. It is versioned by the standard it encodes (``standard`` + ``version``), so every
classification can say which rule set it applied, and every level rule carries the article or clause
it rests on (``ref``), which reports print beside the number.

Shape of the file::

    standard: "PIPL + GB/T 35273-2020"
    version: "2026.1"
    non_pi_level: internal       # never public: public must be earned
    non_pi_ref: "..."
    levels:                      # pi_type -> level rule
      resident_id: {level: sensitive, ref: "PIPL Art 28; GB/T 35273-2020 Annex B"}
      uscc:                      # publicly disclosable organisation data ...
        level: public
        ref: "..."
        in_person_tables: {level: internal, ref: "..."}   # ... unless the table is about people
      ...
    free_text:                   # free-text columns with identifiers embedded in them
      level_with_embedded: sensitive
      embedded_types: [resident_id, bank_account, mobile_phone, email]
      ref: "..."
    minors:                      # record-level escalation (optional)
      under_age: 14
      level: sensitive
      basis_types: [birth_date, resident_id]
      ref: "PIPL Art 28, 31"
    business_data:               # non-PI columns the company still keeps internal
      - {name: hr_dates, tables: [], columns: [hire_date], level: internal, ref: "..."}
    overrides:                   # a person's decision for one column, recorded in evidence
      - {source: crm, table: customers, column: uscc, level: internal, pi_type: uscc,
         who: "dpo@example.com", why: "sole proprietors"}

Levels are ordered ``public < internal < sensitive``. **Public must be earned**: a column is public
only when a detector finds data the policy calls publicly disclosable (a ``levels`` rule at
``public``, e.g. an organisation's registered name, USCC or industry) or an override with who and
why says so. Everything else is at least internal (``non_pi_level``: the company's business
information about its customers, such as customer numbers, account banks, contract amounts and
transaction dates). In a table about people (one holding a resident ID, mobile, name ...) a public
type takes its ``in_person_tables`` rule instead: an employer or an account bank named in a
person's record relates to that person (PIPL Art 4). The loader refuses a policy that makes public
the default, a business-data rule, or a public type without ``in_person_tables``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from custody.naming import column_key

Level = Literal["public", "internal", "sensitive"]
LEVEL_ORDER: dict[str, int] = {"public": 0, "internal": 1, "sensitive": 2}

#: Pseudo PI type used for long, varied text columns (customer notes, remarks).
FREE_TEXT = "free_text"


class PolicyError(ValueError):
    """A policy file is missing, is not YAML, or breaks the schema.

    The message names the file and the dotted path of every bad key, e.g.
    ``policy.yaml: levels.email.level: Input should be 'public', 'internal' or 'sensitive'``.
    """


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonTableRule(_Model):
    """Level of a public type in a table about people, and why (never ``public``)."""

    level: Literal["internal", "sensitive"]
    ref: str = Field(min_length=3)


class LevelRule(_Model):
    """Level of one PI type and the legal reference it rests on; a public type also says what it
    becomes in a table about people (``in_person_tables``)."""

    level: Level
    ref: str = Field(
        min_length=3, description="article / clause, e.g. 'PIPL Art 28; GB/T 35273-2020 Annex B'"
    )
    note: str | None = None
    in_person_tables: PersonTableRule | None = None

    @model_validator(mode="after")
    def _public_needs_person_rule(self) -> LevelRule:
        if self.level == "public" and self.in_person_tables is None:
            raise ValueError("a public type needs in_person_tables (its level in a table about people)")
        return self


class FreeTextRule(_Model):
    """Rule for free-text columns that embed identifiers (found by a full scan, not a sample).

    A free-text column in which at least one value embeds an identifier of one of
    ``embedded_types`` gets ``level_with_embedded``; without such a hit it gets
    ``levels.free_text``.
    """

    level_with_embedded: Level
    embedded_types: list[str] = Field(min_length=1)
    ref: str = Field(min_length=3)


#: PI types a minor's birth date can be read from, row by row (see ``custody.classification.minors``).
MINOR_BASIS_TYPES: frozenset[str] = frozenset({"birth_date", "resident_id"})


class MinorsRule(_Model):
    """Record-level escalation: every record of an individual younger than ``under_age`` (in whole
    years, as of the run date) is at ``level``, whatever its columns' levels.

    ``basis_types``: the PI types whose values give the birth date row by row: ``birth_date`` (a
    date, ISO / ``年月日`` text or ``YYYYMMDD``) and ``resident_id`` (GB 11643 digits 7-14, or 7-12
    of a 15-digit number). PIPL Art 28 makes all PI of minors under 14 sensitive and Art 31 requires
    guardian consent for it; the classifier counts such records over every row (a full scan, not
    the sample).
    """

    under_age: int = Field(ge=1, le=21)
    level: Level
    basis_types: list[str] = Field(min_length=1)
    ref: str = Field(min_length=3)

    @field_validator("basis_types")
    @classmethod
    def _known_basis(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - MINOR_BASIS_TYPES)
        if unknown:
            raise ValueError(
                f"basis types {unknown} cannot give a birth date; use {sorted(MINOR_BASIS_TYPES)}"
            )
        return v


class BusinessDataRule(_Model):
    """Columns that are not PI on their own but are kept at ``level`` (e.g. HR records).

    ``columns`` and ``tables`` are compared through :func:`custody.naming.column_key`; an empty
    ``tables`` list matches every table. Applied only to columns no detector claimed as PI.
    """

    name: str = Field(min_length=1)
    tables: list[str] = Field(default_factory=list)
    columns: list[str] = Field(min_length=1)
    level: Level
    ref: str = Field(min_length=3)

    def matches(self, table: str | None, column: str) -> bool:
        """True when ``column`` (and ``table`` if the rule lists tables) is covered by this rule."""
        if column_key(column) not in {column_key(c) for c in self.columns}:
            return False
        if not self.tables:
            return True
        return table is not None and column_key(table) in {column_key(t) for t in self.tables}


class Override(_Model):
    """A person's decision for one column; wins over detection and is recorded in evidence.

    ``source`` and ``table`` may be ``"*"``. ``pi_type`` may be omitted to keep the detected type.
    """

    source: str = Field(min_length=1)
    table: str = Field(min_length=1)
    column: str = Field(min_length=1)
    level: Level
    pi_type: str | None = None
    who: str = Field(min_length=1)
    why: str = Field(min_length=3)

    def matches(self, source: str | None, table: str | None, column: str) -> bool:
        """True when this override is for ``source.table.column`` (names compared by column key)."""

        def same(rule: str, actual: str | None) -> bool:
            return rule == "*" or (actual is not None and column_key(rule) == column_key(actual))

        return same(self.source, source) and same(self.table, table) and same(self.column, column)


class Policy(_Model):
    """A validated classification policy (see the module docstring for the YAML shape).

    Raises ``pydantic.ValidationError`` on direct construction; use :func:`load_policy` to get a
    :class:`PolicyError` that names the file.
    """

    standard: str = Field(min_length=3)
    version: str = Field(min_length=1)
    non_pi_level: Level
    non_pi_ref: str = Field(min_length=3)
    levels: dict[str, LevelRule]
    free_text: FreeTextRule
    minors: MinorsRule | None = None
    business_data: list[BusinessDataRule] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)

    @field_validator("non_pi_level")
    @classmethod
    def _default_not_public(cls, v: str) -> str:
        if v == "public":
            raise ValueError("public must be earned: columns no detector claims are internal or sensitive")
        return v

    @field_validator("business_data")
    @classmethod
    def _business_not_public(cls, v: list[BusinessDataRule]) -> list[BusinessDataRule]:
        for rule in v:
            if rule.level == "public":
                raise ValueError(
                    f"{rule.name}: public must be earned (a detector or an override with who and why)"
                )
        return v

    @field_validator("levels")
    @classmethod
    def _free_text_level_present(cls, v: dict[str, LevelRule]) -> dict[str, LevelRule]:
        if FREE_TEXT not in v:
            raise ValueError(f"missing a rule for '{FREE_TEXT}' (free text without embedded identifiers)")
        return v

    @model_validator(mode="after")
    def _known_types(self) -> Policy:
        unknown = [t for t in self.free_text.embedded_types if t not in self.levels]
        if unknown:
            raise ValueError(f"free_text.embedded_types names types without a level rule: {unknown}")
        for i, o in enumerate(self.overrides):
            if o.pi_type is not None and o.pi_type not in self.levels:
                raise ValueError(f"overrides.{i}.pi_type '{o.pi_type}' has no rule under levels")
        return self

    @property
    def label(self) -> str:
        """``"<standard> <version>"``, the string a report prints for the rule set applied."""
        return f"{self.standard} {self.version}"

    def rule_for(self, pi_type: str) -> LevelRule:
        """Level rule of ``pi_type``; raises ``KeyError`` naming the type if the policy has none."""
        try:
            return self.levels[pi_type]
        except KeyError:
            raise KeyError(f"policy {self.label} has no level rule for pi_type '{pi_type}'") from None

    def find_override(self, source: str | None, table: str | None, column: str) -> Override | None:
        """The last override matching ``source.table.column`` (later entries win), or None."""
        hit = None
        for o in self.overrides:
            if o.matches(source, table, column):
                hit = o
        return hit

    def business_rule(self, table: str | None, column: str) -> BusinessDataRule | None:
        """The first business-data rule covering the column, or None."""
        return next((r for r in self.business_data if r.matches(table, column)), None)


def default_policy_path() -> Path:
    """``<CUSTODY_CONFIG_DIR>/policy.yaml`` (default ``include/config/policy.yaml``)."""
    from custody.settings import Settings

    return Settings.from_env().config_dir / "policy.yaml"


def _format_errors(where: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        lines.append(f"{where}: {loc}: {e['msg']}")
    return "\n".join(lines)


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate a policy YAML file.

    ``path`` defaults to :func:`default_policy_path`. Returns a frozen :class:`Policy`.
    Raises :class:`PolicyError` when the file is missing, is not a YAML mapping, or breaks the
    schema; the message names the file and every bad key by its dotted path
    (``levels.email.level``, ``overrides.0.who``), never a data value.
    """
    p = Path(path) if path is not None else default_policy_path()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{p}: cannot read policy file ({exc.strerror or exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{p.name}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{p.name}: <root>: expected a mapping of policy keys")
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_format_errors(p.name, exc)) from None
