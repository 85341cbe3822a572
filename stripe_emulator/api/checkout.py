"""/v1/checkout/sessions and /v1/billing_portal/sessions."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..billing.checkout_flow import expire_session
from ..errors import invalid, missing_param
from ..listing import filter_range, list_object
from ..objects.checkout import line_item_objects, new_checkout_session, new_portal_session
from ..objects.portal_configurations import default_configuration
from ..render import render
from ..timeutil import real_now
from .base import base_url, emulator, endpoint, params

bp = Blueprint("checkout", __name__)
MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 3600


@bp.post("/v1/checkout/sessions")
@endpoint
def create_session() -> dict[str, Any]:
    """Create a subscription-mode Checkout Session with a hosted page."""
    p = params("checkout.SessionCreateParams")
    emu = emulator()
    if "mode" not in p:
        raise missing_param("mode")
    if p["mode"] != "subscription":
        raise invalid("The Stripe emulator supports Checkout Sessions in `subscription` mode "
                      "only.", "mode")
    if p.get("customer") and p.get("customer_email"):
        raise invalid("You may only specify one of these parameters: customer, customer_email.",
                      "customer", "parameters_exclusive")
    if p.get("customer"):
        emu.fetch("customer", p["customer"], "customer")
    lines, currency, amount = _line_items(p)
    sub_data = p.get("subscription_data") or {}
    trial_days = sub_data.get("trial_period_days")
    if trial_days is not None and not 1 <= trial_days <= 730:
        raise invalid("The trial period must be between 1 and 730 days.",
                      "subscription_data[trial_period_days]")
    now = real_now()
    expires_at = p.get("expires_at") or now + MAX_EXPIRY
    if not now + MIN_EXPIRY <= expires_at <= now + MAX_EXPIRY:
        raise invalid("The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                      "Checkout Session creation.", "expires_at")
    if len(p.get("client_reference_id") or "") > 200:
        raise invalid("client_reference_id must be at most 200 characters.",
                      "client_reference_id")
    session = new_checkout_session(p, lines, currency, amount, trial_days, now, expires_at,
                                   base_url())
    emu.store.put(session)
    return render(emu, session, p.get("expand") or [])


def _line_items(p: dict[str, Any]) -> tuple[list[dict[str, Any]], str, int]:
    emu = emulator()
    if not p.get("line_items"):
        raise missing_param("line_items")
    lines, currencies, intervals, amount = [], set(), set(), 0
    for index, item in enumerate(p["line_items"]):
        where = f"line_items[{index}]"
        if item.get("price_data"):
            raise invalid("The Stripe emulator needs an existing `price`; `price_data` is not "
                          "emulated.", f"{where}[price_data]")
        if not item.get("price"):
            raise missing_param(f"{where}[price]")
        if item.get("quantity") is None:
            raise missing_param(f"{where}[quantity]")
        price = emu.fetch("price", item["price"], f"{where}[price]")
        if not price["active"]:
            raise invalid("The price specified is inactive. This field only accepts active "
                          "prices.", f"{where}[price]")
        if price["type"] != "recurring":
            raise invalid("You must provide at least one recurring price in `subscription` mode "
                          "when using prices.", f"{where}[price]")
        if item["quantity"] < 1:
            raise invalid("Quantity must be at least 1.", f"{where}[quantity]")
        currencies.add(price["currency"])
        intervals.add((price["recurring"]["interval"], price["recurring"]["interval_count"]))
        amount += price["unit_amount"] * item["quantity"]
        lines.append({"price": price["id"], "quantity": item["quantity"]})
    if len(currencies) > 1 or len(intervals) > 1:
        raise invalid("All prices on a subscription must have the same `currency` and "
                      "`recurring.interval`.", "line_items")
    return lines, currencies.pop(), amount


@bp.get("/v1/checkout/sessions/<session_id>")
@endpoint
def retrieve_session(session_id: str) -> dict[str, Any]:
    """Retrieve a Checkout Session."""
    p = params("checkout.SessionRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("checkout.session", session_id), p.get("expand") or [])


@bp.get("/v1/checkout/sessions")
@endpoint
def list_sessions() -> dict[str, Any]:
    """List Checkout Sessions by customer, status or subscription."""
    p = params("checkout.SessionListParams")
    emu = emulator()
    objs = emu.store.all("checkout.session")
    for field in ("customer", "status", "subscription", "payment_intent"):
        if p.get(field):
            objs = [o for o in objs if o.get(field) == p[field]]
    objs = filter_range(objs, "created", p.get("created"))
    return list_object(emu, objs, p, "/v1/checkout/sessions")


@bp.get("/v1/checkout/sessions/<session_id>/line_items")
@endpoint
def list_session_line_items(session_id: str) -> dict[str, Any]:
    """A Checkout Session's line items."""
    p = params("checkout.SessionListLineItemsParams")
    emu = emulator()
    session = emu.fetch("checkout.session", session_id)
    return list_object(emu, line_item_objects(emu, session), p,
                       f"/v1/checkout/sessions/{session_id}/line_items")


@bp.post("/v1/checkout/sessions/<session_id>/expire")
@endpoint
def expire(session_id: str) -> dict[str, Any]:
    """Expire an open Checkout Session (checkout.session.expired)."""
    p = params("checkout.SessionExpireParams")
    emu = emulator()
    session = emu.fetch("checkout.session", session_id)
    if session["status"] != "open":
        raise invalid(f"This Checkout Session is already in a terminal state "
                      f"({session['status']}) and cannot be expired. Only Checkout Sessions "
                      "with a status of `open` can be expired.", "session")
    expire_session(emu, session, real_now())
    return render(emu, session, p.get("expand") or [])


@bp.post("/v1/billing_portal/sessions")
@endpoint
def create_portal_session() -> dict[str, Any]:
    """Create a Billing Portal session whose url is the hosted portal page."""
    p = params("billing_portal.SessionCreateParams")
    emu = emulator()
    if "customer" not in p:
        raise missing_param("customer")
    customer = emu.fetch("customer", p["customer"], "customer")
    if p.get("configuration"):
        configuration = emu.fetch("billing_portal.configuration", p["configuration"],
                                  "configuration")
        if not configuration["active"]:
            raise invalid("The configuration is inactive; activate it or use another one.",
                          "configuration")
    else:
        configuration = default_configuration(emu, real_now())
    return_url = p.get("return_url") or configuration["default_return_url"]
    session = new_portal_session(customer["id"], return_url, configuration["id"],
                                 p.get("locale"), real_now(), base_url())
    emu.store.put(session)
    return render(emu, session, p.get("expand") or [])
