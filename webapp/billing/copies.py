"""Webhook-fed copies of a tenant's Stripe invoices and card on file (part of the event's unit of work).

Every write is set-based and ordered by the event's `created`, so deliveries that arrive twice or
out of order end with the newest state: an older event never overwrites a newer one, and within
the same second an invoice only moves forward (draft → open → paid/void/uncollectible).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update

from webapp import clock
from webapp.extensions import db, insert_ignoring_conflict
from webapp.models import BillingCard, BillingInvoice, BillingPreview
from webapp.models.billing_copies import INVOICE_STATUSES

log = logging.getLogger(__name__)

STATUS_RANK = {"draft": 0, "open": 1, "paid": 2, "uncollectible": 2, "void": 2}
INVOICES_PER_PAGE = 10


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) and value > 0 else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def subscription_of(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice belongs to, in today's layout (parent) or the older top-level field."""
    parent = invoice.get("parent") if isinstance(invoice.get("parent"), dict) else {}
    details = parent.get("subscription_details") if isinstance(parent.get("subscription_details"), dict) else {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def record_invoice(tenant_id: str, invoice: dict[str, Any], event_created: datetime) -> None:
    """Insert or bring forward the tenant's copy of an invoice from an event's payload."""
    status = invoice.get("status")
    if not isinstance(invoice.get("id"), str) or status not in INVOICE_STATUSES:
        log.warning("billing.invoice_copy_skipped", extra={"tenant_id": tenant_id, "status": status})
        return
    transitions = invoice.get("status_transitions") if isinstance(invoice.get("status_transitions"), dict) else {}
    fields = {
        "tenant_id": tenant_id, "subscription_id": subscription_of(invoice),
        "number": _str(invoice.get("number"), 64), "status": status, "status_rank": STATUS_RANK[status],
        "billing_reason": _str(invoice.get("billing_reason"), 40),
        "currency": (_str(invoice.get("currency"), 3) or "usd").lower(),
        "total": _int(invoice.get("total")), "amount_due": max(0, _int(invoice.get("amount_due"))),
        "amount_paid": max(0, _int(invoice.get("amount_paid"))),
        "amount_remaining": max(0, _int(invoice.get("amount_remaining"))),
        "attempt_count": max(0, _int(invoice.get("attempt_count"))),
        "next_payment_attempt": _ts(invoice.get("next_payment_attempt")),
        "hosted_invoice_url": _str(invoice.get("hosted_invoice_url"), 2000),
        "invoice_pdf": _str(invoice.get("invoice_pdf"), 2000),
        "period_start": _ts(invoice.get("period_start")), "period_end": _ts(invoice.get("period_end")),
        "stripe_created": _ts(invoice.get("created")) or event_created,
        "paid_at": _ts(transitions.get("paid_at")), "last_event_created": event_created,
        "updated_at": clock.now(),
    }
    db.session.execute(insert_ignoring_conflict(BillingInvoice, ["stripe_invoice_id"],
                                                {"stripe_invoice_id": invoice["id"], **fields}))
    newer = or_(BillingInvoice.last_event_created < event_created,
                (BillingInvoice.last_event_created == event_created)
                & (BillingInvoice.status_rank <= fields["status_rank"])
                & (BillingInvoice.attempt_count <= fields["attempt_count"]))
    db.session.execute(update(BillingInvoice)
                       .where(BillingInvoice.stripe_invoice_id == invoice["id"],
                              BillingInvoice.tenant_id == tenant_id, newer)
                       .values(**fields).execution_options(synchronize_session=False))
    mark_preview_stale(tenant_id)


def backfill_invoices(tenant_id: str, invoices: list[dict[str, Any]]) -> None:
    """Bring the copies up to Stripe's invoices as just read (reconcile: webhooks may have been lost)."""
    read_at = clock.now()
    for invoice in invoices:
        record_invoice(tenant_id, invoice, read_at)


def record_card(tenant_id: str, payment_method: Any) -> None:
    """Keep the card a subscription is charged to (an expanded payment method); anything else is ignored."""
    if not isinstance(payment_method, dict) or not isinstance(payment_method.get("card"), dict):
        return
    card = payment_method["card"]
    month, year = _int(card.get("exp_month")), _int(card.get("exp_year"))
    if not 1 <= month <= 12 or not isinstance(card.get("last4"), str):
        return
    values = {"payment_method_id": str(payment_method.get("id"))[:255],
              "brand": (_str(card.get("brand"), 32) or "card"), "last4": card["last4"][-4:],
              "exp_month": month, "exp_year": year, "updated_at": clock.now()}
    db.session.execute(insert_ignoring_conflict(BillingCard, ["tenant_id"], {"tenant_id": tenant_id, **values}))
    db.session.execute(update(BillingCard).where(BillingCard.tenant_id == tenant_id).values(**values)
                       .execution_options(synchronize_session=False))


def mark_preview_stale(tenant_id: str) -> None:
    """Something changed what the next invoice will be: the cached preview is fetched again on next view."""
    db.session.execute(update(BillingPreview).where(BillingPreview.tenant_id == tenant_id)
                       .values(stale=True, marked_stale_at=clock.now()).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class InvoicePage:
    """One page of a tenant's invoices, newest first."""

    invoices: list[BillingInvoice]
    page: int
    pages: int
    total: int


def invoice_page(tenant_id: str, page: int) -> InvoicePage:
    """The tenant's finalized invoices, INVOICES_PER_PAGE a page (page 1 is the newest)."""
    shown = (BillingInvoice.tenant_id == tenant_id, BillingInvoice.status != "draft")
    total = db.session.scalar(select(func.count()).select_from(BillingInvoice).where(*shown)) or 0
    pages = max(1, -(-total // INVOICES_PER_PAGE))
    page = min(max(1, page), pages)
    rows = db.session.scalars(select(BillingInvoice).where(*shown)
                              .order_by(BillingInvoice.stripe_created.desc(), BillingInvoice.id.desc())
                              .limit(INVOICES_PER_PAGE).offset((page - 1) * INVOICES_PER_PAGE))
    return InvoicePage(list(rows), page, pages, total)


def open_invoice(tenant_id: str, subscription_id: str | None) -> BillingInvoice | None:
    """The subscription's oldest invoice still waiting to be paid (what a payment problem is about)."""
    if not subscription_id:
        return None
    return db.session.scalar(select(BillingInvoice).where(
        BillingInvoice.tenant_id == tenant_id, BillingInvoice.subscription_id == subscription_id,
        BillingInvoice.status == "open").order_by(BillingInvoice.stripe_created, BillingInvoice.id).limit(1))


def amount_owed(tenant_id: str, subscription_id: str | None) -> int:
    """Everything the subscription's open invoices still ask for, in cents."""
    if not subscription_id:
        return 0
    return int(db.session.scalar(select(func.coalesce(func.sum(BillingInvoice.amount_remaining), 0)).where(
        BillingInvoice.tenant_id == tenant_id, BillingInvoice.subscription_id == subscription_id,
        BillingInvoice.status == "open")) or 0)


def card_on_file(tenant_id: str) -> BillingCard | None:
    """The tenant's card on file, as the webhooks last showed it."""
    return db.session.get(BillingCard, tenant_id)
