"""Which Stripe price sells which plan: STRIPE_PRICE_* settings, config/stripe_products.json, or lookup keys."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from flask import current_app

from webapp.billing import stripe_gateway
from webapp.billing.plans import ADDONS, PLANS, PAID_PLANS
from webapp.errors import DomainError

log = logging.getLogger(__name__)

# A price missing from the catalog (say, no add-on set up yet) is looked up again at most this often.
MISSING_PRICE_RECHECK_SECONDS = 60.0
SELLABLE_KEYS: tuple[str, ...] = tuple(p.key for p in PAID_PLANS) + tuple(ADDONS)
PORTAL_CONFIG_TAG = "ai-bookkeeper"  # metadata[app] of the portal configuration the bootstrap manages


class UnknownPrice(DomainError):
    """A price id or plan that we do not sell."""

    status = 400
    code = "UNKNOWN_PRICE"


def _configured_ids() -> dict[str, str]:
    """Plan key → price id from the environment, then from config/stripe_products.json for this mode."""
    ids: dict[str, str] = {}
    path = current_app.config.get("STRIPE_PRODUCTS_FILE")
    if path and Path(path).exists():
        try:
            saved = json.loads(Path(path).read_text()).get(stripe_gateway.gateway().mode, {})
            ids.update({k: v["price_id"] for k, v in saved.items() if isinstance(v, dict) and "price_id" in v})
        except (ValueError, OSError):
            log.warning("catalog.products_file_unreadable", extra={"path": str(path)})
    ids.update(current_app.config.get("STRIPE_PRICE_IDS") or {})
    return ids


def price_ids() -> dict[str, str]:
    """Plan/add-on key → Stripe price id, filling gaps by lookup key (= the plan key) in Stripe."""
    cache: dict[str, str] = current_app.extensions.setdefault("stripe_price_ids", {})
    checked = current_app.extensions.get("stripe_price_ids_checked_at")
    if all(k in cache for k in SELLABLE_KEYS) or (
            checked is not None and time.monotonic() - checked < MISSING_PRICE_RECHECK_SECONDS):
        return cache
    current_app.extensions["stripe_price_ids_checked_at"] = time.monotonic()
    ids = _configured_ids()
    missing = [k for k in SELLABLE_KEYS if k not in ids]
    if missing:
        found = stripe_gateway.gateway().prices_by_lookup_key(missing)
        ids.update({k: p["id"] for k, p in found.items()})
    cache.update(ids)
    return ids


def price_for(key: str) -> str:
    """The price id selling this plan or add-on; UnknownPrice when it is not sold."""
    if key not in SELLABLE_KEYS:
        raise UnknownPrice(f"'{key}' is not a plan we sell.", plans=list(SELLABLE_KEYS))
    pid = price_ids().get(key)
    if pid is None:
        raise UnknownPrice(f"No Stripe price is set up for '{key}': run the bootstrap.", plans=list(SELLABLE_KEYS))
    return pid


def key_for_price(price: dict[str, Any] | str) -> str | None:
    """Which plan/add-on key a price sells (by id, lookup key or metadata), or None."""
    price_id = price if isinstance(price, str) else price.get("id")
    for key, pid in price_ids().items():
        if pid == price_id:
            return key
    if isinstance(price, dict):
        for candidate in (price.get("lookup_key"), (price.get("metadata") or {}).get("plan")):
            if candidate in SELLABLE_KEYS:
                return str(candidate)
    return None


def plan_key_for_price_id(price_id: str) -> str:
    """The plan key a client-given price id sells; UnknownPrice for anything else (add-ons included)."""
    key = key_for_price(price_id)
    if key not in PLANS:
        raise UnknownPrice(f"'{price_id}' is not the price of a plan we sell.", plans=list(PLANS)[1:])
    return str(key)


def portal_configuration_id() -> str | None:
    """Our Billing Portal configuration (made by the bootstrap), found by its metadata; None when there
    is none, so Stripe uses the account's default. A miss is looked up again at most once a minute."""
    found = current_app.extensions.get("stripe_portal_configuration")
    checked = current_app.extensions.get("stripe_portal_configuration_checked_at")
    if found or (checked is not None and time.monotonic() - checked < MISSING_PRICE_RECHECK_SECONDS):
        return found
    current_app.extensions["stripe_portal_configuration_checked_at"] = time.monotonic()
    config = next((c for c in stripe_gateway.gateway().list_portal_configurations()
                   if (c.get("metadata") or {}).get("app") == PORTAL_CONFIG_TAG), None)
    current_app.extensions["stripe_portal_configuration"] = config["id"] if config else None
    return current_app.extensions["stripe_portal_configuration"]
