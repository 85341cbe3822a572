"""/_emulator/...: the control API the CLI uses (trigger scenarios, resend events, health)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from ..billing.triggers import run_trigger
from ..errors import invalid, missing_param, unknown_param
from ..render import render
from .base import base_url, emulator, endpoint, raw_params

bp = Blueprint("control", __name__)


@bp.get("/_emulator/health")
def health() -> Any:
    """Liveness probe (no key needed), saying which emulator this is and where its webhooks go."""
    config = emulator().config
    return jsonify(ok=True, emulator="stripe_emulator", instance_id=config.instance_id,
                   webhook_url=config.webhook_url)


@bp.post("/_emulator/trigger")
@endpoint
def trigger() -> dict[str, Any]:
    """Run a trigger scenario: form fields event, subscription, customer."""
    p = _fields("event", "subscription", "customer")
    if not p.get("event"):
        raise missing_param("event")
    emu = emulator()
    events = run_trigger(emu, p["event"], p, base_url())
    return {"object": "list", "url": "/_emulator/trigger", "has_more": False,
            "data": [render(emu, e) for e in events]}


@bp.post("/_emulator/events/<event_id>/resend")
@endpoint
def resend(event_id: str) -> dict[str, Any]:
    """Deliver an event again to every enabled endpoint (or just webhook_endpoint=we_...)."""
    p = _fields("webhook_endpoint")
    emu = emulator()
    event = emu.fetch("event", event_id)
    only = p.get("webhook_endpoint")
    if only and only != "cli":
        emu.fetch("webhook_endpoint", only, "webhook_endpoint")
    queued = emu.webhooks.enqueue(event, only_endpoint=only)
    if not queued:
        raise invalid("No enabled webhook endpoint listens for this event.", "webhook_endpoint")
    return render(emu, event)


def _fields(*allowed: str) -> dict[str, str]:
    """The posted form fields: only `allowed` ones, each a plain string (never a hash or list)."""
    p = raw_params()
    for key, value in p.items():
        if key not in allowed:
            raise unknown_param(key)
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {key} must be a string, not a hash or an array.", key)
    return p
