"""Create — or find by lookup key — the Stripe products and monthly prices of the plan table."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from webapp.billing import stripe_gateway
from webapp.billing.catalog import PORTAL_CONFIG_TAG
from webapp.billing.checkout import MAX_ADDON_COMPANIES
from webapp.billing.plans import ADDONS, PAID_PLANS
from webapp.errors import DomainError

log = logging.getLogger(__name__)


def _catalog() -> list[dict[str, Any]]:
    """What to sell: one product and monthly price per paid plan and add-on, metadata as strings."""
    items: list[dict[str, Any]] = [
        {"key": p.key, "name": f"AI Bookkeeper {p.name}", "amount": p.price_cents, "currency": p.currency,
         "metadata": p.stripe_metadata()} for p in PAID_PLANS]
    items += [{"key": a.key, "name": f"AI Bookkeeper {a.name}", "amount": a.unit_price_cents,
               "currency": a.currency,
               "metadata": {"plan": a.key, "tx_cap": "0", "bulk_approve": "false",
                            "included_companies": str(a.companies_per_unit), "addon": "true",
                            "addon_for": a.plan_key}} for a in ADDONS.values()]
    return items


def bootstrap() -> dict[str, dict[str, Any]]:
    """Ensure every product and price exists; running it again creates nothing and returns the same ids."""
    gw = stripe_gateway.gateway()
    items = _catalog()
    existing = gw.prices_by_lookup_key([i["key"] for i in items])
    result: dict[str, dict[str, Any]] = {}
    for item in items:
        price = existing.get(item["key"])
        if price is None:
            product = gw.create_product(item["name"], item["metadata"], f"bootstrap-product-{item['key']}-v1")
            price = gw.create_price({
                "product": product["id"], "unit_amount": item["amount"], "currency": item["currency"],
                "recurring": {"interval": "month"}, "lookup_key": item["key"], "metadata": item["metadata"],
                "nickname": item["name"]}, f"bootstrap-price-{item['key']}-v1")
            log.info("billing.bootstrap_created", extra={"plan": item["key"], "price_id": price["id"]})
        else:
            _check_matches(item, price)
        product_id = price["product"]["id"] if isinstance(price["product"], dict) else price["product"]
        result[item["key"]] = {"product_id": product_id, "price_id": price["id"],
                               "amount": price["unit_amount"], "metadata": price.get("metadata") or item["metadata"]}
    ensure_portal_configuration(result)
    return result


def portal_features(result: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What our Billing Portal lets a customer do: switch between the plan prices, set the add-on
    quantity, update the card, cancel at period end, see invoices (Stripe refuses plan switching
    unless the prices are listed)."""
    plans = [{"product": result[p.key]["product_id"], "prices": [result[p.key]["price_id"]]}
             for p in PAID_PLANS if p.key in result]
    plans += [{"product": result[a.key]["product_id"], "prices": [result[a.key]["price_id"]],
               "adjustable_quantity": {"enabled": True, "minimum": 0, "maximum": MAX_ADDON_COMPANIES}}
              for a in ADDONS.values() if a.key in result]
    return {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "address"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {"enabled": True, "mode": "at_period_end", "proration_behavior": "none"},
        "subscription_update": {"enabled": True, "default_allowed_updates": ["price", "quantity"],
                                "products": plans,
                                "proration_behavior": "create_prorations"},
    }


def ensure_portal_configuration(result: dict[str, dict[str, Any]]) -> str:
    """Create our portal configuration (found again by metadata), or bring its plan list up to date."""
    gw = stripe_gateway.gateway()
    features = portal_features(result)
    found = next((c for c in gw.list_portal_configurations()
                  if (c.get("metadata") or {}).get("app") == PORTAL_CONFIG_TAG), None)
    if found is None:
        config = gw.create_portal_configuration(
            {"features": features, "metadata": {"app": PORTAL_CONFIG_TAG},
             "business_profile": {"headline": "AI Bookkeeper: manage your plan, card and invoices"}},
            f"bootstrap-portal-{PORTAL_CONFIG_TAG}")
        log.info("billing.portal_configuration_created", extra={"configuration": config["id"]})
        return str(config["id"])
    if found.get("features", {}).get("subscription_update", {}).get("products") != features[
            "subscription_update"]["products"] or not found["features"]["subscription_update"]["enabled"]:
        gw.update_portal_configuration(found["id"], {"features": features})
        log.info("billing.portal_configuration_updated", extra={"configuration": found["id"]})
    return str(found["id"])


class CatalogDrift(DomainError):
    """A price found by lookup key that no longer matches the plan table."""

    status = 409
    code = "CATALOG_DRIFT"


def _check_matches(item: dict[str, Any], price: dict[str, Any]) -> None:
    """Refuse to reuse a price whose amount, currency or interval differs from plans.py."""
    recurring = price.get("recurring") or {}
    found = (price.get("unit_amount"), price.get("currency"), recurring.get("interval"))
    wanted = (item["amount"], item["currency"], "month")
    if found != wanted:
        raise CatalogDrift(
            f"The Stripe price with lookup_key '{item['key']}' ({price['id']}) is {found}, but plans.py says "
            f"{wanted}. Create the new price with lookup_key '{item['key']}' and transfer_lookup_key=true in "
            "the Stripe dashboard (or archive the old one), then run the bootstrap again.")


def env_lines(result: dict[str, dict[str, Any]]) -> list[str]:
    """The .env lines operators paste, as the runbook lists them."""
    lines = []
    for key, ids in result.items():
        if key in ADDONS:
            lines.append(f"STRIPE_PRICE_{key.upper()}={ids['price_id']}")
        else:
            lines += [f"STRIPE_PRODUCT_{key.upper()}={ids['product_id']}", f"STRIPE_PRICE_{key.upper()}={ids['price_id']}"]
    return lines


def save(result: dict[str, dict[str, Any]], mode: str, path: Path) -> None:
    """Write the ids into config/stripe_products.json under this mode (test / live), keeping the other."""
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    data[mode] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
