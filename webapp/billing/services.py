"""Entitlements: what each tenant may do, derived from the plan catalog."""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, bindparam, select, update

from webapp.billing.plans import FREE, PLANS
from webapp.errors import NotFound
from webapp.extensions import db
from webapp.models import Entitlement


def create_free_entitlement(tenant_id: str) -> Entitlement:
    """Add the free-plan entitlement a new tenant starts with (inactive, no subscription)."""
    ent = Entitlement(tenant_id=tenant_id, plan=FREE.key, active=False, subscription_status="none",
                      tx_cap=FREE.tx_cap, bulk_approve=FREE.bulk_approve,
                      included_companies=FREE.included_companies, addon_companies=0,
                      cancel_at_period_end=False)
    db.session.add(ent)
    return ent


# Built once: the gate reads the entitlement on every metered request (session.get rebuilds its query).
_ENTITLEMENT = select(Entitlement).where(Entitlement.tenant_id == bindparam("tenant_id"))


def get_entitlement(tenant_id: str) -> Entitlement:
    """Return the tenant's entitlement; every tenant has one from sign-up."""
    ent = db.session.scalars(_ENTITLEMENT, {"tenant_id": tenant_id}).first()
    if ent is None:
        raise NotFound("No entitlement for this tenant.", ids=[tenant_id])
    return ent


PAID_STATUSES = frozenset({"active", "trialing"})
# A subscription whose payment failed: the tenant is on the free tier until the card works again.
PAYMENT_PROBLEM_STATUSES = frozenset({"past_due", "unpaid"})


def has_paid_plan(ent: Entitlement) -> bool:
    """The one definition of a paying tenant: active, status active or trialing, on a paid plan.

    Everyone else (free, past_due, unpaid, canceled, ...) is on the free tier.
    """
    plan = PLANS.get(ent.plan)
    return bool(ent.active and ent.subscription_status in PAID_STATUSES and plan is not None and plan.paid)


def paid_plan_clause() -> ColumnElement[bool]:
    """has_paid_plan as SQL, to count paying tenants in one statement."""
    return and_(Entitlement.active.is_(True), Entitlement.subscription_status.in_(PAID_STATUSES),
                Entitlement.plan.in_([key for key, plan in PLANS.items() if plan.paid]))


def has_payment_problem(ent: Entitlement) -> bool:
    """True while the tenant's last payment failed (past_due, unpaid): its plan waits for a working card."""
    return ent.subscription_status in PAYMENT_PROBLEM_STATUSES


def company_allowance(tenant_id: str) -> int:
    """How many companies the tenant may have: the plan's included ones plus add-ons."""
    ent = get_entitlement(tenant_id)
    if not has_paid_plan(ent):
        return FREE.included_companies
    return ent.included_companies + ent.addon_companies


def lock_entitlement(tenant_id: str) -> None:
    """Take the tenant's entitlement row for this transaction (a no-op write that locks on both backends)."""
    result = db.session.execute(update(Entitlement).where(Entitlement.tenant_id == tenant_id)
                                .values(tenant_id=Entitlement.tenant_id))
    if result.rowcount != 1:
        raise NotFound("No entitlement for this tenant.", ids=[tenant_id])
