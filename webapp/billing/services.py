"""Entitlements: what each tenant may do, derived from the plan catalog."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from flask import has_request_context, request
from sqlalchemy import ColumnElement, FromClause, and_, bindparam, select, update
from sqlalchemy.orm import joinedload

from webapp import clock
from webapp.billing.plans import FREE, PLANS
from webapp.errors import NotFound
from webapp.extensions import db, execute_core
from webapp.models import Entitlement, EntitlementOverride


def create_free_entitlement(tenant_id: str) -> Entitlement:
    """Add the free-plan entitlement a new tenant starts with (inactive, no subscription)."""
    ent = Entitlement(tenant_id=tenant_id, plan=FREE.key, active=False, subscription_status="none",
                      tx_cap=FREE.tx_cap, bulk_approve=FREE.bulk_approve,
                      included_companies=FREE.included_companies, addon_companies=0,
                      cancel_at_period_end=False)
    db.session.add(ent)
    return ent


# Built once (session.get rebuilds its query): the entitlement as an ORM object, for callers that change it or
# show it. The open override comes in the same statement (a LEFT OUTER JOIN). The gate reads the same join
# with Core instead (read_effective, below).
_ENTITLEMENT = (select(Entitlement).options(joinedload(Entitlement.override))
                .where(Entitlement.tenant_id == bindparam("tenant_id")))


def get_entitlement(tenant_id: str) -> Entitlement:
    """Return the tenant's entitlement and its open override, in one SELECT; every tenant has one from sign-up."""
    ent = db.session.scalars(_ENTITLEMENT, {"tenant_id": tenant_id}).first()
    if ent is None:
        raise no_entitlement(tenant_id)
    return ent


def no_entitlement(tenant_id: str) -> NotFound:
    return NotFound("No entitlement for this tenant.", ids=[tenant_id])


PAID_STATUSES = frozenset({"active", "trialing"})
# A subscription whose payment failed: the tenant is on the free tier until the card works again.
PAYMENT_PROBLEM_STATUSES = frozenset({"past_due", "unpaid"})


@dataclass(frozen=True)
class GateOverride:
    """An open override as read_effective reads it: what decides while it lasts."""

    plan: str
    subscription_status: str
    until: datetime | None
    ended_at: None = None  # the read joins open overrides only


@dataclass(frozen=True)
class Effective:
    """What the tenant is entitled to now: Stripe's state, or an open manual override's while it lasts."""

    plan: str
    active: bool
    subscription_status: str
    tx_cap: int
    bulk_approve: bool
    included_companies: int
    addon_companies: int
    override: EntitlementOverride | GateOverride | None = None  # a GateOverride from read_effective


Override = TypeVar("Override", EntitlementOverride, GateOverride)


def open_override(ent: Entitlement, now: datetime | None = None) -> EntitlementOverride | None:
    """The override in force: open and not past its `until` (the hourly job records the end later)."""
    return in_force(ent.override, now)


def in_force(ovr: Override | None, now: datetime | None = None) -> Override | None:
    """The override if it is in force: open and not past its `until`."""
    if ovr is None or ovr.ended_at is not None:
        return None
    if ovr.until is not None and ovr.until <= (now or clock.now()):
        return None
    return ovr


def effective(ent: Entitlement) -> Effective:
    """The entitlement the gate, the pages and `show` use: an override's plan (limits from the plan table)."""
    return effective_with(ent, open_override(ent))


def effective_with(ent: Entitlement | Effective, ovr: EntitlementOverride | GateOverride | None) -> Effective:
    """The entitlement (or Stripe's state as an Effective) with `ovr` in force (Stripe's state for None)."""
    if ovr is None:
        return Effective(ent.plan, ent.active, ent.subscription_status, ent.tx_cap, ent.bulk_approve,
                         ent.included_companies, ent.addon_companies)
    plan = PLANS[ovr.plan]
    addons = ent.addon_companies if ovr.plan == ent.plan else 0  # Stripe's add-ons belong to Stripe's plan
    return Effective(plan.key, ovr.subscription_status in PAID_STATUSES, ovr.subscription_status, plan.tx_cap,
                     plan.bulk_approve, plan.included_companies, addons, ovr)


_ENT = Entitlement.__table__.c
_OVR = EntitlementOverride.__table__.c
# Built once: the gate runs it on every metered request. The statement get_entitlement runs, read with Core
# (the ORM's loading of the two objects cost four times as much CPU as the SQL); _OVR.plan is NULL without
# an open override (the column is NOT NULL).
EFFECTIVE_COLUMNS = (_ENT.plan, _ENT.active, _ENT.subscription_status, _ENT.tx_cap, _ENT.bulk_approve,
                     _ENT.included_companies, _ENT.addon_companies, _OVR.plan, _OVR.subscription_status, _OVR.until)


_OPEN_OVERRIDE = and_(_OVR.tenant_id == _ENT.tenant_id, _OVR.ended_at.is_(None))


def with_effective(left: FromClause, tenant_id: ColumnElement[str]) -> FromClause:
    """`left` joined to the tenant's entitlement and its open override (both LEFT OUTER), for EFFECTIVE_COLUMNS."""
    return (left.outerjoin(Entitlement.__table__, _ENT.tenant_id == tenant_id)
            .outerjoin(EntitlementOverride.__table__, _OPEN_OVERRIDE))


_EFFECTIVE = (select(*EFFECTIVE_COLUMNS)
              .select_from(Entitlement.__table__.outerjoin(EntitlementOverride.__table__, _OPEN_OVERRIDE))
              .where(_ENT.tenant_id == bindparam("tenant_id")))
# Where remember_effective keeps a read for read_effective: the WSGI environ, so it is this request's only
# (an app context, and its `g`, may outlive one request).
_REMEMBERED = "aibk.effective_read"


def effective_from(tenant_id: str, values: Sequence[Any]) -> Effective:
    """The Effective of EFFECTIVE_COLUMNS' values (NotFound if the tenant has no entitlement)."""
    *stripe, ovr_plan, ovr_status, ovr_until = values
    if stripe[0] is None:  # plan is NOT NULL: the outer join found no entitlement
        raise no_entitlement(tenant_id)
    ovr = None if ovr_plan is None else GateOverride(ovr_plan, ovr_status, ovr_until)
    return effective_with(Effective(*stripe), in_force(ovr))


def remember_effective(tenant_id: str, values: Sequence[Any]) -> None:
    """Keep EFFECTIVE_COLUMNS' values, read with another statement of this request (the Bearer token's, for
    a metered route), for this request's read_effective(tenant_id): one round trip fewer."""
    request.environ[_REMEMBERED] = (tenant_id, tuple(values))


def read_effective(tenant_id: str) -> Effective:
    """effective(get_entitlement(tenant_id)) in the same one SELECT, without ORM objects (the gate's read):
    its `override` is a GateOverride. A read remembered earlier in this request is used once instead."""
    remembered = request.environ.pop(_REMEMBERED, None) if has_request_context() else None
    if remembered is not None and remembered[0] == tenant_id:
        return effective_from(tenant_id, remembered[1])
    row = execute_core(_EFFECTIVE, {"tenant_id": tenant_id}).first()
    if row is None:
        raise no_entitlement(tenant_id)
    return effective_from(tenant_id, row)


def has_paid_plan(ent: Entitlement | Effective) -> bool:
    """The one definition of a paying tenant: active, status active or trialing, on a paid plan.

    Everyone else (free, past_due, unpaid, canceled, ...) is on the free tier. An open override decides.
    """
    eff = effective(ent) if isinstance(ent, Entitlement) else ent
    plan = PLANS.get(eff.plan)
    return bool(eff.active and eff.subscription_status in PAID_STATUSES and plan is not None and plan.paid)


def paid_plan_clause() -> ColumnElement[bool]:
    """has_paid_plan of Stripe's state as SQL, to count paying tenants in one statement (an override grants a
    plan but is not a payment, so it is not counted)."""
    return and_(Entitlement.active.is_(True), Entitlement.subscription_status.in_(PAID_STATUSES),
                Entitlement.plan.in_([key for key, plan in PLANS.items() if plan.paid]))


def has_payment_problem(ent: Entitlement | Effective) -> bool:
    """True while the tenant's last payment failed (past_due, unpaid): its plan waits for a working card."""
    eff = effective(ent) if isinstance(ent, Entitlement) else ent
    return eff.subscription_status in PAYMENT_PROBLEM_STATUSES


def company_allowance(tenant_id: str) -> int:
    """How many companies the tenant may have: the plan's included ones plus add-ons."""
    eff = effective(get_entitlement(tenant_id))
    if not has_paid_plan(eff):
        return FREE.included_companies
    return eff.included_companies + eff.addon_companies


def lock_entitlement(tenant_id: str) -> None:
    """Take the tenant's entitlement row for this transaction (a no-op write that locks on both backends)."""
    result = db.session.execute(update(Entitlement).where(Entitlement.tenant_id == tenant_id)
                                .values(tenant_id=Entitlement.tenant_id))
    if result.rowcount != 1:
        raise no_entitlement(tenant_id)
