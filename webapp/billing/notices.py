"""Notices on the tenant's billing page (trial ending, payment failed), one per Stripe event."""
from __future__ import annotations

from sqlalchemy import select, update

from webapp import clock
from webapp.extensions import db
from webapp.models import BillingNotice, Entitlement


# The subscription statuses in which each kind of notice is true; outside them it is dismissed.
CAUSES = {"payment_failed": frozenset({"past_due", "unpaid", "incomplete"}),
          "trial_will_end": frozenset({"trialing"})}


def add(tenant_id: str, kind: str, event_id: str | None, message: str) -> bool:
    """Add a notice if its cause still holds after the sync, unless this event already made one.

    Part of the caller's unit of work, which holds the entitlement's lock, so the status read here is the
    one just written: a failed payment reported after the card worked again adds nothing. True if added.
    """
    status = db.session.scalar(select(Entitlement.subscription_status).where(Entitlement.tenant_id == tenant_id))
    if status not in CAUSES[kind]:
        return False
    if event_id and db.session.scalar(select(BillingNotice.id).where(BillingNotice.event_id == event_id)):
        return False
    db.session.add(BillingNotice(tenant_id=tenant_id, kind=kind, event_id=event_id, message=message))
    return True


def active(tenant_id: str) -> list[BillingNotice]:
    """The tenant's undismissed notices, newest first."""
    stmt = (select(BillingNotice).where(BillingNotice.tenant_id == tenant_id, BillingNotice.dismissed_at.is_(None))
            .order_by(BillingNotice.created_at.desc(), BillingNotice.id.desc()))
    return list(db.session.scalars(stmt))


def resolve(tenant_id: str, status: str) -> None:
    """Dismiss the notices whose cause a subscription status has ended (part of the caller's unit of work)."""
    kinds = [kind for kind, statuses in CAUSES.items() if status not in statuses]
    if kinds:
        db.session.execute(update(BillingNotice)
                           .where(BillingNotice.tenant_id == tenant_id, BillingNotice.kind.in_(kinds),
                                  BillingNotice.dismissed_at.is_(None))
                           .values(dismissed_at=clock.now()).execution_options(synchronize_session=False))
