"""The events page: {base}/events (events with their webhook delivery attempts)."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, redirect, request

from ..api.base import emulator
from ..render import render
from ..timeutil import iso
from ..webhooks import deliveries_of, delivery_state
from .common import TEMPLATES, absolute, page

bp = Blueprint("events_page", __name__, template_folder=TEMPLATES)
PAGE_SIZE = 300


def _deliveries(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(d, attempts=[dict(a, at=iso(a["at"])) for a in d["attempts"]])
            for d in deliveries_of(emulator(), event)]


def _row(event: dict[str, Any]) -> dict[str, Any]:
    pending, state = delivery_state(emulator(), event)
    return {"id": event["id"], "type": event["type"], "created": iso(event["created"]),
            "pending_webhooks": pending, "delivery": state, "deliveries": _deliveries(event)}


@bp.get("/")
def home() -> Response:
    """The emulator's front page is its events page."""
    return redirect(absolute("events_page.index"), 303)


@bp.get("/events")
def index() -> Response:
    """Events, newest first, optionally filtered by ?type= (a trailing * matches a prefix)."""
    emu = emulator()
    wanted = request.args.get("type", "").strip()
    with emu.lock:
        events = emu.store.all("event")
        if wanted:
            events = [e for e in events if e["type"] == wanted or (
                wanted.endswith("*") and e["type"].startswith(wanted[:-1]))]
        rows = [_row(e) for e in events[:PAGE_SIZE]]
        endpoints = len(emu.store.all("webhook_endpoint", lambda w: not w.get("deleted")))
    return page("events.html", events=rows, type_filter=wanted,
                endpoints=endpoints + (1 if emu.config.webhook_url else 0))


@bp.get("/events/<event_id>")
def detail(event_id: str) -> Response:
    """One event: payload and every delivery attempt with the receiver's answer."""
    emu = emulator()
    with emu.lock:
        event = emu.store.get(event_id, "event")
        if event is None:
            return page("message.html", 404, heading="No such event.")
        return page("event_detail.html", event=_row(event),
                    payload=json.dumps(render(emu, event), indent=2))


@bp.post("/events/<event_id>/resend")
def resend(event_id: str) -> Response:
    """Queue the event again for every endpoint that takes it."""
    emu = emulator()
    with emu.store.transaction():
        event = emu.store.get(event_id, "event")
        if event is None:
            return page("message.html", 404, heading="No such event.")
        emu.webhooks.enqueue(event)
    return redirect(absolute("events_page.detail", event_id=event_id), 303)
