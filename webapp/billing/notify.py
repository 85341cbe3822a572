"""Which billing email an applied event causes, decided on the state after the event (part of its unit of work).

Each email has a cause key, so it goes out once per cause however often, and in whatever order,
Stripe delivers the events: `payment_failed:{invoice}:{attempt}`, `receipt:{invoice}`,
`payment_recovered:{invoice}`, `trial_will_end:{subscription}:{trial_end}`,
`cancel_scheduled:{subscription}:{canceled_at}`, `canceled:{subscription}`. An event that is no longer
true when it arrives (a failure for an invoice since paid, a cancellation since undone) sends nothing.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import current_app, has_request_context, request
from sqlalchemy import select

from webapp.billing import catalog, emails
from webapp.billing.plans import FREE, PLANS
from webapp.errors import BillingUnavailable
from webapp.extensions import db
from webapp.models import BillingInvoice, Entitlement
from webapp.redirects import public_base_url

log = logging.getLogger(__name__)


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) and value > 0 else None


def app_url(path: str) -> str:
    """An absolute link into the app for an email (webapp.redirects.public_base_url: BILLING_RETURN_URL's
    origin or SERVER_NAME); without either outside a debug run, the bare path (logged)."""
    try:
        return public_base_url(request.host_url if has_request_context() else "") + path
    except BillingUnavailable:
        log.warning("billing.email_links_relative", extra={"path": path})
        return path


def _context(ent: Entitlement) -> dict[str, Any]:
    plan = PLANS.get(ent.plan, FREE)
    return {"plan": plan, "free": FREE, "billing_url": app_url("/billing"), "portal_url": app_url("/billing/portal"),
            "support": current_app.config.get("SUPPORT_EMAIL"), "period_end": ent.current_period_end}


def queue_for_event(event: dict[str, Any], tenant_id: str | None) -> None:
    """Queue the emails this applied event causes for its tenant (nothing for other events)."""
    if not tenant_id:
        return
    ent = db.session.get(Entitlement, tenant_id)
    if ent is None:
        return
    obj, etype = event["data"]["object"], event["type"]
    if etype == "invoice.payment_failed":
        _payment_failed(ent, obj, event["id"])
    elif etype in ("invoice.paid", "invoice.payment_succeeded"):
        _paid(ent, obj, event["id"])
    elif etype == "customer.subscription.trial_will_end":
        _trial_will_end(ent, obj, event["id"])
    elif etype.startswith("customer.subscription."):
        _subscription_changed(ent, obj, event["id"])


def _invoice_copy(invoice: dict[str, Any]) -> BillingInvoice | None:
    return db.session.scalar(select(BillingInvoice).where(BillingInvoice.stripe_invoice_id == invoice.get("id")))


def _payment_failed(ent: Entitlement, invoice: dict[str, Any], event_id: str) -> None:
    copy = _invoice_copy(invoice)
    attempt = invoice.get("attempt_count")
    if copy is None or copy.status != "open" or attempt != copy.attempt_count:
        return  # paid or retried again since: this attempt's news is out of date
    emails.queue(ent.tenant_id, "payment_failed", f"payment_failed:{copy.stripe_invoice_id}:{attempt}", event_id,
                 invoice=copy, next_retry=copy.next_payment_attempt, **_context(ent))


def _paid(ent: Entitlement, invoice: dict[str, Any], event_id: str) -> None:
    copy = _invoice_copy(invoice)
    if copy is None or copy.status != "paid":
        return
    if copy.amount_paid > 0:
        emails.queue(ent.tenant_id, "receipt", f"receipt:{copy.stripe_invoice_id}", event_id, invoice=copy,
                     **_context(ent))
    if copy.attempt_count >= 2:  # it failed before this payment went through
        emails.queue(ent.tenant_id, "payment_recovered", f"payment_recovered:{copy.stripe_invoice_id}", event_id,
                     invoice=copy, **_context(ent))


def _trial_will_end(ent: Entitlement, sub: dict[str, Any], event_id: str) -> None:
    if ent.subscription_status != "trialing" or ent.stripe_subscription_id != sub.get("id"):
        return
    emails.queue(ent.tenant_id, "trial_will_end", f"trial_will_end:{sub.get('id')}:{sub.get('trial_end')}",
                 event_id, trial_end=ent.trial_end, canceling=ent.cancel_at_period_end, **_context(ent))


def _subscription_changed(ent: Entitlement, sub: dict[str, Any], event_id: str) -> None:
    if ent.stripe_subscription_id != sub.get("id"):
        return
    if sub.get("status") == "canceled" and ent.subscription_status == "canceled":
        keys = [catalog.key_for_price(item.get("price") or {}) for item in (sub.get("items") or {}).get("data") or []]
        plan = next((PLANS[k] for k in keys if k in PLANS), None)
        emails.queue(ent.tenant_id, "canceled", f"canceled:{sub['id']}", event_id,
                     ended_plan=plan, ended_at=_ts(sub.get("ended_at")), **_context(ent))
    elif sub.get("cancel_at_period_end") and ent.cancel_at_period_end and ent.active:
        stamp = sub.get("canceled_at") or sub.get("cancel_at") or ""
        emails.queue(ent.tenant_id, "cancel_scheduled", f"cancel_scheduled:{sub['id']}:{stamp}", event_id,
                     **_context(ent))
