"""Changes a customer or the API makes to a subscription: items, cancel at period end, cards."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import invalid, missing_param
from ..objects.common import merge_metadata
from ..objects.subscriptions import add_item, items_of, period_of
from . import proration
from .invoicing import attempt_payment, create_invoice, finalize, open_invoices
from .lifecycle import end_trial

if TYPE_CHECKING:
    from ..core import Emulator


def check_price(emu: "Emulator", sub: dict[str, Any], price_id: str, param: str
                ) -> dict[str, Any]:
    """A price that can go on this subscription: active, recurring, same currency and interval."""
    price = emu.fetch("price", price_id, param)
    if not price["active"]:
        raise invalid("The price specified is inactive. This field only accepts active prices.",
                      param)
    if price["type"] != "recurring":
        raise invalid("The price specified is not recurring; subscriptions need recurring "
                      "prices.", param)
    if price["currency"] != sub["currency"]:
        raise invalid("All prices on a subscription must have the same currency.", param)
    others = [emu.store.get(i["price"], "price") for i in items_of(emu, sub)]
    for other in others:
        if other and other["recurring"]["interval"] != price["recurring"]["interval"]:
            raise invalid("All prices on a subscription must have the same "
                          "`recurring.interval`.", param)
    return price


def item_states(emu: "Emulator", sub: dict[str, Any]) -> list[proration.ItemState]:
    """(item id, price, quantity) of each live item, to compare before and after a change."""
    return [(i["id"], emu.fetch("price", i["price"]), i["quantity"]) for i in items_of(emu, sub)]


def change_items(emu: "Emulator", sub: dict[str, Any], changes: list[dict[str, Any]], now: int,
                 behaviour: str | None = None, when: int | None = None,
                 date_param: str = "proration_date") -> None:
    """Apply item changes and settle their prorations as `behaviour` says (see proration.py)."""
    moment = proration.proration_date(emu, sub, when, date_param, now)
    before = item_states(emu, sub)
    apply_items(emu, sub, changes)
    lines = proration.proration_lines(emu, sub, before, item_states(emu, sub), moment)
    settle_prorations(emu, sub, lines, proration.behaviour(behaviour), now)


def settle_prorations(emu: "Emulator", sub: dict[str, Any], lines: list[dict[str, Any]],
                      behaviour: str, now: int) -> None:
    """Keep proration lines for the next invoice, invoice them now, or drop them."""
    if behaviour == "none" or not lines and behaviour != "always_invoice":
        return
    if behaviour == "create_prorations":
        sub["_pending_lines"] = proration.pending_lines(sub) + lines
        emu.store.put(sub)
        return
    if not lines and not proration.pending_lines(sub):
        return
    invoice = create_invoice(emu, sub, "subscription_update", (now, now), (now, now), now,
                             extra_lines=lines, bill_items=False)
    finalize(emu, invoice, now)
    attempt_payment(emu, invoice, now)


def apply_items(emu: "Emulator", sub: dict[str, Any], changes: list[dict[str, Any]]) -> None:
    """Change item prices/quantities, add and delete items (prorations: see change_items)."""
    start, end = period_of(emu, sub)
    for index, change in enumerate(changes):
        where = f"items[{index}]"
        if change.get("price_data"):
            raise invalid("The Stripe emulator needs an existing `price`; `price_data` is not "
                          "emulated.", f"{where}[price_data]")
        quantity = change.get("quantity")
        if quantity is not None and quantity < 0:
            raise invalid("Invalid positive integer", f"{where}[quantity]")
        if change.get("id"):
            item = emu.fetch("subscription_item", change["id"], f"{where}[id]")
            if item["subscription"] != sub["id"]:
                raise invalid(f"The subscription item {item['id']} does not belong to this "
                              "subscription.", f"{where}[id]")
            if change.get("deleted"):
                item["deleted"] = True
                sub["_items"].remove(item["id"])
            else:
                if change.get("price"):
                    item["price"] = check_price(emu, sub, change["price"], f"{where}[price]")["id"]
                if quantity is not None:
                    item["quantity"] = quantity
                if "metadata" in change:
                    item["metadata"] = merge_metadata(item["metadata"], change["metadata"])
            emu.store.put(item)
        else:
            if not change.get("price"):
                raise missing_param(f"{where}[price]")
            price = check_price(emu, sub, change["price"], f"{where}[price]")
            add_item(emu, sub, price, 1 if quantity is None else quantity, start, end,
                     change.get("metadata"))
    if not items_of(emu, sub):
        raise invalid("A subscription must have at least one active plan.", "items")
    refuse_duplicate_prices(emu, sub)


def refuse_duplicate_prices(emu: "Emulator", sub: dict[str, Any]) -> None:
    """Stripe's rule: a price appears on at most one item of a subscription."""
    seen: set[str] = set()
    for item in items_of(emu, sub):
        if item["price"] in seen:
            raise invalid("Cannot add multiple subscription items with the same plan: "
                          f"{item['price']}", "items")
        seen.add(item["price"])


def apply_update(emu: "Emulator", sub: dict[str, Any], p: dict[str, Any], now: int) -> None:
    """Apply SubscriptionUpdateParams the emulator models (caller wraps it in `tracking`)."""
    if sub["status"] in ("canceled", "incomplete_expired"):
        allowed = {"metadata", "cancellation_details", "expand"}
        if set(p) - allowed:
            raise invalid("A canceled subscription can only update its cancellation_details "
                          "and metadata.", sorted(set(p) - allowed)[0])
    if p.get("proration_behavior") and p["proration_behavior"] not in proration.BEHAVIOURS:
        raise invalid("Invalid proration_behavior: must be one of "
                      + ", ".join(proration.BEHAVIOURS), "proration_behavior")
    if "items" in p:
        change_items(emu, sub, p["items"] or [], now, p.get("proration_behavior"),
                     p.get("proration_date"))
    if "metadata" in p:
        sub["metadata"] = merge_metadata(sub["metadata"], p["metadata"])
    if "description" in p:
        sub["description"] = p["description"]
    if p.get("default_payment_method"):
        pm = emu.fetch("payment_method", p["default_payment_method"], "default_payment_method")
        if pm["customer"] != sub["customer"]:
            raise invalid("The PaymentMethod must be attached to the customer first.",
                          "default_payment_method")
        sub["default_payment_method"] = pm["id"]
    if "cancel_at_period_end" in p:
        set_cancel_at_period_end(sub, bool(p["cancel_at_period_end"]), now)
    if "cancel_at" in p:
        if isinstance(p["cancel_at"], str):
            sub["cancel_at"] = period_of(emu, sub)[1]
        else:
            sub["cancel_at"] = p["cancel_at"]
        sub["canceled_at"] = now if sub["cancel_at"] else None
    if "cancellation_details" in p:
        details = p["cancellation_details"] or {}
        sub["cancellation_details"] = dict(sub["cancellation_details"], **{
            k: v for k, v in details.items() if k in ("comment", "feedback")})
    if p.get("trial_end") == "now" and sub["status"] == "trialing":
        sub["trial_end"] = now
        end_trial(emu, sub, now)


def set_cancel_at_period_end(sub: dict[str, Any], flag: bool, now: int) -> None:
    """Schedule (or undo) the cancellation at the end of the current period."""
    sub["cancel_at_period_end"] = flag
    sub["canceled_at"] = now if flag else None
    sub["cancellation_details"] = dict(sub["cancellation_details"],
                                       reason="cancellation_requested" if flag else None)


def retry_open_invoices(emu: "Emulator", customer_id: str, pm: dict[str, Any], now: int) -> int:
    """Charge every open invoice of the customer with `pm` now; how many got paid."""
    paid = 0
    for invoice in open_invoices(emu, customer_id):
        if attempt_payment(emu, invoice, now, pm, automatic=False):
            paid += 1
    return paid
