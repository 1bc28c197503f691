"""What every stage call needs: settings, configuration, keyring, staging and audit log of one process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from custody.config import SourcesFile, load_sources
from custody.crypto.keyring import Keyring
from custody.crypto.open import open_keyring
from custody.documents import RunManifest, document_key
from custody.settings import Settings
from custody.staging import StagingStore


class StageError(Exception):
    """A stage cannot proceed (reconciliation mismatch, missing upstream document)."""


@dataclass
class Runtime:
    """Settings, config, keyring and staging of one process, built lazily from the environment."""

    settings: Settings

    @classmethod
    def from_env(cls) -> Runtime:
        """Runtime for the current environment (``CUSTODY_*`` variables)."""
        return cls(Settings.from_env())

    @cached_property
    def sources(self) -> SourcesFile:
        """Validated ``sources.yaml``."""
        return load_sources(settings=self.settings)

    @cached_property
    def keyring(self) -> Keyring:
        """Scope keys in the catalog, wrapped by the KEK named by ``CUSTODY_KEYRING``.

        Data keys are wrapped per crypto-shredding scope, so one scope can be destroyed without
        touching the others (``docs/format.md`` section 1).
        """
        return open_keyring(self.settings.keyring, key_store=self.settings.catalog_url)

    @cached_property
    def staging(self) -> StagingStore:
        """Encrypted staging: under ``CUSTODY_HOME/staging``, or on S3 (``CUSTODY_STAGING=s3://...``,
        shared by every worker; credentials from the boto3 chain, endpoint ``CUSTODY_S3_ENDPOINT_URL``)."""
        s3 = self.settings.staging_s3()
        if s3 is None:
            return StagingStore(self.settings.staging_dir, self.keyring)
        from custody.store.backends import S3Store, S3StoreOptions, make_s3_client

        endpoint = self.settings.s3_endpoint_url
        options = S3StoreOptions(bucket=s3[0], prefix=s3[1], endpoint_url=endpoint,
                                 addressing_style="path" if endpoint else "auto")
        return StagingStore(None, self.keyring, s3=S3Store(make_s3_client(options), options=options))

    @cached_property
    def audit(self) -> Any:
        """The audit log (``custody.audit.log.AuditLog``) in the catalog."""
        from custody.audit.log import AuditLog

        return AuditLog(self.settings.catalog_url)

    def record(self, action: str, **fields: Any) -> Any:
        """Append one audit entry (``AuditLog.append`` fields); the actor is the Airflow task or
        ``user@host`` (``custody.audit.entries.Actor.from_env``). Returns the entry."""
        return self.audit.append(action, **fields)

    def signer(self) -> Any:
        """The checkpoint signer named by ``CUSTODY_AUDIT_SIGNER`` (``custody.audit.signing``)."""
        from custody.audit.signing import open_signer

        return open_signer(self.settings.audit_signer, name=self.settings.audit_origin, keyring=self.keyring)

    def checkpoint(self, stores: list[Any], reason: str) -> Any:
        """Sign the audit log's tree and keep the checkpoint in the catalog and ``stores``
        (``custody.audit.checkpoints.write_checkpoint``); returns the checkpoint."""
        from custody.audit.checkpoints import write_checkpoint

        return write_checkpoint(self.audit, self.signer(), stores, origin=self.settings.audit_origin, reason=reason,
                                lock_days=self.settings.audit_lock_days)

    def manifest(self, source: str, run_key: str) -> RunManifest:
        """The sealed run manifest of a run. Raises ``DocumentError``."""
        return self.staging.get(document_key("manifest", source=source, run_key=run_key), RunManifest)
