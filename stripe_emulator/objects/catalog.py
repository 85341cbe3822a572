"""Products, prices (and the legacy plan view of a price)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import invalid
from ..ids import new_id
from ..timeutil import real_now
from .common import merge_metadata

if TYPE_CHECKING:
    from ..core import Emulator

MAX_INTERVALS = {"day": 365, "week": 52, "month": 12, "year": 1}  # Stripe bills at least yearly


def new_product(params: dict[str, Any]) -> dict[str, Any]:
    """A product from ProductCreateParams."""
    now = real_now()
    return {"id": params.get("id") or new_id("prod", 14), "object": "product",
            "active": params.get("active", True), "created": now,
            "default_price": None, "description": params.get("description"),
            "images": params.get("images") or [], "livemode": False,
            "marketing_features": params.get("marketing_features") or [],
            "metadata": merge_metadata({}, params.get("metadata") or {}),
            "name": params["name"], "package_dimensions": None,
            "shippable": params.get("shippable"),
            "statement_descriptor": params.get("statement_descriptor"),
            "tax_code": params.get("tax_code"), "unit_label": params.get("unit_label"),
            "updated": now, "url": params.get("url"), "type": "service"}


def new_price(params: dict[str, Any], product_id: str) -> dict[str, Any]:
    """A price from PriceCreateParams for an existing product."""
    recurring = params.get("recurring")
    unit_amount = params.get("unit_amount")
    if unit_amount is None and params.get("unit_amount_decimal") is not None:
        unit_amount = int(params["unit_amount_decimal"])
    if unit_amount is None:
        raise invalid("Missing required param: unit_amount.", "unit_amount", "parameter_missing")
    if unit_amount < 0:
        raise invalid("Invalid non-negative integer", "unit_amount")
    return {"id": new_id("price"), "object": "price", "active": params.get("active", True),
            "billing_scheme": "per_unit", "created": real_now(),
            "currency": params["currency"].lower(), "custom_unit_amount": None,
            "livemode": False, "lookup_key": params.get("lookup_key"),
            "metadata": merge_metadata({}, params.get("metadata") or {}),
            "nickname": params.get("nickname"), "product": product_id,
            "recurring": _recurring(recurring) if recurring else None,
            "tax_behavior": params.get("tax_behavior") or "unspecified", "tiers_mode": None,
            "transform_quantity": None, "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount)}


def _recurring(recurring: dict[str, Any]) -> dict[str, Any]:
    if "interval" not in recurring:
        raise invalid("Missing required param: recurring[interval].", "recurring[interval]",
                      "parameter_missing")
    count = recurring.get("interval_count") or 1
    if count > MAX_INTERVALS[recurring["interval"]]:
        raise invalid("Invalid recurring[interval_count]: the maximum billing interval is one "
                      f"year ({MAX_INTERVALS[recurring['interval']]} {recurring['interval']}s).",
                      "recurring[interval_count]")
    return {"interval": recurring["interval"], "interval_count": count, "meter": None,
            "usage_type": recurring.get("usage_type") or "licensed",
            "trial_period_days": recurring.get("trial_period_days")}


def plan_view(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy `plan` object Stripe still embeds in subscription items."""
    recurring = price.get("recurring") or {}
    return {"id": price["id"], "object": "plan", "active": price["active"],
            "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
            "billing_scheme": "per_unit", "created": price["created"],
            "currency": price["currency"], "interval": recurring.get("interval", "month"),
            "interval_count": recurring.get("interval_count", 1), "livemode": False,
            "metadata": dict(price["metadata"]), "meter": None, "nickname": price["nickname"],
            "product": price["product"], "tiers_mode": None, "transform_usage": None,
            "trial_period_days": recurring.get("trial_period_days"),
            "usage_type": recurring.get("usage_type", "licensed")}


def is_addon(emu: "Emulator", price: dict[str, Any]) -> bool:
    """An add-on price: metadata addon=true on the price or its product (portal shows quantity)."""
    product = emu.store.get(price["product"], "product") or {}
    flags = (price.get("metadata", {}).get("addon"), product.get("metadata", {}).get("addon"))
    return any(str(f).lower() in ("true", "1", "yes") for f in flags if f is not None)


def product_name(emu: "Emulator", price: dict[str, Any]) -> str:
    """The name of a price's product (or the price's nickname/id)."""
    product = emu.store.get(price["product"], "product")
    return (product or {}).get("name") or price.get("nickname") or price["id"]
