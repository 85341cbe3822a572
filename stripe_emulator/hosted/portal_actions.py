"""Portal actions with more than one step of domain work."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..billing.changes import retry_open_invoices
from ..billing.invoicing import open_invoices
from ..billing.status import tracking
from ..events import emit, emit_update
from ..render import render

if TYPE_CHECKING:
    from ..core import Emulator


def save_card(emu: "Emulator", session: dict[str, Any], pm: dict[str, Any]) -> str:
    """Attach `pm` as the customer's (and its subscriptions') default card, then charge any
    open invoice with it at once; returns the portal notice key."""
    customer = emu.fetch("customer", session["customer"])
    now = emu.customer_now(customer["id"])
    pm["customer"] = customer["id"]
    pm["_authenticated"] = True  # saved on-session in the portal: fine for off-session use
    emu.store.put(pm)
    emit(emu, "payment_method.attached", render(emu, pm), created=now)
    before = render(emu, customer)
    customer["invoice_settings"] = dict(customer["invoice_settings"],
                                        default_payment_method=pm["id"])
    emu.store.put(customer)
    emit_update(emu, "customer.updated", before, render(emu, customer), created=now)
    for sub in emu.store.all("subscription", lambda s: s["customer"] == customer["id"]
                             and s["status"] not in ("canceled", "incomplete_expired")):
        with tracking(emu, sub, now):
            sub["default_payment_method"] = pm["id"]
    had_open = bool(open_invoices(emu, customer["id"]))
    if not had_open:
        return "card"
    retry_open_invoices(emu, customer["id"], pm, now)
    return "unpaid" if open_invoices(emu, customer["id"]) else "paid"
