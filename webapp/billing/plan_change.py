"""Plan changes, cancellation and resumption from the app, each previewed with Stripe before it is made.

An upgrade of a paying subscription is invoiced at once for the rest of the period
(`always_invoice`); a downgrade leaves a credit for the next invoice (`create_prorations`); in a
trial nothing is prorated. The confirm page shows Stripe's own preview for exactly the change the
confirm button makes (same items, same `proration_date`), so what the customer reads is what Stripe
bills. No database transaction is open while Stripe is asked.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from webapp import clock
from webapp.billing import catalog, stripe_gateway
from webapp.billing.plans import ADDONS, FREE, PLANS, Plan
from webapp.billing.services import get_entitlement, has_payment_problem
from webapp.billing.subscriptions import sync_from_stripe
from webapp.errors import Conflict, NotFound, ValidationError
from webapp.extensions import db
from webapp.models import Company

log = logging.getLogger(__name__)

PREVIEW_VALID_FOR = timedelta(minutes=30)  # a confirm page older than this is previewed again
CHANGEABLE_STATUSES = ("active", "trialing")


@dataclass(frozen=True)
class PreviewLine:
    """One line of Stripe's preview: what it is for and its amount (negative: a credit)."""

    description: str
    amount: int


@dataclass
class ChangePreview:
    """What the confirm page shows for a plan change."""

    current: Plan
    target: Plan
    direction: str            # upgrade | downgrade
    trialing: bool
    charged_now: bool         # True: the amount is charged at once (an upgrade), else on bills_at
    amount_due: int
    currency: str
    bills_at: datetime | None
    proration_date: int
    lines: list[PreviewLine] = field(default_factory=list)
    companies_used: int = 0
    removed_addon_companies: int = 0

    @property
    def companies_over(self) -> int:
        """Companies in use beyond what the new plan includes."""
        return max(0, self.companies_used - self.target.included_companies)


def _plan(key: str) -> Plan:
    plan = PLANS.get(key)
    if plan is None or not plan.paid:
        raise NotFound(f"There is no plan '{key}'.", ids=[key])
    return plan


def _subscription(tenant_id: str) -> tuple[str, str]:
    """The tenant's subscription id and current plan key, if it may change plans now."""
    ent = get_entitlement(tenant_id)
    if has_payment_problem(ent):
        raise Conflict("PAYMENT_PROBLEM", "Your last payment did not go through: update your card first, then "
                       "change your plan.")
    if not ent.stripe_subscription_id or ent.subscription_status not in CHANGEABLE_STATUSES:
        raise Conflict("NO_SUBSCRIPTION", "You have no subscription to change: choose a plan first.")
    return ent.stripe_subscription_id, ent.plan


def _item_changes(sub: dict[str, Any], target: Plan) -> tuple[list[dict[str, Any]], int]:
    """The items update moving `sub` to `target`: its plan item gets the new price; add-ons sold only with
    the old plan are removed. Returns the changes and how many add-on companies go."""
    changes: list[dict[str, Any]] = []
    removed = 0
    plan_item = None
    for item in (sub.get("items") or {}).get("data") or []:
        key = catalog.key_for_price(item.get("price") or {})
        if key in PLANS and plan_item is None:
            plan_item = item
        elif key in ADDONS and ADDONS[key].plan_key != target.key:
            changes.append({"id": item["id"], "deleted": True})
            removed += int(item.get("quantity") or 0) * ADDONS[key].companies_per_unit
    if plan_item is None:
        raise Conflict("NO_SUBSCRIPTION", "Your subscription has no plan we sell; contact support.")
    return [{"id": plan_item["id"], "price": catalog.price_for(target.key)}, *changes], removed


def _details(sub: dict[str, Any], target: Plan, current: Plan, when: int) -> tuple[dict[str, Any], int, str]:
    items, removed = _item_changes(sub, target)
    upgrade = (target.price_cents or 0) > (current.price_cents or 0)
    behaviour = "always_invoice" if upgrade and sub.get("status") == "active" else "create_prorations"
    return ({"items": items, "proration_behavior": behaviour, "proration_date": when}, removed,
            "upgrade" if upgrade else "downgrade")


def _companies_used(tenant_id: str) -> int:
    active = (Company.tenant_id == tenant_id, Company.archived_at.is_(None))  # archived ones free their place
    return db.session.scalar(select(func.count()).select_from(Company).where(*active)) or 0


def preview_change(tenant_id: str, plan_key: str) -> ChangePreview:
    """Ask Stripe what moving to `plan_key` costs now, for the confirm page."""
    target = _plan(plan_key)
    sub_id, current_key = _subscription(tenant_id)
    if current_key == target.key:
        raise Conflict("SAME_PLAN", f"You are already on {target.name}.")
    used = _companies_used(tenant_id)
    db.session.commit()  # no transaction stays open while Stripe answers
    gw = stripe_gateway.gateway()
    sub = gw.retrieve_subscription(sub_id)
    if sub is None:
        raise Conflict("NO_SUBSCRIPTION", "Stripe no longer has your subscription: choose a plan again.")
    when = int(clock.now().timestamp())
    details, removed, direction = _details(sub, target, PLANS[current_key], when)
    preview = gw.preview_invoice(sub_id, details) or {}
    lines = [PreviewLine(str(line.get("description") or ""), int(line.get("amount") or 0))
             for line in (preview.get("lines") or {}).get("data") or []]
    bills = preview.get("next_payment_attempt") or preview.get("period_end")
    return ChangePreview(
        current=PLANS[current_key], target=target, direction=direction, trialing=sub.get("status") == "trialing",
        charged_now=details["proration_behavior"] == "always_invoice", amount_due=int(preview.get("amount_due") or 0),
        currency=str(preview.get("currency") or target.currency), proration_date=when, lines=lines,
        bills_at=datetime.fromtimestamp(bills, UTC) if isinstance(bills, int) else None,
        companies_used=used, removed_addon_companies=removed)


def parse_proration_date(raw: str) -> int:
    """The confirm form's proration_date: a recent Unix time, or ValidationError (preview again)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise ValidationError("This confirmation is not valid; please review the change again.",
                              {"proration_date": "must be the time of the preview"})
    when = datetime.fromtimestamp(int(raw), UTC)
    age = clock.now() - when
    if age < timedelta(0) or age > PREVIEW_VALID_FOR:
        raise ValidationError("This preview has expired; here is a fresh one.",
                              {"proration_date": "expired"})
    return int(raw)


def change_plan(tenant_id: str, plan_key: str, proration_date: int, actor: str) -> Plan:
    """Move the subscription to `plan_key` exactly as previewed at `proration_date`, then apply it."""
    target = _plan(plan_key)
    sub_id, current_key = _subscription(tenant_id)
    if current_key == target.key:
        return target  # a repeated confirm: nothing more to do
    db.session.commit()
    gw = stripe_gateway.gateway()
    sub = gw.retrieve_subscription(sub_id)
    if sub is None:
        raise Conflict("NO_SUBSCRIPTION", "Stripe no longer has your subscription: choose a plan again.")
    details, _, direction = _details(sub, target, PLANS[current_key], proration_date)
    gw.update_subscription(sub_id, {**details, "payment_behavior": "allow_incomplete"},
                           idempotency_key=f"plan-{sub_id}-{target.key}-{proration_date}")
    sync_from_stripe(sub_id, actor=actor, hints={"tenant_id": tenant_id})
    db.session.commit()
    log.info("billing.plan_changed", extra={"tenant_id": tenant_id, "from": current_key, "to": target.key,
                                            "direction": direction})
    return target


@dataclass(frozen=True)
class CancelPreview:
    """What canceling or resuming means: the plan, when it ends or renews, and what renewing costs."""

    plan: Plan
    period_end: datetime | None
    renewal_amount: int | None
    currency: str
    companies_used: int
    free: Plan = FREE


def preview_cancel(tenant_id: str, resume: bool) -> CancelPreview:
    """For the cancel/resume confirm pages: the period end and (resuming) Stripe's next invoice."""
    ent = get_entitlement(tenant_id)
    if not ent.stripe_subscription_id or ent.subscription_status not in CHANGEABLE_STATUSES + ("past_due", "unpaid"):
        raise Conflict("NO_SUBSCRIPTION", "You have no subscription to cancel.")
    if ent.cancel_at_period_end != resume:
        raise Conflict("ALREADY_DONE", "Your plan is already set to end." if not resume
                       else "Your plan is not set to end: there is nothing to resume.")
    plan, period_end, sub_id = PLANS[ent.plan], ent.current_period_end, ent.stripe_subscription_id
    used = _companies_used(tenant_id)
    amount = None
    if resume:
        db.session.commit()
        preview = stripe_gateway.gateway().preview_invoice(sub_id, {"cancel_at_period_end": False})
        amount = int(preview.get("amount_due") or 0) if preview else None
    return CancelPreview(plan, period_end, amount, plan.currency, used)


def set_cancel_at_period_end(tenant_id: str, cancel: bool, actor: str) -> None:
    """Cancel at the end of the period (or undo it) in Stripe, then apply the subscription."""
    ent = get_entitlement(tenant_id)
    sub_id = ent.stripe_subscription_id
    if not sub_id or ent.subscription_status in ("canceled", "incomplete_expired", "none"):
        raise Conflict("NO_SUBSCRIPTION", "You have no subscription to change.")
    if ent.cancel_at_period_end == cancel:
        return  # a repeated confirm
    db.session.commit()
    stripe_gateway.gateway().update_subscription(
        sub_id, {"cancel_at_period_end": cancel},
        idempotency_key=f"{'cancel' if cancel else 'resume'}-{sub_id}-{int(clock.now().timestamp()) // 60}")
    sync_from_stripe(sub_id, actor=actor, hints={"tenant_id": tenant_id})
    db.session.commit()
    log.info("billing.cancel_at_period_end", extra={"tenant_id": tenant_id, "cancel": cancel})

