"""Billing Portal configurations: what the hosted portal lets a customer do.

A configuration created through the API is not the default (as on Stripe, where the default is
the one saved in the Dashboard). When a portal session is created and the account has no default
yet, the emulator saves one that allows everything, every plan price included (its
`subscription_update.products` is empty and a private flag says "all prices"), which is what the
portal always offered; pass `configuration` to use one of yours.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..errors import invalid
from ..ids import new_id
from .common import merge_metadata

if TYPE_CHECKING:
    from ..core import Emulator

FEATURE_DEFAULTS: dict[str, dict[str, Any]] = {
    "customer_update": {"allowed_updates": [], "enabled": False},
    "invoice_history": {"enabled": False},
    "payment_method_update": {"enabled": False, "payment_method_configuration": None},
    "subscription_cancel": {"cancellation_reason": {"enabled": False, "options": []},
                            "enabled": False, "mode": "at_period_end",
                            "proration_behavior": "none"},
    "subscription_update": {"default_allowed_updates": [], "enabled": False, "products": [],
                            "proration_behavior": "none",
                            "schedule_at_period_end": {"conditions": []},
                            "trial_update_behavior": "end_trial", "billing_cycle_anchor": None},
}
EVERYTHING: dict[str, dict[str, Any]] = {
    "customer_update": {"allowed_updates": ["email"], "enabled": True},
    "invoice_history": {"enabled": True},
    "payment_method_update": {"enabled": True},
    "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
    "subscription_update": {"default_allowed_updates": ["price", "quantity"], "enabled": True,
                            "proration_behavior": "create_prorations"},
}


def new_configuration(emu: "Emulator", p: dict[str, Any], now: int,
                      all_prices: bool = False) -> dict[str, Any]:
    """A configuration from ConfigurationCreateParams (features checked as Stripe checks them)."""
    config = {"id": new_id("bpc"), "object": "billing_portal.configuration", "active": True,
              "application": None,
              "business_profile": {"headline": None, "privacy_policy_url": None,
                                   "terms_of_service_url": None},
              "created": now, "default_return_url": None,
              "features": copy.deepcopy(FEATURE_DEFAULTS), "is_default": False,
              "livemode": False, "login_page": {"enabled": False, "url": None}, "metadata": {},
              "name": None, "updated": now, "_all_prices": all_prices}
    update_configuration(emu, config, p, now)
    return config


def default_configuration(emu: "Emulator", now: int) -> dict[str, Any]:
    """The account's default configuration, saved on first need with everything allowed."""
    found = emu.store.all("billing_portal.configuration", lambda c: c["is_default"])
    if found:
        return found[0]
    config = new_configuration(emu, {"features": EVERYTHING}, now, all_prices=True)
    config["is_default"] = True
    emu.store.put(config)
    return config


def update_configuration(emu: "Emulator", config: dict[str, Any], p: dict[str, Any],
                         now: int) -> None:
    """Apply create/update parameters to a configuration (features are merged, lists replaced)."""
    for name in ("default_return_url", "name", "active"):
        if name in p:
            config[name] = p[name]
    if "business_profile" in p:
        config["business_profile"] = dict(config["business_profile"],
                                          **(p["business_profile"] or {}))
    if "login_page" in p:
        config["login_page"] = dict(config["login_page"], **(p["login_page"] or {}))
    if "metadata" in p:
        config["metadata"] = merge_metadata(config["metadata"], p["metadata"])
    for feature, given in (p.get("features") or {}).items():
        merged = dict(config["features"][feature], **{k: v for k, v in (given or {}).items()
                                                      if v is not None})
        if feature == "subscription_update" and "products" in (given or {}):
            merged["products"] = _products(emu, given["products"] or [])
            config["_all_prices"] = False
        if feature == "customer_update" and given.get("allowed_updates") is None \
                and "allowed_updates" in given:
            merged["allowed_updates"] = []
        config["features"][feature] = merged
    update = config["features"]["subscription_update"]
    if update["enabled"] and not config.get("_all_prices"):
        if not update["products"]:
            raise invalid("You must provide at least one product when enabling subscription "
                          "updates.", "features[subscription_update][products]")
        if not update["default_allowed_updates"]:
            raise invalid("You must provide at least one of default_allowed_updates when "
                          "enabling subscription updates.",
                          "features[subscription_update][default_allowed_updates]")
    config["updated"] = now


def _products(emu: "Emulator", products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for index, entry in enumerate(products):
        where = f"features[subscription_update][products][{index}]"
        product = emu.fetch("product", entry.get("product"), f"{where}[product]")
        if not entry.get("prices"):
            raise invalid("Each product needs at least one price.", f"{where}[prices]")
        for n, price_id in enumerate(entry["prices"]):
            price = emu.fetch("price", price_id, f"{where}[prices][{n}]")
            if price["product"] != product["id"]:
                raise invalid(f"The price {price_id} does not belong to product "
                              f"{product['id']}.", f"{where}[prices][{n}]")
            if price["type"] != "recurring" or not price["active"]:
                raise invalid(f"The price {price_id} must be an active recurring price.",
                              f"{where}[prices][{n}]")
        adjustable = entry.get("adjustable_quantity") or {}
        out.append({"product": product["id"], "prices": list(entry["prices"]),
                    "adjustable_quantity": {"enabled": bool(adjustable.get("enabled")),
                                            "maximum": adjustable.get("maximum"),
                                            "minimum": adjustable.get("minimum", 0)}})
    return out


def allowed_prices(config: dict[str, Any]) -> set[str] | None:
    """The price ids plan changes may move to (None: every offered price)."""
    if config.get("_all_prices"):
        return None
    update = config["features"]["subscription_update"]
    if not update["enabled"]:
        return set()
    return {price for product in update["products"] for price in product["prices"]}
