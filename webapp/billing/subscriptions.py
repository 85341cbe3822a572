"""Turning a Stripe subscription into the tenant's entitlement: the one mapping every path uses."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from webapp import clock
from webapp.billing import audit, catalog, copies, notices, services, stripe_gateway
from webapp.billing.plans import ADDONS, FREE, PLANS
from webapp.errors import EventFailure
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
    # When the Stripe read behind it began (None if Stripe was not read): a fresh read also covers the
    # tenant's events that wait for one and were stored before it began (webapp/billing/sync_lease.py).
    read_at: datetime | None = None


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


class UnknownSubscriptionPrice(EventFailure):
    """A live subscription whose price is not one of our plans: keep the event failed until it is mapped."""

    def __init__(self, subscription_id: str | None, prices: list[str | None]) -> None:
        super().__init__("UNKNOWN_PRICE", f"subscription {subscription_id} has no price of a known plan: {prices}",
                         "map the price (STRIPE_PRICE_*, config/stripe_products.json or price metadata plan=...), "
                         "then `flask billing replay --failed`", subscription_id=subscription_id)


class NoTenantForSubscription(EventFailure):
    """A subscription whose customer no tenant is linked to: keep the event failed until one is."""

    def __init__(self, subscription_id: str | None, customer_id: str | None) -> None:
        super().__init__("NO_TENANT", f"no tenant for customer {customer_id} (subscription {subscription_id})",
                         "find the tenant (`flask billing show EMAIL`), set metadata.tenant_id on the Stripe "
                         "customer or subscription, then `flask billing replay --failed`",
                         subscription_id=subscription_id, customer_id=customer_id)


def _is_live(status: str) -> bool:
    return status not in ENDED_STATUSES


def sync_from_stripe(sub_id: str | None, *, actor: str, hints: dict[str, str | None] | None = None,
                     payload_sub: dict[str, Any] | None = None, event_id: str | None = None,
                     event_created: datetime | None = None, link_customer: bool = False) -> SyncResult:
    """Read the subscription from Stripe, then lock the tenant's entitlement and apply it (the caller commits).

    Stripe is read first, with no lock and nothing written, so a slow Stripe never holds a database
    lock. Then, in the caller's short transaction: lock the entitlement, compare (a read that began
    before the one applied last is stale and skipped: every later change brings a later event whose
    read sees it), and write. The payload copy is used only when Stripe no longer has the object.
    `link_customer` records the hinted customer on an entitlement that has none (checkout completed).
    """
    hints = hints or {}
    read_started = clock.now()
    fresh = stripe_gateway.gateway().retrieve_subscription(sub_id) if sub_id else None
    sub = fresh if fresh is not None else payload_sub
    # The subscription ended: the customer's other live one (if any) is adopted, so read it now too.
    other_live = (live_subscription_of(_id(fresh.get("customer")), other_than=fresh.get("id"))
                  if fresh is not None and not _is_live(str(fresh.get("status"))) else None)
    named = (sub.get("metadata") or {}).get("tenant_id") if sub is not None else None
    ent = _lock_and_load(named) if isinstance(named, str) and named else None
    if ent is None:  # no tenant named, or none by that id: found by the stored Stripe ids, then locked
        ent = (entitlement_for_subscription(sub) if sub is not None else None) or find_entitlement(
            hints.get("tenant_id"), hints.get("customer_id"), sub_id)
        if ent is None:
            if sub is not None:  # a known failure: the event stays failed (NO_TENANT) until a tenant is linked
                raise NoTenantForSubscription(sub.get("id"), _id(sub.get("customer")))
            return SyncResult(None, {})
        services.lock_entitlement(ent.tenant_id)
        db.session.refresh(ent)  # the row as the lock holds it, not as read before the lock
    if link_customer and hints.get("customer_id") and ent.stripe_customer_id is None:
        ent.stripe_customer_id = hints["customer_id"]
    if sub is None:
        return SyncResult(ent.tenant_id, {})
    read_at = read_started if fresh is not None else None
    if fresh is not None and ent.stripe_read_at is not None and read_started < ent.stripe_read_at:
        log.info("billing.older_read_skipped", extra={"tenant_id": ent.tenant_id, "subscription_id": sub.get("id")})
        return SyncResult(ent.tenant_id, {}, stale=True, read_at=read_at)
    result = apply_subscription(sub, actor=actor, event_id=event_id, event_created=event_created,
                                fresh=fresh is not None, other_live=other_live, ent=ent)
    if fresh is not None:
        ent.stripe_read_at = read_started
    result.read_at = read_at
    return result


def _lock_and_load(tenant_id: str) -> Entitlement | None:
    """Lock the tenant's entitlement for this transaction and load it as the lock holds it, in one
    statement (the no-op UPDATE of services.lock_entitlement, RETURNING the row); None if there is none."""
    return db.session.scalars(
        update(Entitlement).where(Entitlement.tenant_id == tenant_id).values(tenant_id=Entitlement.tenant_id)
        .returning(Entitlement),
        execution_options={"synchronize_session": False, "populate_existing": True}).one_or_none()


def live_subscription_of(customer_id: str | None, other_than: str | None = None) -> dict[str, Any] | None:
    """The customer's newest subscription that has not ended (other than the given one), if any."""
    if not customer_id:
        return None
    subs = [s for s in stripe_gateway.gateway().list_subscriptions(customer_id)
            if s.get("id") != other_than and _is_live(str(s.get("status")))]
    return max(subs, key=lambda s: s.get("created") or 0) if subs else None


def apply_subscription(sub: dict[str, Any], *, actor: str, event_id: str | None = None,
                       event_created: datetime | None = None, fresh: bool = True,
                       other_live: dict[str, Any] | None = None, ent: Entitlement | None = None) -> SyncResult:
    """Set the tenant's entitlement from a subscription (the caller commits); no Stripe call.

    `fresh` means the subscription was just retrieved from Stripe, so it is the truth whatever the
    event's age; a payload copy (`fresh=False`) older than the newest applied event is skipped.
    `other_live` is the customer's other live subscription (read before the lock), adopted when the
    linked one ended; `ent` the entitlement already locked for it.
    """
    ent = ent or entitlement_for_subscription(sub)
    if ent is None:
        raise NoTenantForSubscription(sub.get("id"), _id(sub.get("customer")))
    if not fresh and event_created and ent.last_event_created and event_created < ent.last_event_created:
        log.info("billing.stale_event_skipped", extra={"tenant_id": ent.tenant_id, "subscription_id": sub.get("id")})
        return SyncResult(ent.tenant_id, {}, stale=True)
    status = str(sub.get("status") or "incomplete")
    linked = ent.stripe_subscription_id
    if linked and linked != sub.get("id") and _is_live(ent.subscription_status) and ent.subscription_status != "none":
        if not _is_live(status):
            return SyncResult(ent.tenant_id, {})  # an old subscription ending never takes away the current one
        log.error("billing.second_live_subscription", extra={"tenant_id": ent.tenant_id, "kept": linked,
                                                            "ignored": sub.get("id")})
        return SyncResult(ent.tenant_id, {})  # two live subscriptions: keep the linked one; ops must act
    if linked == sub.get("id") and not _is_live(status):
        other = other_live if fresh else None
        if other is not None:  # the linked one ended but the customer has another live one: adopt it
            log.warning("billing.adopted_live_subscription", extra={"tenant_id": ent.tenant_id,
                                                                   "subscription_id": other.get("id")})
            sub, status = other, str(other.get("status"))
    before = audit.snapshot(ent)
    _set_from_subscription(ent, sub, status)
    if event_created and (ent.last_event_created is None or event_created > ent.last_event_created):
        ent.last_event_created = event_created
    notices.resolve(ent.tenant_id, status)
    copies.record_card(ent.tenant_id, sub.get("default_payment_method"))
    copies.mark_preview_stale(ent.tenant_id)
    changes = audit.record(ent, before, "sync_subscription", actor, event_id)
    if changes:
        log.info("billing.entitlement_changed", extra={"tenant_id": ent.tenant_id, "fields": sorted(changes)})
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
    if plan_key is None and _is_live(status):
        raise UnknownSubscriptionPrice(sub.get("id"), [(item.get("price") or {}).get("id") for item in _items(sub)])
    customer = _id(sub.get("customer"))
    ent.stripe_customer_id = customer or ent.stripe_customer_id
    ent.stripe_subscription_id = sub.get("id")
    ent.subscription_status = status
    ent.current_period_end = period_end or ts(sub.get("current_period_end"))
    ent.trial_end = ts(sub.get("trial_end"))
    ent.cancel_at_period_end = bool(sub.get("cancel_at_period_end") or sub.get("cancel_at"))
    if not _is_live(status) or plan_key is None:
        set_plan(ent, FREE.key, addon_companies=0)
        ent.active = False
        ent.cancel_at_period_end = False
        ent.subscription_status = "canceled"
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
