"""Create Event objects and hand them to webhook delivery."""
from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from .ids import new_id
from .render import public
from .timeutil import real_now

if TYPE_CHECKING:
    from .core import Emulator

# (request id, idempotency key, Stripe-Version) of the API request now being served, if any
REQUEST_CONTEXT: contextvars.ContextVar[tuple[str | None, str | None, str | None]] = \
    contextvars.ContextVar("stripe_emulator_request", default=(None, None, None))


def default_api_version() -> str:
    """The API version the installed stripe library pins (what it sends as Stripe-Version)."""
    from stripe._api_version import _ApiVersion  # lazy: only the first event pays the import
    return _ApiVersion.CURRENT


def emit(emu: "Emulator", event_type: str, obj: dict[str, Any],
         previous: dict[str, Any] | None = None, created: int | None = None) -> dict[str, Any]:
    """Record an event about `obj` (already rendered) and queue its webhook deliveries."""
    request_id, idem_key, version = REQUEST_CONTEXT.get()
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    event = {"id": new_id("evt"), "object": "event", "api_version": version or default_api_version(),
             "created": created if created is not None else real_now(), "data": data,
             "livemode": False,  # pending_webhooks is computed from the deliveries when rendered
             "request": {"id": request_id, "idempotency_key": idem_key}, "type": event_type}
    with emu.lock:
        emu.store.put(event)
        emu.webhooks.enqueue(event)
    return event


def emit_update(emu: "Emulator", event_type: str, before: dict[str, Any], after: dict[str, Any],
                created: int | None = None) -> dict[str, Any] | None:
    """Emit an *.updated event whose previous_attributes are the top-level keys that changed."""
    previous = {k: before.get(k) for k in after if before.get(k) != after.get(k)}
    previous.pop("updated", None)
    if not previous:
        return None
    return emit(emu, event_type, after, previous, created)


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of an object's public fields, for diffing before/after a change."""
    return public(obj)
