"""What every stage call needs: settings, configuration, keyring and staging of one process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
        """Encrypted staging under ``CUSTODY_HOME/staging``."""
        return StagingStore(self.settings.staging_dir, self.keyring)

    def manifest(self, source: str, run_key: str) -> RunManifest:
        """The sealed run manifest of a run. Raises ``DocumentError``."""
        return self.staging.get(document_key("manifest", source=source, run_key=run_key), RunManifest)
