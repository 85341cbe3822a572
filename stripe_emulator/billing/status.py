"""Subscription status changes, each announced with customer.subscription.* events."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator

from ..events import emit, emit_update
from ..render import render

if TYPE_CHECKING:
    from ..core import Emulator


@contextlib.contextmanager
def tracking(emu: "Emulator", sub: dict[str, Any], now: int) -> Iterator[dict[str, Any]]:
    """Emit customer.subscription.updated with previous_attributes for whatever the block changes."""
    before = render(emu, sub)
    yield sub
    emu.store.put(sub)
    emit_update(emu, "customer.subscription.updated", before, render(emu, sub), created=now)


def set_status(emu: "Emulator", sub: dict[str, Any], status: str, now: int) -> None:
    """Change the status (announced as customer.subscription.updated)."""
    if sub["status"] == status:
        return
    with tracking(emu, sub, now):
        sub["status"] = status


def cancel_now(emu: "Emulator", sub: dict[str, Any], now: int, reason: str,
               comment: str | None = None, feedback: str | None = None) -> None:
    """End the subscription now (customer.subscription.deleted); open invoices stop retrying."""
    if sub["status"] in ("canceled", "incomplete_expired"):
        return
    sub["status"] = "canceled" if sub["status"] != "incomplete" else "incomplete_expired"
    sub.update(canceled_at=sub.get("canceled_at") or now, ended_at=now)
    sub["cancellation_details"] = {"comment": comment, "feedback": feedback, "reason": reason}
    emu.store.put(sub)
    for invoice in emu.store.all("invoice", lambda i: i["status"] == "open"):
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        if details.get("subscription") == sub["id"]:
            invoice["next_payment_attempt"] = None
            emu.store.put(invoice)
    emit(emu, "customer.subscription.deleted", render(emu, sub), created=now)
