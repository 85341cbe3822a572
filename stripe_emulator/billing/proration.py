"""Prorations for mid-period item changes, as Stripe computes them (one credit and one charge per item).

When a subscription's item changes price or quantity (or an item is added or removed) part-way
through a paid period, the unused time on the old item is credited and the remaining time on the
new one charged, each from `proration_date` to the period end:
`amount = unit_amount × quantity × (period_end − proration_date) / (period_end − period_start)`,
rounded to the nearest cent. `proration_behavior` decides what happens to these lines:
`create_prorations` (the default) keeps them as pending items for the next invoice,
`always_invoice` invoices them (and any pending ones) at once, `none` drops them. A trialing
subscription has nothing to prorate.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import invalid
from ..ids import new_id
from ..objects.catalog import product_name
from ..objects.subscriptions import period_of

if TYPE_CHECKING:
    from ..core import Emulator

BEHAVIOURS = ("create_prorations", "always_invoice", "none")
PRORATING_STATUSES = ("active", "past_due", "unpaid")
# One item before and after a change: (item id, price, quantity); None when it did not exist.
ItemState = tuple[str | None, dict[str, Any], int]


def proration_date(emu: "Emulator", sub: dict[str, Any], given: int | None, param: str,
                   now: int) -> int:
    """The moment prorations are computed for: `given` (inside the current period) or now."""
    start, end = period_of(emu, sub)
    if given is None:
        return min(max(now, start), end)
    if not start <= given <= end:
        raise invalid("The proration_date must be within the current billing period of the "
                      f"subscription ({start}–{end}).", param)
    return given


def behaviour(value: str | None) -> str:
    """The proration behaviour asked for (Stripe's default: create_prorations)."""
    return value or "create_prorations"


def proration_lines(emu: "Emulator", sub: dict[str, Any], before: list[ItemState],
                    after: list[ItemState], when: int, invoice_id: str | None = None
                    ) -> list[dict[str, Any]]:
    """Credit and charge lines for every item whose price or quantity differs between the lists."""
    if sub["status"] not in PRORATING_STATUSES:
        return []
    start, end = period_of(emu, sub)
    if end <= start or when >= end:
        return []
    old = {item_id: (price, qty) for item_id, price, qty in before if item_id}
    new_by_id = {item_id: (price, qty) for item_id, price, qty in after if item_id}
    lines: list[dict[str, Any]] = []
    for item_id, (price, qty) in old.items():
        now_price, now_qty = new_by_id.get(item_id, (None, 0))
        if now_price is not None and now_price["id"] == price["id"] and now_qty == qty:
            continue
        lines.append(_line(emu, sub, item_id, price, qty, when, (start, end), credit=True,
                           invoice_id=invoice_id))
        if now_price is not None and now_qty:
            lines.append(_line(emu, sub, item_id, now_price, now_qty, when, (start, end),
                               credit=False, invoice_id=invoice_id))
    for item_id, price, qty in after:
        if (item_id is None or item_id not in old) and qty:
            lines.append(_line(emu, sub, item_id, price, qty, when, (start, end), credit=False,
                               invoice_id=invoice_id))
    return lines


def prorated(amount: int, when: int, period: tuple[int, int]) -> int:
    """`amount` for the part of `period` after `when`, rounded half up to a whole cent."""
    start, end = period
    left, whole = end - when, end - start
    return (amount * left * 2 + whole) // (whole * 2)


def _line(emu: "Emulator", sub: dict[str, Any], item_id: str | None, price: dict[str, Any],
          quantity: int, when: int, period: tuple[int, int], credit: bool,
          invoice_id: str | None) -> dict[str, Any]:
    unit = price.get("unit_amount") or 0
    amount = prorated(unit * quantity, when, period)
    amount = -amount if credit else amount
    day = datetime.fromtimestamp(when, timezone.utc).strftime("%d %b %Y")
    name = product_name(emu, price)
    description = (f"Unused time on {quantity} × {name} after {day}" if credit else
                   f"Remaining time on {quantity} × {name} after {day}")
    return {"id": new_id("il"), "object": "line_item", "amount": amount,
            "currency": price.get("currency", sub["currency"]), "description": description,
            "discount_amounts": [], "discountable": False, "discounts": [],
            "invoice": invoice_id, "livemode": False, "metadata": dict(sub["metadata"]),
            "period": {"start": when, "end": period[1]}, "quantity": quantity,
            "subscription": sub["id"], "pretax_credit_amounts": [], "taxes": [],
            "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                       "subscription_item_details": {
                           "invoice_item": new_id("ii"), "proration": True,
                           "proration_details": {"credited_items": None},
                           "subscription": sub["id"], "subscription_item": item_id}},
            "pricing": {"type": "price_details",
                        "price_details": {"price": price.get("id"),
                                          "product": price.get("product")},
                        "unit_amount_decimal": str(-unit if credit else unit)},
            "subtotal": amount, "quantity_decimal": str(quantity)}


def pending_lines(sub: dict[str, Any]) -> list[dict[str, Any]]:
    """Prorations waiting for the subscription's next invoice (Stripe's pending invoice items)."""
    return list(sub.get("_pending_lines") or [])


def take_pending_lines(sub: dict[str, Any], invoice_id: str) -> list[dict[str, Any]]:
    """Move the pending prorations onto an invoice being created (they leave the subscription)."""
    lines = pending_lines(sub)
    sub["_pending_lines"] = []
    for line in lines:
        line["invoice"] = invoice_id
    return lines
