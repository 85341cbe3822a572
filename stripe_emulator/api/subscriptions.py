"""/v1/subscriptions and /v1/subscription_items."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..billing.changes import apply_update, check_price, refuse_duplicate_prices
from ..billing.invoicing import bill, create_invoice, finalize
from ..billing.lifecycle import next_period_end
from ..billing.status import cancel_now, set_status, tracking
from ..errors import card_error, invalid, missing_param
from ..events import emit
from ..listing import filter_range, list_object
from ..objects.subscriptions import add_item, items_of, new_subscription, period_of, set_period
from ..render import render
from ..timeutil import add_interval
from .base import emulator, endpoint, params

bp = Blueprint("subscriptions", __name__)
ENDED = ("canceled", "incomplete_expired")


@bp.post("/v1/subscriptions")
@endpoint
def create_subscription() -> dict[str, Any]:
    """Create a subscription and charge its first invoice (incomplete if that fails)."""
    p = params("SubscriptionCreateParams")
    emu = emulator()
    if "customer" not in p:
        raise missing_param("customer")
    customer = emu.fetch("customer", p["customer"], "customer")
    if not p.get("items"):
        raise missing_param("items")
    now = emu.customer_now(customer["id"])
    first = emu.fetch("price", p["items"][0].get("price"), "items[0][price]")
    trial_end = p.get("trial_end") if isinstance(p.get("trial_end"), int) else None
    if p.get("trial_period_days"):
        trial_end = add_interval(now, "day", p["trial_period_days"])
    pm_id = p.get("default_payment_method")
    if pm_id and emu.fetch("payment_method", pm_id, "default_payment_method")["customer"] != \
            customer["id"]:
        raise invalid("The PaymentMethod must be attached to the customer first.",
                      "default_payment_method")
    sub = new_subscription(customer, first["currency"], now, p.get("metadata"), pm_id, trial_end)
    for index, item in enumerate(p["items"]):
        if not item.get("price"):
            raise missing_param(f"items[{index}][price]")
        price = check_price(emu, sub, item["price"], f"items[{index}][price]")
        add_item(emu, sub, price, item.get("quantity") or 1, now, now, item.get("metadata"))
    refuse_duplicate_prices(emu, sub)
    set_period(emu, sub, now, trial_end or next_period_end(emu, sub, now))
    sub["status"] = "trialing" if trial_end else "incomplete"
    emu.store.put(sub)
    emit(emu, "customer.subscription.created", render(emu, sub), created=now)
    behaviour = p.get("payment_behavior") or "allow_incomplete"
    if trial_end:
        bill(emu, sub, "subscription_create", period_of(emu, sub), (now, now), now, trial=True)
    elif behaviour == "default_incomplete":
        finalize(emu, create_invoice(emu, sub, "subscription_create", period_of(emu, sub),
                                     (now, now), now), now)
    else:
        invoice, paid = bill(emu, sub, "subscription_create", period_of(emu, sub), (now, now), now)
        if paid:
            set_status(emu, sub, "active", now)
        elif behaviour == "error_if_incomplete":  # a 402 and no subscription: all rolled back
            raise _card_failure(invoice["_last_payment_error"])
    return render(emu, sub, p.get("expand") or [])


def _card_failure(error: dict[str, Any]) -> Exception:
    return card_error(error.get("code") or "card_declined", error["message"],
                      error.get("decline_code"))


@bp.get("/v1/subscriptions/<sub_id>")
@endpoint
def retrieve_subscription(sub_id: str) -> dict[str, Any]:
    """Retrieve a subscription."""
    p = params("SubscriptionRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("subscription", sub_id, allow_deleted=True),
                  p.get("expand") or [])


@bp.post("/v1/subscriptions/<sub_id>")
@endpoint
def update_subscription(sub_id: str) -> dict[str, Any]:
    """Update items (price, quantity), cancel_at_period_end, cancel_at, metadata, card."""
    p = params("SubscriptionUpdateParams")
    emu = emulator()
    sub = emu.fetch("subscription", sub_id)
    now = emu.customer_now(sub["customer"])
    with tracking(emu, sub, now):
        apply_update(emu, sub, p, now)
    return render(emu, sub, p.get("expand") or [])


@bp.delete("/v1/subscriptions/<sub_id>")
@endpoint
def cancel_subscription(sub_id: str) -> dict[str, Any]:
    """Cancel a subscription now (customer.subscription.deleted)."""
    p = params("SubscriptionCancelParams")
    emu = emulator()
    sub = emu.fetch("subscription", sub_id)
    if sub["status"] in ENDED:
        raise invalid(f"This subscription ({sub_id}) has already been canceled.", "subscription")
    details = p.get("cancellation_details") or {}
    cancel_now(emu, sub, emu.customer_now(sub["customer"]), "cancellation_requested",
               details.get("comment"), details.get("feedback"))
    return render(emu, sub, p.get("expand") or [])


@bp.get("/v1/subscriptions")
@endpoint
def list_subscriptions() -> dict[str, Any]:
    """List subscriptions by customer, price, status (default: not canceled), test_clock."""
    p = params("SubscriptionListParams")
    emu = emulator()
    status = p.get("status")
    objs = emu.store.all("subscription", lambda o: not o.get("deleted"))
    if status in (None, ""):
        objs = [o for o in objs if o["status"] not in ENDED]
    elif status == "ended":
        objs = [o for o in objs if o["status"] in ENDED]
    elif status != "all":
        objs = [o for o in objs if o["status"] == status]
    for field in ("customer", "test_clock"):
        if p.get(field):
            objs = [o for o in objs if o.get(field) == p[field]]
    if p.get("price"):
        objs = [o for o in objs if any(i["price"] == p["price"] for i in items_of(emu, o))]
    objs = filter_range(objs, "created", p.get("created"))
    return list_object(emu, objs, p, "/v1/subscriptions")


@bp.get("/v1/subscription_items")
@endpoint
def list_subscription_items() -> dict[str, Any]:
    """A subscription's items."""
    p = params("SubscriptionItemListParams")
    emu = emulator()
    if not p.get("subscription"):
        raise missing_param("subscription")
    sub = emu.fetch("subscription", p["subscription"], "subscription")
    return list_object(emu, items_of(emu, sub), p, "/v1/subscription_items")


@bp.get("/v1/subscription_items/<item_id>")
@endpoint
def retrieve_subscription_item(item_id: str) -> dict[str, Any]:
    """Retrieve a subscription item."""
    p = params("SubscriptionItemRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("subscription_item", item_id), p.get("expand") or [])
