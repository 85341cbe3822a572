"""View models for the billing pages and GET /api/billing/status."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app

from webapp import clock
from webapp.billing import notices
from webapp.billing.plans import ADDONS, FREE, PAID_PLANS, PLANS, AddOn, Plan
from webapp.billing.services import get_entitlement, has_paid_plan
from webapp.clock import isoformat
from webapp.errors import ValidationError
from webapp.metering import services as metering


@dataclass
class BillingStatus:
    """Everything the status page and API show about a tenant's billing."""

    tenant_id: str
    plan: Plan
    active: bool
    subscription_status: str
    tx_cap: int
    bulk_approve: bool
    included_companies: int
    addon_companies: int
    current_period_end: datetime | None
    trial_end: datetime | None
    cancel_at_period_end: bool
    has_billing_account: bool
    notices: list[str]
    usage: dict[str, Any]
    free_today: dict[str, Any]
    activating: bool = False

    @property
    def trial_days_left(self) -> int | None:
        """Whole days until the trial ends, while trialing."""
        if self.subscription_status != "trialing" or self.trial_end is None:
            return None
        return max(0, (self.trial_end - clock.now()).days)

    paid: bool = False

    @property
    def on_free_tier(self) -> bool:
        """True when the gate treats the tenant as free (billing.services.has_paid_plan)."""
        return not self.paid

    def as_json(self) -> dict[str, Any]:
        """The GET /api/billing/status body."""
        return {
            "tenant_id": self.tenant_id, "plan": self.plan.key, "active": self.active,
            "subscription_status": self.subscription_status, "tx_cap": self.tx_cap,
            "bulk_approve": self.bulk_approve, "included_companies": self.included_companies,
            "addon_companies": self.addon_companies, "current_period_end": isoformat(self.current_period_end),
            "trial_end": isoformat(self.trial_end), "cancel_at_period_end": self.cancel_at_period_end,
            "notices": self.notices, "usage": self.usage, "free_today": self.free_today,
        }


def billing_status(tenant_id: str, activating: bool = False) -> BillingStatus:
    """Assemble the tenant's billing status from its entitlement, usage and notices."""
    ent = get_entitlement(tenant_id)
    snapshot = metering.usage_snapshot(tenant_id)
    return BillingStatus(
        tenant_id=tenant_id, plan=PLANS.get(ent.plan, FREE), active=ent.active,
        subscription_status=ent.subscription_status, tx_cap=ent.tx_cap, bulk_approve=ent.bulk_approve,
        included_companies=ent.included_companies, addon_companies=ent.addon_companies,
        current_period_end=ent.current_period_end, trial_end=ent.trial_end,
        cancel_at_period_end=ent.cancel_at_period_end, has_billing_account=bool(ent.stripe_customer_id),
        notices=[n.message for n in notices.active(tenant_id)],
        usage={"year_month": snapshot["year_month"], "tx_posted": snapshot["tx_posted"],
               "tx_analyzed": snapshot["tx_analyzed"], "tx_remaining": snapshot["tx_remaining"]},
        free_today=dict(snapshot["free_today"]), activating=activating and not has_paid_plan(ent),
        paid=has_paid_plan(ent))


@dataclass
class PlanPicker:
    """The plan picker: every plan, which one is current, whether a trial is offered."""

    plans: list[Plan]
    addon: AddOn | None
    current: str
    subscribed: bool
    trial_days: int
    free: Plan = field(default=FREE)


def plan_picker(tenant_id: str) -> PlanPicker:
    """The plans to show and the tenant's place among them."""
    ent = get_entitlement(tenant_id)
    subscribed = ent.active or ent.subscription_status in ("past_due", "unpaid")
    trial = current_app.config["TRIAL_DAYS"] if ent.stripe_subscription_id is None else 0
    return PlanPicker(plans=list(PAID_PLANS), addon=next(iter(ADDONS.values()), None),
                      current=ent.plan if ent.active else FREE.key, subscribed=subscribed, trial_days=trial)


def parse_quantity(raw: str) -> int:
    """A form's whole-number quantity field, or ValidationError."""
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError("Extra companies must be a whole number.",
                              {"addon_companies": "must be a whole number"}) from exc
    return value
