"""/v1/billing_portal/configurations: list, create, retrieve, update."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..listing import list_object
from ..objects.portal_configurations import new_configuration, update_configuration
from ..render import render
from ..timeutil import real_now
from .base import emulator, endpoint, params

bp = Blueprint("portal_configurations", __name__)
KIND = "billing_portal.configuration"


@bp.post("/v1/billing_portal/configurations")
@endpoint
def create_configuration() -> dict[str, Any]:
    """Create a portal configuration (features required, as on Stripe)."""
    p = params("billing_portal.ConfigurationCreateParams")
    emu = emulator()
    config = new_configuration(emu, p, real_now())
    emu.store.put(config)
    return render(emu, config, p.get("expand") or [])


@bp.get("/v1/billing_portal/configurations/<config_id>")
@endpoint
def retrieve_configuration(config_id: str) -> dict[str, Any]:
    """Retrieve a portal configuration."""
    p = params("billing_portal.ConfigurationRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch(KIND, config_id), p.get("expand") or [])


@bp.post("/v1/billing_portal/configurations/<config_id>")
@endpoint
def update_configuration_endpoint(config_id: str) -> dict[str, Any]:
    """Update a portal configuration (features merged; a products list replaces the old one)."""
    p = params("billing_portal.ConfigurationUpdateParams")
    emu = emulator()
    config = emu.fetch(KIND, config_id)
    update_configuration(emu, config, p, real_now())
    emu.store.put(config)
    return render(emu, config, p.get("expand") or [])


@bp.get("/v1/billing_portal/configurations")
@endpoint
def list_configurations() -> dict[str, Any]:
    """List portal configurations, by active and is_default."""
    p = params("billing_portal.ConfigurationListParams")
    emu = emulator()
    objs = emu.store.all(KIND)
    for field in ("active", "is_default"):
        if p.get(field) is not None:
            objs = [o for o in objs if o[field] == p[field]]
    return list_object(emu, objs, p, "/v1/billing_portal/configurations")
