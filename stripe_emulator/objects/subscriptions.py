"""Subscriptions and subscription items (billing periods live on the items, as today)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ids import new_id
from ..render import public, render, renderer
from .catalog import plan_view
from .common import merge_metadata

if TYPE_CHECKING:
    from ..core import Emulator


def new_subscription(customer: dict[str, Any], currency: str, now: int,
                     metadata: dict[str, Any] | None, default_pm: str | None,
                     trial_end: int | None) -> dict[str, Any]:
    """A subscription shell (items are added with `add_item`)."""
    return {"id": new_id("sub"), "object": "subscription", "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
            "billing_cycle_anchor": trial_end or now, "billing_cycle_anchor_config": None,
            "cancel_at": None, "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "created": now, "currency": currency,
            "customer": customer["id"], "days_until_due": None,
            "default_payment_method": default_pm, "default_source": None,
            "default_tax_rates": [], "description": None, "discounts": [], "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "latest_invoice": None, "livemode": False,
            "metadata": merge_metadata({}, metadata or {}),
            "next_pending_invoice_item_invoice": None, "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None, "pending_setup_intent": None,
            "pending_update": None, "schedule": None, "start_date": now,
            "status": "incomplete", "test_clock": customer.get("test_clock"),
            "transfer_data": None, "trial_end": trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": now if trial_end else None, "cancel_at_period_end": False,
            "billing_thresholds": None, "billing_mode": {"type": "classic", "flexible": None},
            "customer_account": None, "managed_payments": None, "billing_schedules": [],
            "_items": [], "_trial_will_end_sent": False}


def add_item(emu: "Emulator", sub: dict[str, Any], price: dict[str, Any], quantity: int,
             start: int, end: int, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create a subscription item for `price` on `sub` for the period [start, end)."""
    item = {"id": new_id("si", 14), "object": "subscription_item", "created": start,
            "discounts": [], "metadata": merge_metadata({}, metadata or {}),
            "price": price["id"], "quantity": quantity, "subscription": sub["id"],
            "tax_rates": [], "current_period_end": end, "current_period_start": start,
            "billing_thresholds": None}
    emu.store.put(item)
    sub["_items"].append(item["id"])
    return item


def items_of(emu: "Emulator", sub: dict[str, Any]) -> list[dict[str, Any]]:
    """A subscription's live items."""
    found = (emu.store.get(i, "subscription_item") for i in sub["_items"])
    return [i for i in found if i is not None and not i.get("deleted")]


def period_of(emu: "Emulator", sub: dict[str, Any]) -> tuple[int, int]:
    """The subscription's current period (start, end), read from its items."""
    items = items_of(emu, sub)
    if not items:
        return sub["created"], sub["created"]
    return items[0]["current_period_start"], items[0]["current_period_end"]


def set_period(emu: "Emulator", sub: dict[str, Any], start: int, end: int) -> None:
    """Move every item of the subscription to the period [start, end)."""
    for item in items_of(emu, sub):
        item["current_period_start"], item["current_period_end"] = start, end
        emu.store.put(item)


def items_amount(emu: "Emulator", sub: dict[str, Any]) -> int:
    """What one period of the subscription costs, in the smallest currency unit."""
    total = 0
    for item in items_of(emu, sub):
        price = emu.store.get(item["price"], "price") or {"unit_amount": 0}
        total += (price["unit_amount"] or 0) * (item["quantity"] or 0)
    return total


@renderer("subscription_item")
def _render_item(emu: "Emulator", stored: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    price = emu.store.get(stored["price"], "price")
    if price is not None:
        out["price"] = public(price)
        out["plan"] = plan_view(price)
    return out


@renderer("subscription")
def _render_subscription(emu: "Emulator", stored: dict[str, Any], out: dict[str, Any]
                         ) -> dict[str, Any]:
    items = items_of(emu, stored)
    out["items"] = {"object": "list", "data": [render(emu, item) for item in items],
                    "has_more": False, "total_count": len(items),
                    "url": f"/v1/subscription_items?subscription={stored['id']}"}
    return out
