"""Notices on the tenant's billing page (trial ending, payment failed), one per Stripe event."""
from __future__ import annotations

from sqlalchemy import select, update

from webapp import clock

from webapp.extensions import db
from webapp.models import BillingNotice


def add(tenant_id: str, kind: str, event_id: str | None, message: str) -> None:
    """Add a notice unless this event already made one (part of the caller's unit of work)."""
    if event_id and db.session.scalar(select(BillingNotice.id).where(BillingNotice.event_id == event_id)):
        return
    db.session.add(BillingNotice(tenant_id=tenant_id, kind=kind, event_id=event_id, message=message))


def active(tenant_id: str) -> list[BillingNotice]:
    """The tenant's undismissed notices, newest first."""
    stmt = (select(BillingNotice).where(BillingNotice.tenant_id == tenant_id, BillingNotice.dismissed_at.is_(None))
            .order_by(BillingNotice.created_at.desc(), BillingNotice.id.desc()))
    return list(db.session.scalars(stmt))


# Which notices stop being true once the subscription reaches a status.
RESOLVED_BY = {"payment_failed": ("active", "trialing", "canceled", "incomplete_expired"),
               "trial_will_end": ("active", "past_due", "unpaid", "canceled", "incomplete_expired")}


def resolve(tenant_id: str, status: str) -> None:
    """Dismiss the notices a subscription status makes obsolete (part of the caller's unit of work)."""
    kinds = [kind for kind, statuses in RESOLVED_BY.items() if status in statuses]
    if kinds:
        db.session.execute(update(BillingNotice)
                           .where(BillingNotice.tenant_id == tenant_id, BillingNotice.kind.in_(kinds),
                                  BillingNotice.dismissed_at.is_(None))
                           .values(dismissed_at=clock.now()).execution_options(synchronize_session=False))
