"""Turning a Stripe subscription into the tenant's entitlement: the one mapping every path uses."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from webapp.billing import audit, catalog
from webapp.billing.plans import ADDONS, FREE, PLANS
from webapp.extensions import db
from webapp.models import Entitlement

log = logging.getLogger(__name__)

ACTIVE_STATUSES = ("active", "trialing")
LAPSED_STATUSES = ("past_due", "unpaid", "incomplete", "paused")
ENDED_STATUSES = ("canceled", "incomplete_expired")


@dataclass
class SyncResult:
    """What applying a subscription did: the tenant, whether it was skipped as stale, and the changes."""

    tenant_id: str | None
    changes: dict[str, tuple[Any, Any]]
    stale: bool = False


def ts(value: int | None) -> datetime | None:
    """A Stripe unix timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC) if value else None


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def find_entitlement(tenant_id: str | None = None, customer_id: str | None = None,
                     subscription_id: str | None = None) -> Entitlement | None:
    """The entitlement for a tenant id, else by Stripe subscription, else by Stripe customer."""
    if tenant_id:
        ent = db.session.get(Entitlement, tenant_id)
        if ent is not None:
            return ent
    for column, value in ((Entitlement.stripe_subscription_id, subscription_id),
                          (Entitlement.stripe_customer_id, customer_id)):
        if value:
            ent = db.session.scalar(select(Entitlement).where(column == value))
            if ent is not None:
                return ent
    return None


def entitlement_for_subscription(sub: dict[str, Any]) -> Entitlement | None:
    """The tenant a subscription belongs to (metadata, then stored ids)."""
    return find_entitlement((sub.get("metadata") or {}).get("tenant_id"), _id(sub.get("customer")),
                            sub.get("id"))


def _items(sub: dict[str, Any]) -> list[dict[str, Any]]:
    items = sub.get("items") or {}
    return list(items.get("data") or []) if isinstance(items, dict) else []


def apply_subscription(sub: dict[str, Any], *, actor: str, event_id: str | None = None,
                       event_created: datetime | None = None, fresh: bool = True) -> SyncResult:
    """Set the tenant's entitlement from a subscription (the caller commits).

    `fresh` means the subscription was just retrieved from Stripe, so it is the truth whatever the
    event's age; a payload copy (`fresh=False`) older than the newest applied event is skipped.
    """
    ent = entitlement_for_subscription(sub)
    if ent is None:
        log.warning("billing.subscription_without_tenant", extra={"subscription_id": sub.get("id")})
        return SyncResult(None, {})
    if not fresh and event_created and ent.last_event_created and event_created < ent.last_event_created:
        log.info("billing.stale_event_skipped", extra={"tenant_id": ent.tenant_id, "event_id": event_id})
        return SyncResult(ent.tenant_id, {}, stale=True)
    status = str(sub.get("status") or "incomplete")
    if (ent.stripe_subscription_id and ent.stripe_subscription_id != sub.get("id")
            and status in ENDED_STATUSES and ent.subscription_status not in ENDED_STATUSES + ("none",)):
        # An old subscription ending must not take away the one the tenant has now.
        return SyncResult(ent.tenant_id, {})
    before = audit.snapshot(ent)
    _set_from_subscription(ent, sub, status)
    if event_created and (ent.last_event_created is None or event_created > ent.last_event_created):
        ent.last_event_created = event_created
    changes = audit.record(ent, before, "sync_subscription", actor, event_id)
    if changes:
        log.info("billing.entitlement_changed", extra={"tenant_id": ent.tenant_id, "event_id": event_id,
                                                       "fields": sorted(changes)})
    return SyncResult(ent.tenant_id, changes)


def _set_from_subscription(ent: Entitlement, sub: dict[str, Any], status: str) -> None:
    plan_key, addon_qty, period_end = None, 0, None
    for item in _items(sub):
        key = catalog.key_for_price(item.get("price") or {})
        if key in PLANS:
            plan_key = key
        elif key in ADDONS:
            addon_qty += int(item.get("quantity") or 0) * ADDONS[key].companies_per_unit
        period_end = period_end or ts(item.get("current_period_end"))
    customer = _id(sub.get("customer"))
    ent.stripe_customer_id = customer or ent.stripe_customer_id
    ent.stripe_subscription_id = sub.get("id")
    ent.subscription_status = status
    ent.current_period_end = period_end or ts(sub.get("current_period_end"))
    ent.trial_end = ts(sub.get("trial_end"))
    ent.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    if status in ENDED_STATUSES or plan_key is None:
        if plan_key is None and status not in ENDED_STATUSES:
            log.error("billing.subscription_price_unknown", extra={"subscription_id": sub.get("id")})
        set_plan(ent, FREE.key, addon_companies=0)
        ent.active = False
        ent.cancel_at_period_end = False
        ent.subscription_status = "canceled" if status in ENDED_STATUSES else status
        return
    set_plan(ent, plan_key, addon_companies=addon_qty)
    ent.active = status in ACTIVE_STATUSES


def set_plan(ent: Entitlement, plan_key: str, addon_companies: int) -> None:
    """Copy a plan's limits from the plan table onto the entitlement."""
    plan = PLANS[plan_key]
    ent.plan = plan.key
    ent.tx_cap = plan.tx_cap
    ent.bulk_approve = plan.bulk_approve
    ent.included_companies = plan.included_companies
    ent.addon_companies = addon_companies
