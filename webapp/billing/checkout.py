"""Selling plans: Checkout to subscribe, the Billing Portal to change, and the return from Checkout."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from flask import current_app

from webapp.billing import catalog, links, stripe_gateway
from webapp.billing.plans import ADDONS, PLANS
from webapp.billing.services import get_entitlement
from webapp.billing.subscriptions import sync_from_stripe
from webapp.errors import Conflict, ValidationError
from webapp.extensions import db
from webapp.models import User
from webapp.redirects import public_base_url

log = logging.getLogger(__name__)

SUBSCRIBED_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")
MAX_ADDON_COMPANIES = 500


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the payer."""

    url: str
    session_id: str


def _back_to(return_to: str | None) -> str:
    """The `&next=` part carrying a same-site path back (nothing for anything else)."""
    path = links.return_path(return_to)
    return f"&next={quote(path, safe='')}" if path else ""


def _portal_return_url(request_base: str, return_to: str | None = None) -> str:
    """Where the Billing Portal's return link goes: BILLING_RETURN_URL as given, else the billing page;
    on the billing page it carries the confirmation banner (done=portal) and the way back to `return_to`."""
    target = current_app.config.get("BILLING_RETURN_URL") or f"{public_base_url(request_base)}/billing"
    parts = urlsplit(target)
    if parts.path.rstrip("/") == "/billing" and not parts.query:
        target = f"{target.rstrip('/')}?done=portal{_back_to(return_to)}"
    return target


def ensure_customer(user: User) -> str:
    """The tenant's Stripe customer id, creating the customer (metadata tenant_id) on first use."""
    ent = get_entitlement(user.tenant_id)
    if ent.stripe_customer_id:
        return ent.stripe_customer_id
    ent.stripe_customer_id = stripe_gateway.gateway().create_customer(user.email, user.full_name, user.tenant_id)
    db.session.commit()
    return ent.stripe_customer_id


def start_checkout(user: User, request_base: str, *, plan: str | None = None, price_id: str | None = None,
                   addon_companies: int = 0, return_to: str | None = None) -> CheckoutStart:
    """Open a Checkout Session for a paid plan (plus firm add-on companies), with a trial for newcomers."""
    if plan and price_id:
        raise ValidationError("Give either price_id or plan, not both.", {"price_id": "give price_id or plan, not both"})
    if not plan and not price_id:
        raise ValidationError("Say what to buy: give price_id or plan.", {"price_id": "is required (or give plan)"})
    plan_key = plan if plan else catalog.plan_key_for_price_id(str(price_id))
    if plan_key not in PLANS or not PLANS[plan_key].paid:
        raise catalog.UnknownPrice(f"'{plan_key}' is not a plan we sell.", plans=list(catalog.SELLABLE_KEYS))
    addon = next((a for a in ADDONS.values() if a.plan_key == plan_key), None)
    if addon_companies and addon is None:
        raise ValidationError("Extra companies are sold with the firm plan only.",
                              {"addon_companies": f"only with the {', '.join(a.plan_key for a in ADDONS.values())} plan"})
    if not 0 <= addon_companies <= MAX_ADDON_COMPANIES:
        raise ValidationError("Some fields are missing or invalid.",
                              {"addon_companies": f"must be between 0 and {MAX_ADDON_COMPANIES}"})
    ent = get_entitlement(user.tenant_id)
    if ent.stripe_subscription_id and ent.subscription_status in SUBSCRIBED_STATUSES:
        raise Conflict("ALREADY_SUBSCRIBED", "You already have a subscription: change plans in the billing portal.",
                       portal_url=links.portal_url())
    line_items = [{"price": catalog.price_for(plan_key), "quantity": 1}]
    if addon_companies and addon is not None:
        line_items.append({"price": catalog.price_for(addon.key), "quantity": addon_companies})
    base = public_base_url(request_base)
    customer = ensure_customer(user)
    expired = stripe_gateway.gateway().expire_open_checkout_sessions(customer)
    if expired:
        log.info("billing.checkout_sessions_expired", extra={"tenant_id": user.tenant_id, "sessions": expired})
    subscription_data: dict[str, object] = {"metadata": {"tenant_id": user.tenant_id, "plan": plan_key}}
    if ent.stripe_subscription_id is None and current_app.config["TRIAL_DAYS"] > 0:
        subscription_data["trial_period_days"] = current_app.config["TRIAL_DAYS"]
    session = stripe_gateway.gateway().create_checkout_session({
        "mode": "subscription", "customer": customer, "client_reference_id": user.tenant_id,
        "line_items": line_items, "metadata": {"tenant_id": user.tenant_id, "plan": plan_key},
        "subscription_data": subscription_data,
        "success_url": f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}{_back_to(return_to)}",
        "cancel_url": f"{base}{links.upgrade_url()}?checkout=canceled{_back_to(return_to)}",
    })
    log.info("billing.checkout_started", extra={"tenant_id": user.tenant_id, "plan": plan_key,
                                                "session_id": session["id"]})
    return CheckoutStart(url=session["url"], session_id=session["id"])


def portal_url(tenant_id: str, request_base: str, return_to: str | None = None) -> str:
    """A Billing Portal session for the tenant's customer; 409 NO_BILLING_ACCOUNT without one."""
    ent = get_entitlement(tenant_id)
    if not ent.stripe_customer_id:
        raise Conflict("NO_BILLING_ACCOUNT", "There is no billing account yet: choose a plan first.",
                       upgrade_url=links.upgrade_url())
    return stripe_gateway.gateway().create_portal_session(ent.stripe_customer_id,
                                                          _portal_return_url(request_base, return_to),
                                                          catalog.portal_configuration_id())


def complete_checkout(tenant_id: str, session_id: str) -> bool:
    """On return from Checkout, apply the session's subscription now (the webhook's own mapping).

    Returns True when the subscription was applied; a session of another tenant changes nothing.
    """
    if not session_id or len(session_id) > 255:
        return False
    session = stripe_gateway.gateway().retrieve_checkout_session(session_id)
    if session is None:
        return False
    if session.get("client_reference_id") != tenant_id:
        log.warning("billing.checkout_session_mismatch", extra={"tenant_id": tenant_id, "session_id": session_id})
        return False
    sub_id = session.get("subscription")
    sub_id = sub_id.get("id") if isinstance(sub_id, dict) else sub_id
    if session.get("status") != "complete" or not isinstance(sub_id, str):
        return False
    result = sync_from_stripe(sub_id, actor="checkout_return", hints={"tenant_id": tenant_id})
    db.session.commit()
    return result.tenant_id == tenant_id
