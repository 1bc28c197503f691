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
CheckName = Literal["not_null", "unique", "email", "cn_mobile", "cn_resident_id", "regex", "between", "cn_bank_card",
                    "uscc"]
#: ``full``: every row on every run; ``incremental``: rows past the table's watermark (SQL) or files
#: not committed by an earlier run (file drops).
ExtractMode = Literal["full", "incremental"]
FileFormat = Literal["auto", "csv", "xlsx", "jsonl"]


class ConfigError(Exception):
    """A YAML configuration file is missing or invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckConfig(_Strict):
    """One validation check on one column (column matched by ``custody.naming.column_key``)."""

    column: str
    check: CheckName
    args: dict[str, Any] = Field(default_factory=dict)


class IdentifierConfig(_Strict):
    """A file-drop column that holds an identifier (ID card, mobile, account or customer number).

    Its values are NFKC-normalised (full-width digits and spaces) into the column, the raw text is
    kept beside it in ``<column>__raw``, and values a spreadsheet mangled (scientific notation, a
    trailing ``.0``, lost leading zeros when ``width`` is set, a number cell in XLSX) are
    quarantined at extraction with their reason, never repaired.
    """

    column: str
    width: int | None = Field(default=None, ge=1, le=64)


class TableConfig(_Strict):
    """One table of a source. ``name`` matches the source table case-insensitively.

    Extraction settings (all optional):

    - ``mode``: ``full`` or ``incremental``. Incremental SQL tables need ``watermark_column``: an
      updated-at timestamp or an increasing integer key. Each run extracts rows with
      ``previous watermark < column <= run's upper bound``; the watermark lives in the catalog and
      advances only when the run's manifest is committed.
    - ``watermark_lag_seconds``: subtracted from the run's interval end for timestamp watermarks,
      so rows from transactions still open at the interval end are picked up by the next run.
    - ``split_rows``: rows per key range (default: the source's); larger tables are extracted as
      several ranges of a single-column integer primary key, in parallel mapped tasks.
    - File drops: ``files`` (glob under the source's landing), ``format``, ``sheets`` (XLSX; all
      when omitted), ``encoding`` (``auto`` detects UTF-8, UTF-8 with BOM and GB18030/GBK),
      ``delimiter`` (detected when omitted), ``columns`` (the expected header; default the first
      file's) and ``identifiers``.
    - ``row_keys``: stage a change-capture ``rowkeys`` object beside every chunk (a 32-byte row key
      and row hash per row, docs/format.md 5.3), so that runs of the table can be merged by key
      and unchanged rows skipped. Default (``None``): incremental tables with a primary key only
      (every SQL table has one; a file drop when ``primary_key`` names it). A full snapshot is
      complete in itself; its objects would be as large as the compressed rows and nothing in
      Custody reads them, so they are staged only when asked for (``true``).
    """

    name: str
    primary_key: list[str] | None = None
    checks: list[CheckConfig] = Field(default_factory=list)
    max_failing_share: float | None = Field(default=None, ge=0, le=1)
    mode: ExtractMode = "full"
    watermark_column: str | None = None
    watermark_lag_seconds: int = Field(default=0, ge=0, le=7 * 86400)
    split_rows: int | None = Field(default=None, gt=0)
    files: str | None = None
    format: FileFormat = "auto"
    sheets: list[str] | None = None
    encoding: str = "auto"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    columns: list[str] | None = None
    identifiers: list[IdentifierConfig] = Field(default_factory=list)
    row_keys: bool | None = None

    def stages_row_keys(self, *, keyed: bool = True) -> bool:
        """Whether extraction stages ``rowkeys`` objects for this table: ``row_keys`` or, when
        unset, whether the table is incremental and ``keyed`` (it has a primary key: a file drop
        without one has only positional row keys, which identify no row across runs)."""
        return self.mode == "incremental" and keyed if self.row_keys is None else self.row_keys

    @model_validator(mode="after")
    def _watermark_needs_incremental(self) -> TableConfig:
        if self.watermark_column and self.mode != "incremental":
            raise ValueError("watermark_column is only used with mode: incremental")
        return self


def pipeline_dag_id(source: str) -> str:
    """Id of a source's main-job DAG, ``custody_pipeline_<source>``: who may read that DAG (Airflow's
    auth manager) may read the source's run reports in the UI plugin."""
    return f"custody_pipeline_{source}"


class SourceConfig(_Strict):
    """One source system: a database reached through an Airflow connection, or a file-drop landing.

    ``kind: sql`` (default) needs ``conn_id``. ``kind: files`` needs ``landing``: a local folder
    or ``s3://bucket/prefix`` (then ``conn_id``, if set, names the Airflow AWS connection).
    ``timezone``: IANA zone of naive source timestamps (DATETIME, timestamp without time zone);
    they are converted to UTC and the zone is recorded per column in the manifest.
    ``pool`` / ``pool_slots``: the Airflow pool (default ``custody_<name>``) that limits how many
    key ranges of this source are extracted at once; it must exist (``airflow pools set``).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    description: str = ""
    kind: Literal["sql", "files"] = "sql"
    conn_id: str | None = None
    landing: str | None = None
    lawful_basis: LawfulBasis
    retention_class: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    optional: bool = False
    chunk_rows: int = Field(default=50_000, gt=0, le=5_000_000)
    split_rows: int = Field(default=2_000_000, gt=0)
    timezone: str = "UTC"
    pool: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,256}$")
    pool_slots: int = Field(default=2, ge=1, le=128)
    max_failing_share: float = Field(default=0.05, ge=0, le=1)
    tables: list[TableConfig]

    @property
    def pool_name(self) -> str:
        """Airflow pool of this source's extraction tasks: ``pool`` or ``custody_<name>``."""
        return self.pool or f"custody_{self.name}"

    @property
    def dag_id(self) -> str:
        """The main-job DAG of this source (``pipeline_dag_id``)."""
        return pipeline_dag_id(self.name)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {zone!r}") from None
        return zone

    @model_validator(mode="after")
    def _kind_settings(self) -> SourceConfig:
        if self.kind == "sql":
            if not self.conn_id:
                raise ValueError("a sql source needs conn_id")
            bad = [t.name for t in self.tables if t.files]
            if bad:
                raise ValueError(f"files: is for file-drop sources only ({', '.join(bad)})")
            missing = [t.name for t in self.tables if t.mode == "incremental" and not t.watermark_column]
            if missing:
                raise ValueError(f"incremental tables need watermark_column: {', '.join(missing)}")
        else:
            if not self.landing:
                raise ValueError("a files source needs landing (a folder or s3://bucket/prefix)")
            missing = [t.name for t in self.tables if not t.files]
            if missing:
                raise ValueError(f"file-drop tables need files (a glob): {', '.join(missing)}")
            bad = [t.name for t in self.tables if t.watermark_column]
            if bad:
                raise ValueError(f"file drops track committed files, not a watermark_column: {', '.join(bad)}")
        return self

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

    def pools(self) -> dict[str, int]:
        """Airflow pools the extraction needs: ``{pool name: slots}`` (create each with ``airflow pools set``)."""
        return {s.pool_name: s.pool_slots for s in self.sources}

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


def offered_sources(sources: SourcesFile, env: Any = None) -> list[SourceConfig]:
    """The sources to build DAGs for: all configured ones, or only those named in
    ``CUSTODY_SOURCES`` (comma-separated) when it is set, so a deployment (``make up``) offers
    only the sources it can reach. Raises ``ConfigError`` for a name that is not configured."""
    import os

    env = os.environ if env is None else env
    wanted = [n.strip() for n in env.get("CUSTODY_SOURCES", "").split(",") if n.strip()]
    if not wanted:
        return list(sources.sources)
    for name in wanted:
        sources.source(name)  # raises ConfigError naming the configured sources
    return [s for s in sources.sources if s.name in wanted]


def load_sources(path: Path | None = None, settings: Settings | None = None) -> SourcesFile:
    """Load and validate ``sources.yaml`` (default: ``<config_dir>/sources.yaml``).

    Raises ``ConfigError`` with one line per invalid key.
    """
    path = path or (settings or Settings.from_env()).config_dir / "sources.yaml"
    try:
        return SourcesFile.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None


# -- data-subject requests (include/config/dsr.yaml) -------------------------------------------------
class RegimeConfig(_Strict):
    """How long one legal regime gives to answer a data-subject request.

    The due date is ``received + due_days + due_months`` (months added as calendar months: the
    same day of the month, or the month's last day when it has no such day); an extension, once,
    adds ``extension_days + extension_months`` to the due date and needs a reason
    (``custody.dsr.requests.EXTENSION_REASONS``). ``extendable`` is false when the regime has no
    extension. ``reference``: the article the period comes from.
    """

    reference: str
    due_days: int = Field(default=0, ge=0, le=366)
    due_months: int = Field(default=0, ge=0, le=12)
    extension_days: int = Field(default=0, ge=0, le=366)
    extension_months: int = Field(default=0, ge=0, le=12)

    @model_validator(mode="after")
    def _some_period(self) -> RegimeConfig:
        if self.due_days == 0 and self.due_months == 0:
            raise ValueError("a regime needs due_days or due_months")
        return self

    @property
    def extendable(self) -> bool:
        """True when the regime allows one extension."""
        return self.extension_days > 0 or self.extension_months > 0


class DsrConfig(_Strict):
    """The whole ``dsr.yaml``: the regimes and which one applies when a request names none."""

    version: Literal[1]
    default_regime: str
    regimes: dict[str, RegimeConfig]

    @model_validator(mode="after")
    def _default_known(self) -> DsrConfig:
        if self.default_regime not in self.regimes:
            raise ValueError(f"default_regime {self.default_regime!r} is not among the regimes")
        bad = [n for n in self.regimes if not n.isidentifier() or len(n) > 16]
        if bad:
            raise ValueError(f"regime names are short identifiers: {bad}")
        return self

    def regime(self, name: str | None) -> RegimeConfig:
        """The regime called ``name`` (None: the default). Raises ``ConfigError``."""
        key = name or self.default_regime
        if key not in self.regimes:
            raise ConfigError(f"unknown regime {key!r}; configured: {', '.join(sorted(self.regimes))}")
        return self.regimes[key]


def load_dsr(path: Path | None = None, settings: Settings | None = None) -> DsrConfig:
    """Load and validate ``dsr.yaml`` (default: ``<config_dir>/dsr.yaml``). Raises ``ConfigError``."""
    path = path or (settings or Settings.from_env()).config_dir / "dsr.yaml"
    try:
        return DsrConfig.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None
