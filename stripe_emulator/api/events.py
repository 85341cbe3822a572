"""/v1/events and /v1/webhook_endpoints."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint

from ..errors import invalid, missing_param
from ..ids import new_id, webhook_secret
from ..listing import filter_range, list_object
from ..objects.common import merge_metadata, set_fields
from ..render import render
from ..timeutil import real_now
from ..webhooks import delivery_state
from .base import emulator, endpoint, params

bp = Blueprint("events", __name__)


@bp.get("/v1/events/<event_id>")
@endpoint
def retrieve_event(event_id: str) -> dict[str, Any]:
    """Retrieve an event."""
    p = params("EventRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("event", event_id), p.get("expand") or [])


@bp.get("/v1/events")
@endpoint
def list_events() -> dict[str, Any]:
    """List events by type (wildcards like invoice.* too), types[], created, delivery_success."""
    p = params("EventListParams")
    emu = emulator()
    objs = emu.store.all("event")
    wanted = list(p.get("types") or []) + ([p["type"]] if p.get("type") else [])
    if wanted:
        objs = [o for o in objs if any(_matches(o["type"], w) for w in wanted)]
    if p.get("delivery_success") is not None:
        wanted_state = p["delivery_success"]
        objs = [o for o in objs if (delivery_state(emu, o)[1] == "delivered") == wanted_state]
    objs = filter_range(objs, "created", p.get("created"))
    return list_object(emu, objs, p, "/v1/events")


def _matches(event_type: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


def _check_url(url: str, param: str = "url") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(f"Invalid URL: {url}. URLs must begin with http:// or https://", param,
                      "url_invalid")
    return url


@bp.post("/v1/webhook_endpoints")
@endpoint
def create_endpoint() -> dict[str, Any]:
    """Create a webhook endpoint; the response carries its signing `secret`."""
    p = params("WebhookEndpointCreateParams")
    emu = emulator()
    for field in ("url", "enabled_events"):
        if field not in p:
            raise missing_param(field)
    secret = webhook_secret()
    endpoint_obj = {"id": new_id("we"), "object": "webhook_endpoint",
                    "api_version": p.get("api_version"), "application": None,
                    "created": real_now(), "description": p.get("description"),
                    "enabled_events": list(p["enabled_events"] or []), "livemode": False,
                    "metadata": merge_metadata({}, p.get("metadata") or {}), "status": "enabled",
                    "url": _check_url(p["url"]), "_secret": secret}
    if not endpoint_obj["enabled_events"]:
        raise invalid("enabled_events must contain at least one event type.", "enabled_events")
    emu.store.put(endpoint_obj)
    return dict(render(emu, endpoint_obj, p.get("expand") or []), secret=secret)


@bp.get("/v1/webhook_endpoints/<endpoint_id>")
@endpoint
def retrieve_endpoint(endpoint_id: str) -> dict[str, Any]:
    """Retrieve a webhook endpoint (without its secret, as Stripe does)."""
    p = params("WebhookEndpointRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("webhook_endpoint", endpoint_id), p.get("expand") or [])


@bp.post("/v1/webhook_endpoints/<endpoint_id>")
@endpoint
def update_endpoint(endpoint_id: str) -> dict[str, Any]:
    """Update url, enabled_events, disabled, description or metadata."""
    p = params("WebhookEndpointUpdateParams")
    emu = emulator()
    found = emu.fetch("webhook_endpoint", endpoint_id)
    if "url" in p:
        found["url"] = _check_url(p["url"])
    if "enabled_events" in p:
        found["enabled_events"] = list(p["enabled_events"] or [])
    if "disabled" in p:
        found["status"] = "disabled" if p["disabled"] else "enabled"
    set_fields(found, p, ("description",))
    emu.store.put(found)
    return render(emu, found, p.get("expand") or [])


@bp.get("/v1/webhook_endpoints")
@endpoint
def list_endpoints() -> dict[str, Any]:
    """List webhook endpoints."""
    p = params("WebhookEndpointListParams")
    emu = emulator()
    objs = emu.store.all("webhook_endpoint", lambda o: not o.get("deleted"))
    return list_object(emu, objs, p, "/v1/webhook_endpoints")


@bp.delete("/v1/webhook_endpoints/<endpoint_id>")
@endpoint
def delete_endpoint(endpoint_id: str) -> dict[str, Any]:
    """Delete a webhook endpoint; its pending deliveries stop."""
    params("WebhookEndpointDeleteParams")
    emu = emulator()
    found = emu.fetch("webhook_endpoint", endpoint_id)
    found["deleted"] = True
    emu.store.put(found)
    return render(emu, found)


