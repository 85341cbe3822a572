"""The tenant's next invoice from Stripe's preview, kept in a short cache (billing_previews).

A page view reads the cache; it asks Stripe only when the cache is missing, older than
PREVIEW_TTL or marked stale by a webhook, and never with a database transaction open.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, update
from sqlalchemy.exc import IntegrityError

from webapp import clock
from webapp.billing import stripe_gateway
from webapp.errors import BillingUnavailable, StripeRequestFailed
from webapp.extensions import db
from webapp.models import BillingPreview

log = logging.getLogger(__name__)

PREVIEW_TTL = timedelta(minutes=10)
PREVIEWED_STATUSES = ("trialing", "active", "past_due", "unpaid")


@dataclass(frozen=True)
class NextInvoice:
    """What Stripe will bill next and when; `amount_due` None means no further invoice."""

    amount_due: int | None
    currency: str
    bills_at: datetime | None
    unavailable: bool = False


def _from_preview(preview: dict[str, Any] | None) -> tuple[int | None, str | None, datetime | None]:
    if preview is None:
        return None, None, None
    when = preview.get("next_payment_attempt") or preview.get("period_end")
    return (int(preview.get("amount_due") or 0), str(preview.get("currency") or "usd"),
            datetime.fromtimestamp(when, UTC) if isinstance(when, int) else None)


def next_invoice(tenant_id: str, subscription_id: str | None, status: str) -> NextInvoice | None:
    """The next invoice of a live subscription (None for none); from the cache when it is fresh."""
    if not subscription_id or status not in PREVIEWED_STATUSES:
        return None
    row = db.session.get(BillingPreview, tenant_id)
    now = clock.now()
    if row is not None and row.subscription_id == subscription_id and not row.stale \
            and now - row.fetched_at < PREVIEW_TTL:
        return NextInvoice(row.amount_due, row.currency or "usd", row.bills_at)
    db.session.commit()  # end the read: no transaction stays open while Stripe answers
    asked_at = clock.now()
    try:
        amount, currency, bills_at = _from_preview(stripe_gateway.gateway().preview_invoice(subscription_id))
    except (BillingUnavailable, StripeRequestFailed):
        log.warning("billing.preview_unavailable", extra={"tenant_id": tenant_id})
        if row is not None and row.subscription_id == subscription_id:
            return NextInvoice(row.amount_due, row.currency or "usd", row.bills_at)
        return NextInvoice(None, "usd", None, unavailable=True)
    _save(tenant_id, subscription_id, amount, currency, bills_at, asked_at)
    return NextInvoice(amount, currency or "usd", bills_at)


def _save(tenant_id: str, subscription_id: str, amount: int | None, currency: str | None,
          bills_at: datetime | None, asked_at: datetime) -> None:
    """Keep what Stripe said; still stale if a webhook marked it stale while Stripe was being asked."""
    values = {"subscription_id": subscription_id, "amount_due": amount, "currency": currency,
              "bills_at": bills_at, "fetched_at": asked_at}
    marked_meanwhile = BillingPreview.marked_stale_at.is_not(None) & (BillingPreview.marked_stale_at >= asked_at)
    done = db.session.execute(update(BillingPreview).where(BillingPreview.tenant_id == tenant_id)
                              .values(stale=case((marked_meanwhile, True), else_=False), **values)
                              .execution_options(synchronize_session=False))
    if done.rowcount == 0:
        db.session.add(BillingPreview(tenant_id=tenant_id, stale=False, **values))
    try:
        db.session.commit()
    except IntegrityError:  # another view saved it at the same moment: theirs is as fresh
        db.session.rollback()
