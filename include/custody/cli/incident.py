"""Incident commands: ``custody incident open | restore | close | show``.

``open`` runs the first steps at once: open (the 72-hour clock), assess (the affected inventory,
read while the scopes are still readable), contain (reversible revocation of the scope keys;
``--kms`` also disables the KMS key-encryption key), and the PIPL Art 57 / GDPR Art 33 drafts.
``restore`` is the way back (``--how reenable`` or ``rotate``); ``close`` ends the incident,
also when the scopes stay revoked (their keys are then destroyed only through the purge).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Annotated

import typer

from custody.cli.app import app
from custody.cli.common import EndpointOpt, StoreKind, StoreOpt, out

incident_app = typer.Typer(no_args_is_help=True, help="Incident response (PIPL Art 57, GDPR Art 33).")
app.add_typer(incident_app, name="incident")


class Kind(str, Enum):
    breach = "breach"
    key_exposure = "key_exposure"
    unauthorised_access = "unauthorised_access"
    loss = "loss"
    drill = "drill"


class How(str, Enum):
    reenable = "reenable"
    rotate = "rotate"


class Resolution(str, Enum):
    reenable = "reenable"
    rotate = "rotate"
    kept_revoked = "kept_revoked"


@incident_app.command("open")
def open_cmd(
    scope: Annotated[list[str], typer.Option("--scope", help="Affected scope <source>/<retention_class> (repeat).")],
    kind: Annotated[Kind, typer.Option(help="What happened.")] = Kind.breach,
    detected_at: Annotated[str | None, typer.Option(help="When it became known (ISO 8601, default now).")] = None,
    kms: Annotated[bool, typer.Option(help="Also disable the KMS key-encryption key (KMS keyrings).")] = False,
    incident_id: Annotated[str | None, typer.Option(help="Id (default: a new one); a rerun continues it.")] = None,
    store: StoreOpt = StoreKind.local,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Open an incident: affected inventory, reversible revocation of its scopes, notification drafts."""
    from custody.cli.common import _open
    from custody.incident.response import assess, contain, draft, open_incident

    settings, keyring, store_obj = _open(store, endpoint_url)
    detected = datetime.fromisoformat(detected_at) if detected_at else None
    inc = open_incident(settings.catalog_url, kind.value, list(scope), detected_at=detected, incident_id=incident_id)
    affected = assess(settings.catalog_url, settings.home, inc.incident_id, store=store_obj, keyring=keyring)
    contained = contain(settings.catalog_url, inc.incident_id, keyring, kms=kms)
    drafts = draft(settings.catalog_url, settings.home, inc.incident_id)
    out.print(json.dumps({"incident_id": inc.incident_id, "notify_by": inc.notify_by, "revoked": contained["revoked"],
                          "kms_disabled": contained["kms_disabled"], "affected": affected["path"],
                          "drafts": {k: v["path"] for k, v in drafts.items()}}, ensure_ascii=False, indent=2),
              soft_wrap=True, highlight=False)


@incident_app.command("restore")
def restore_cmd(
    incident_id: Annotated[str, typer.Argument(help="The incident.")],
    how: Annotated[How, typer.Option(help="reenable the revoked keys, or rotate (re-enable and rotate the KEK).")],
) -> None:
    """The way back: give access to the revoked scopes again."""
    from custody.crypto.open import open_keyring
    from custody.incident.response import way_back
    from custody.settings import Settings

    settings = Settings.from_env()
    keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
    res = way_back(settings.catalog_url, incident_id, keyring, how=how.value)
    out.print(json.dumps({"enabled": res["enabled"], "kms_enabled": res["kms_enabled"],
                          "rotation": res["rotation"]}, indent=2), soft_wrap=True, highlight=False)


@incident_app.command("close")
def close_cmd(
    incident_id: Annotated[str, typer.Argument(help="The incident.")],
    resolution: Annotated[Resolution, typer.Option(help="How it ended.")],
) -> None:
    """Close the incident (``incident.close``)."""
    from custody.incident.response import close_incident
    from custody.settings import Settings

    inc = close_incident(Settings.from_env().catalog_url, incident_id, resolution=resolution.value)
    out.print(json.dumps(inc.as_dict(), indent=2), soft_wrap=True, highlight=False)


@incident_app.command("show")
def show_cmd(incident_id: Annotated[str, typer.Argument(help="The incident.")]) -> None:
    """The incident as recorded (state, deadline, scopes)."""
    from custody.incident.response import load_incident
    from custody.settings import Settings

    out.print(json.dumps(load_incident(Settings.from_env().catalog_url, incident_id).as_dict(), indent=2),
              soft_wrap=True, highlight=False)
