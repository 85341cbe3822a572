"""Portal actions with more than one step of domain work."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..billing.changes import retry_open_invoices
from ..billing.invoicing import finalize, open_invoices
from ..billing.status import tracking
from ..errors import StripeError
from ..events import emit, emit_update
from ..objects.catalog import is_addon
from ..objects.subscriptions import items_of
from ..render import render

if TYPE_CHECKING:
    from ..core import Emulator


def save_card(emu: "Emulator", session: dict[str, Any], pm: dict[str, Any]) -> str:
    """Attach `pm` as the customer's (and its subscriptions') default card, then charge any
    open invoice with it at once (finalizing the drafts an unpaid subscription left, as Stripe's
    way back to active asks); returns the portal notice key."""
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
    for draft in open_invoices(emu, customer["id"], "draft"):  # what an unpaid sub ran up
        draft["auto_advance"] = True
        finalize(emu, draft, now)
    if not open_invoices(emu, customer["id"]):
        return "card"
    retry_open_invoices(emu, customer["id"], pm, now)
    return "unpaid" if open_invoices(emu, customer["id"]) else "paid"


def plan_items(emu: "Emulator", sub: dict[str, Any]) -> list[dict[str, Any]]:
    """The subscription's plan items (not add-ons); all items when every one is an add-on."""
    items = items_of(emu, sub)
    plans = [i for i in items if not is_addon(emu, emu.store.get(i["price"], "price") or {})]
    return plans or items


def offered_prices(emu: "Emulator", sub: dict[str, Any], allowed: set[str] | None = None
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(plans, add-ons) the portal offers: active recurring prices billed like `sub` (currency,
    interval and interval count of its plan), oldest first; only `allowed` ones (the portal
    configuration's products) when given, besides those already on the subscription."""
    current = [emu.store.get(i["price"], "price") for i in plan_items(emu, sub)]
    billing = {_billing(p) for p in current if p is not None and p.get("recurring")}
    candidates = emu.store.all("price", lambda p: p["active"] and p["type"] == "recurring"
                               and p["currency"] == sub["currency"]
                               and (not billing or _billing(p) in billing), oldest_first=True)
    if allowed is not None:
        current_ids = {i["price"] for i in items_of(emu, sub)}
        candidates = [p for p in candidates if p["id"] in allowed or p["id"] in current_ids]
    return ([p for p in candidates if not is_addon(emu, p)],
            [p for p in candidates if is_addon(emu, p)])


def portal_price(emu: "Emulator", sub: dict[str, Any], price_id: str, addon: bool,
                 allowed: set[str] | None = None) -> dict[str, Any]:
    """The offered plan (or add-on) price `price_id`, or a 400 saying why it cannot be chosen."""
    plans, addons = offered_prices(emu, sub, allowed)
    for price in addons if addon else plans:
        if price["id"] == price_id:
            return price
    price = emu.store.get(price_id, "price")
    if price is None:
        reason = "There is no such plan." if not addon else "There is no such add-on."
    elif not price["active"]:
        reason = "That price is no longer available."
    elif price["type"] != "recurring":
        reason = "That is a one-time price, not a subscription plan."
    elif is_addon(emu, price) != addon:
        reason = "That price is an add-on, not a plan." if not addon else \
            "That price is a plan, not an add-on."
    elif allowed is not None and price_id not in allowed:
        reason = "This portal does not offer that price."
    else:
        reason = "That price bills in another currency or interval than your subscription."
    raise StripeError(reason, param="price")


def _billing(price: dict[str, Any]) -> tuple[str, int]:
    return price["recurring"]["interval"], price["recurring"]["interval_count"]
