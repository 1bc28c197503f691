"""Source definitions (``include/config/sources.yaml``), validated with pydantic on load.

Secrets never live here: a source names an Airflow connection id (``conn_id``) whose URI comes
from the environment (``AIRFLOW_CONN_<ID>``) or a secrets backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from custody.settings import Settings

# PIPL Art 13: the lawful bases a processor may rely on.
LawfulBasis = Literal[
    "consent", "contract", "hr", "legal_duty", "emergency", "news", "public", "other_law"
]
CheckName = Literal["not_null", "unique", "email", "cn_mobile", "cn_resident_id", "regex", "between"]


class ConfigError(Exception):
    """A YAML configuration file is missing or invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckConfig(_Strict):
    """One validation check on one column (column matched by ``custody.naming.column_key``)."""

    column: str
    check: CheckName
    args: dict[str, Any] = Field(default_factory=dict)


class TableConfig(_Strict):
    """One table of a source. ``name`` matches the source table case-insensitively."""

    name: str
    primary_key: list[str] | None = None
    checks: list[CheckConfig] = Field(default_factory=list)
    max_failing_share: float | None = Field(default=None, ge=0, le=1)


class SourceConfig(_Strict):
    """One source system reached through an Airflow connection."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    description: str = ""
    conn_id: str
    lawful_basis: LawfulBasis
    retention_class: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    optional: bool = False
    chunk_rows: int = Field(default=50_000, gt=0, le=5_000_000)
    max_failing_share: float = Field(default=0.05, ge=0, le=1)
    tables: list[TableConfig]

    @field_validator("tables")
    @classmethod
    def _unique_tables(cls, tables: list[TableConfig]) -> list[TableConfig]:
        names = [t.name.lower() for t in tables]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"table listed twice: {', '.join(dupes)}")
        if not tables:
            raise ValueError("a source needs at least one table")
        return tables

    def failing_share(self, table: TableConfig) -> float:
        """The failing-row share above which validation fails the run for ``table``."""
        return self.max_failing_share if table.max_failing_share is None else table.max_failing_share


class BackupConfig(_Strict):
    """Where snapshots go: the local store always, S3 through an Airflow AWS connection."""

    local: bool = True
    s3_conn_id: str | None = "custody_s3"


class SourcesFile(_Strict):
    """The whole ``sources.yaml``."""

    version: Literal[1]
    backup: BackupConfig = Field(default_factory=BackupConfig)
    sources: list[SourceConfig]

    @model_validator(mode="after")
    def _unique_sources(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        return self

    def source(self, name: str) -> SourceConfig:
        """The source called ``name``. Raises ``ConfigError`` listing the known names."""
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(f"unknown source {name!r}; configured: {', '.join(s.name for s in self.sources)}")


def _format_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} invalid setting(s)"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file. Raises ``ConfigError`` naming the file (and line) on failure."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML") from None


def load_sources(path: Path | None = None, settings: Settings | None = None) -> SourcesFile:
    """Load and validate ``sources.yaml`` (default: ``<config_dir>/sources.yaml``).

    Raises ``ConfigError`` with one line per invalid key.
    """
    path = path or (settings or Settings.from_env()).config_dir / "sources.yaml"
    try:
        return SourcesFile.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None
