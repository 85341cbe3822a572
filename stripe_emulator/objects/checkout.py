"""Checkout Sessions (subscription mode) and Billing Portal sessions."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ids import new_id
from ..render import expander, public
from .catalog import product_name
from .common import merge_metadata

if TYPE_CHECKING:
    from ..core import Emulator


def new_checkout_session(p: dict[str, Any], line_items: list[dict[str, Any]], currency: str,
                         amount: int, trial_days: int | None, now: int, expires_at: int,
                         base_url: str) -> dict[str, Any]:
    """An open Checkout Session; its url is the emulator's hosted checkout page."""
    session_id = new_id("cs")
    total = 0 if trial_days else amount
    return {"id": session_id, "object": "checkout.session", "after_expiration": None,
            "allow_promotion_codes": p.get("allow_promotion_codes"),
            "amount_subtotal": total, "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None,
                              "provider": None},
            "billing_address_collection": p.get("billing_address_collection"),
            "cancel_url": p.get("cancel_url"),
            "client_reference_id": p.get("client_reference_id"), "client_secret": None,
            "consent": None, "consent_collection": None, "created": now, "currency": currency,
            "custom_fields": [],
            "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                            "terms_of_service_acceptance": None},
            "customer": p.get("customer"), "customer_creation": None, "customer_details": None,
            "customer_email": p.get("customer_email"), "expires_at": expires_at,
            "invoice": None, "invoice_creation": None, "livemode": False,
            "locale": p.get("locale"), "metadata": merge_metadata({}, p.get("metadata") or {}),
            "mode": "subscription", "payment_intent": None, "payment_link": None,
            "payment_method_collection": p.get("payment_method_collection") or "always",
            "payment_method_configuration_details": None, "payment_method_options": {},
            "payment_method_types": ["card"], "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False}, "recovered_from": None,
            "saved_payment_method_options": None, "setup_intent": None,
            "shipping_address_collection": None, "shipping_cost": None, "shipping_options": [],
            "status": "open", "submit_type": None, "subscription": None,
            "success_url": p.get("success_url"),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted_page", "url": f"{base_url}/checkout/{session_id}",
            "adaptive_pricing": {"enabled": False}, "discounts": [],
            "collected_information": None, "permissions": None, "wallet_options": None,
            "origin_context": None, "currency_conversion": None, "customer_account": None,
            "integration_identifier": None, "managed_payments": None,
            "_line_items": line_items, "_trial_days": trial_days,
            "_subscription_metadata": (p.get("subscription_data") or {}).get("metadata") or {},
            "_pending": None}


@expander("checkout.session", "line_items")
def session_line_items(emu: "Emulator", session: dict[str, Any]) -> dict[str, Any]:
    """The session's line items as a list of `item` objects."""
    return {"object": "list", "data": line_item_objects(emu, session), "has_more": False,
            "url": f"/v1/checkout/sessions/{session['id']}/line_items"}


def line_item_objects(emu: "Emulator", session: dict[str, Any]) -> list[dict[str, Any]]:
    """The `item` objects of a session."""
    found = []
    for index, line in enumerate(session["_line_items"]):
        price = emu.store.get(line["price"], "price") or {}
        amount = (price.get("unit_amount") or 0) * line["quantity"]
        found.append({"id": f"li_{session['id'][8:22]}{index}", "object": "item",
                      "amount_discount": 0, "amount_subtotal": amount, "amount_tax": 0,
                      "amount_total": amount, "currency": price.get("currency", "usd"),
                      "description": product_name(emu, price), "price": public(price),
                      "quantity": line["quantity"], "metadata": {},
                      "adjustable_quantity": None})
    return found


def new_portal_session(customer_id: str, return_url: str | None, configuration: str,
                       locale: str | None, now: int, base_url: str) -> dict[str, Any]:
    """A Billing Portal session whose url is the emulator's hosted portal page."""
    session_id = new_id("bps")
    return {"id": session_id, "object": "billing_portal.session", "configuration": configuration,
            "created": now, "customer": customer_id, "flow": None, "livemode": False,
            "locale": locale, "on_behalf_of": None, "return_url": return_url,
            "url": f"{base_url}/billing_portal/{session_id}", "customer_account": None}
