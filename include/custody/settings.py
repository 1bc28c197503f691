"""Where Custody keeps its state, read from the environment in one place.

Every path derives from ``CUSTODY_HOME`` (default ``./var`` under the working directory), so a
test can point a whole run at a temporary folder with one variable.

| variable                | default                                        |
|-------------------------|------------------------------------------------|
| CUSTODY_HOME            | ./var                                          |
| CUSTODY_CONFIG_DIR      | include/config (next to this package)          |
| CUSTODY_KEYRING         | local:$CUSTODY_HOME/keys/kek.json              |
| CUSTODY_CATALOG_URL     | sqlite:///$CUSTODY_HOME/catalog.db             |
| CUSTODY_STAGING         | local ($CUSTODY_HOME/staging) or s3://bucket/prefix |
| CUSTODY_S3_ENDPOINT_URL | (AWS; or an S3-compatible endpoint for staging) |
| CUSTODY_S3_BUCKET       | custody-backups                                |
| CUSTODY_S3_PREFIX       | custody                                        |
| CUSTODY_AUDIT_ORIGIN    | custody/audit (checkpoint origin and key name) |
| CUSTODY_AUDIT_SIGNER    | keystore (or local:<key file>, kms:<key>)      |
| CUSTODY_AUDIT_LOCK_DAYS | 1095 (S3 Object Lock on audit checkpoints)     |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG_DIR = PACKAGE_DIR.parent / "config"


@dataclass(frozen=True)
class Settings:
    """Resolved locations and names for one process.

    Attributes are absolute paths (``Path``) or plain strings; nothing is created on construction.
    """

    home: Path
    config_dir: Path
    keyring: str
    catalog_url: str
    s3_bucket: str
    s3_prefix: str
    staging_url: str = "local"
    s3_endpoint_url: str | None = None
    audit_origin: str = "custody/audit"
    audit_signer: str = "keystore"
    audit_lock_days: int = 1095

    @property
    def staging_dir(self) -> Path:
        """Encrypted staging area: ``<home>/staging``."""
        return self.home / "staging"

    def staging_s3(self) -> tuple[str, str] | None:
        """``(bucket, prefix)`` of S3 staging (``CUSTODY_STAGING=s3://bucket/prefix``), or None for
        local staging. Raises ``ValueError`` for a value that is neither ``local`` nor ``s3://bucket``."""
        if self.staging_url == "local":
            return None
        scheme, _, rest = self.staging_url.partition("://")
        bucket, _, prefix = rest.partition("/")
        if scheme != "s3" or not bucket:
            raise ValueError("CUSTODY_STAGING must be 'local' or s3://<bucket>[/<prefix>]")
        return bucket, prefix.strip("/")

    @property
    def backup_dir(self) -> Path:
        """Local snapshot store: ``<home>/backups``."""
        return self.home / "backups"

    @property
    def report_dir(self) -> Path:
        """Run reports (HTML and JSON): ``<home>/reports``."""
        return self.home / "reports"

    @property
    def restore_dir(self) -> Path:
        """Default target of ``custody restore``: ``<home>/restored``."""
        return self.home / "restored"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); see the module table."""
        env = os.environ if environ is None else environ
        home = Path(env.get("CUSTODY_HOME", "var")).expanduser().resolve()
        return cls(
            home=home,
            config_dir=Path(env.get("CUSTODY_CONFIG_DIR", str(DEFAULT_CONFIG_DIR))).resolve(),
            keyring=env.get("CUSTODY_KEYRING", f"local:{home / 'keys' / 'kek.json'}"),
            catalog_url=env.get("CUSTODY_CATALOG_URL", f"sqlite:///{home / 'catalog.db'}"),
            s3_bucket=env.get("CUSTODY_S3_BUCKET", "custody-backups"),
            s3_prefix=env.get("CUSTODY_S3_PREFIX", "custody").strip("/"),
            staging_url=env.get("CUSTODY_STAGING", "local").strip() or "local",
            s3_endpoint_url=env.get("CUSTODY_S3_ENDPOINT_URL") or None,
            audit_origin=env.get("CUSTODY_AUDIT_ORIGIN", "custody/audit"),
            audit_signer=env.get("CUSTODY_AUDIT_SIGNER", "keystore"),
            audit_lock_days=int(env.get("CUSTODY_AUDIT_LOCK_DAYS", "1095")),
        )
