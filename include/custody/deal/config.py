"""``include/config/deal.yaml``: the deal, its parties and its milestones, validated on load.

Example::

    version: 1
    deals:
      - id: acme-2026
        transferor: {name: "Seller Co."}
        transferee:
          name: "Buyer Co."
          public_key_env: CUSTODY_TRANSFEREE_PUBLIC_KEY   # or public_key: "x25519:<base64>"
        milestones:
          due_diligence: {date: 2026-11-02, actions: [inventory_summary, pipia_draft]}
          signing: {date: 2026-12-01, actions: [notification_list]}
          closing:
            date: 2027-01-15
            actions: [handover_package]
            handover: {source: crm, tables: [contacts, enterprise_customers]}
          post_closing:
            date: 2027-02-15
            actions: [retention_rules]
            retention: {transferor_copies_expire_after_days: 30}

The transferee's public key is not a secret; the private key never comes near Custody.
"""

from __future__ import annotations

import os
import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from custody.config import ConfigError, _format_error, read_yaml
from custody.settings import Settings

#: The milestones of a transfer, in their order (PIPL Art 22: the transfer and its notification).
MILESTONES = ("due_diligence", "signing", "closing", "post_closing")
Milestone = Literal["due_diligence", "signing", "closing", "post_closing"]
#: What a milestone can start (``custody.deal.actions``).
Action = Literal["inventory_summary", "pipia_draft", "notification_list", "handover_package", "retention_rules"]
DEFAULT_ACTIONS: dict[str, list[str]] = {
    "due_diligence": ["inventory_summary", "pipia_draft"],
    "signing": ["notification_list"],
    "closing": ["handover_package"],
    "post_closing": ["retention_rules"],
}
_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def asset_uri(milestone: str) -> str:
    """URI of the Airflow Asset a recorded milestone updates: ``custody://milestone/<milestone>``."""
    return f"custody://milestone/{milestone}"


def asset_name(milestone: str) -> str:
    """Name of that Asset: ``custody_milestone_<milestone>`` (also the id of the DAG it schedules)."""
    return f"custody_milestone_{milestone}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Strict):
    """The transferor (seller) or the transferee (buyer)."""

    name: str = Field(min_length=1, max_length=200)
    #: ``x25519:<base64 of 32 bytes>``, the key handover packages are encrypted to.
    public_key: str | None = None
    #: Environment variable that holds ``public_key`` instead (kept out of git per deployment).
    public_key_env: str | None = None
    #: Or the transferee's symmetric AWS KMS key, as a keyring spec
    #: ``kms:<key ARN>[?endpoint_url=...&region=...]`` (the transferor needs ``kms:Encrypt`` on it).
    kms_key: str | None = Field(default=None, pattern=r"^kms:")

    def recipient_kms(self) -> object | None:
        """A ``KmsKeyring`` over ``kms_key`` (None without one)."""
        if not self.kms_key:
            return None
        from custody.crypto.open import open_keyring

        return open_keyring(self.kms_key)

    @field_validator("public_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None:
            from custody.handover.recipient import parse_public_key

            try:
                parse_public_key(v)
            except Exception as exc:  # KeyringError: say which setting
                raise ValueError(str(exc)) from None
        return v

    def recipient_public(self, environ: dict[str, str] | None = None) -> bytes:
        """The raw 32-byte public key. Raises ``ConfigError`` when none is configured or set."""
        from custody.handover.recipient import parse_public_key

        text = self.public_key
        if text is None and self.public_key_env:
            text = (os.environ if environ is None else environ).get(self.public_key_env)
        if not text:
            raise ConfigError(f"transferee {self.name!r} has no public key: set public_key in deal.yaml"
                              + (f" or the variable {self.public_key_env}" if self.public_key_env else ""))
        try:
            return parse_public_key(text)
        except Exception as exc:
            raise ConfigError(f"transferee public key: {exc}") from None


class HandoverConfig(_Strict):
    """What the closing hands over: a source's newest snapshot, these tables."""

    source: str
    tables: list[str] = Field(min_length=1)


class RetentionConfig(_Strict):
    """Post-closing: how long the transferor may keep its copies after the milestone's date."""

    transferor_copies_expire_after_days: int = Field(default=30, ge=0, le=3650)
    #: Sources whose copies expire (default: every source handed over).
    sources: list[str] = Field(default_factory=list)


class MilestoneConfig(_Strict):
    """One milestone: its planned date and the actions it starts when recorded."""

    date: dt.date | None = None
    actions: list[Action] | None = None
    handover: HandoverConfig | None = None
    retention: RetentionConfig | None = None


class DealConfig(_Strict):
    """One deal: id, parties, milestones."""

    id: str = Field(pattern=_ID)
    transferor: Party
    transferee: Party
    milestones: dict[Milestone, MilestoneConfig] = Field(default_factory=dict)

    def milestone(self, name: str) -> MilestoneConfig:
        """The milestone's settings (an empty one when the file leaves it out)."""
        return self.milestones.get(name) or MilestoneConfig()  # type: ignore[call-overload]

    def actions(self, name: str) -> list[str]:
        """The actions ``name`` starts: as configured, else ``DEFAULT_ACTIONS``."""
        configured = self.milestone(name).actions
        return list(DEFAULT_ACTIONS[name] if configured is None else configured)

    @model_validator(mode="after")
    def _closing(self) -> DealConfig:
        closing = self.milestones.get("closing")
        if closing is not None and "handover_package" in (closing.actions or DEFAULT_ACTIONS["closing"]) \
                and closing.handover is None:
            raise ValueError("milestones.closing: the handover_package action needs handover: {source, tables}")
        return self


class DealsFile(_Strict):
    """The whole ``deal.yaml``."""

    version: Literal[1]
    deals: list[DealConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> DealsFile:
        ids = [d.id for d in self.deals]
        if len(set(ids)) != len(ids):
            raise ValueError("deal ids must be unique")
        return self

    def deal(self, deal_id: str) -> DealConfig:
        """The deal ``deal_id``. Raises ``ConfigError`` listing the known ids."""
        for d in self.deals:
            if d.id == deal_id:
                return d
        raise ConfigError(f"unknown deal {deal_id!r}; configured: {', '.join(d.id for d in self.deals)}")


def load_deals(path: Path | None = None, settings: Settings | None = None) -> DealsFile:
    """Load and validate ``deal.yaml`` (default ``<config_dir>/deal.yaml``). Raises ``ConfigError``."""
    path = path or (settings or Settings.from_env()).config_dir / "deal.yaml"
    try:
        return DealsFile.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None
