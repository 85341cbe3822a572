"""View models for the billing pages and GET /api/billing/status."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app

from webapp import clock
from webapp.billing import notices
from webapp.billing.plans import ADDONS, FREE, FREE_DAILY_ANALYZE_LIMIT, PAID_PLANS, PLANS, AddOn, Plan, next_plan_up
from webapp.billing.services import (PAYMENT_PROBLEM_STATUSES, Effective, effective, get_entitlement, has_paid_plan,
                                     has_payment_problem)
from webapp.clock import isoformat
from webapp.errors import ValidationError
from webapp.metering import services as metering
from webapp.models import Entitlement


NUDGE_AT_PCT = 80  # the header and status page nudge towards a bigger plan from this share of the cap
ACTIVATION_TIMEOUT_S = 60  # back from Checkout, the status page polls this long for the webhook


@dataclass(frozen=True)
class UsageMeter:
    """One capped counter, ready for a <meter>: what is counted, how much of how much, when it resets."""

    label: str
    used: int
    limit: int
    resets_at: datetime | None = None

    @property
    def percent(self) -> int:
        """Share of the limit used, 0-100 (100 when there is no allowance at all)."""
        return min(100, self.used * 100 // self.limit) if self.limit > 0 else 100

    @property
    def nudge(self) -> bool:
        """True from NUDGE_AT_PCT of the limit on."""
        return self.percent >= NUDGE_AT_PCT

    @property
    def full(self) -> bool:
        """True when nothing is left."""
        return self.used >= self.limit


@dataclass(frozen=True)
class HeaderMeter:
    """The usage meter in the page header, and the nudge shown from 80 % of the cap."""

    plan_name: str
    meter: UsageMeter
    nudge_text: str | None
    payment_problem: bool = False


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _meters(snapshot: metering.UsageSnapshot, paid: bool) -> list[UsageMeter]:
    if paid:
        return [UsageMeter("Posted this month", snapshot["tx_posted"], snapshot["tx_cap"],
                           _parse_time(snapshot["resets_at"]))]
    today = snapshot["free_today"]
    return [UsageMeter("Free analyses today", today["tx_analyzed"], today["limit"] or FREE_DAILY_ANALYZE_LIMIT,
                       _parse_time(today["resets_at"]))]


def header_meter(tenant_id: str) -> HeaderMeter:
    """The header's meter: postings this month on a paid plan, free analyses today otherwise."""
    ent = effective(get_entitlement(tenant_id))
    paid = has_paid_plan(ent)
    meter = _meters(metering.usage_snapshot(tenant_id), paid)[0]
    problem = has_payment_problem(ent)
    text = None
    if meter.nudge:
        text = nudge_text(meter, ent.plan if paid else FREE.key, PLANS.get(ent.plan) if problem else None)
    return HeaderMeter(PLANS.get(ent.plan, FREE).name if paid else FREE.name, meter, text, problem)


def nudge_text(meter: UsageMeter, plan_key: str, paused: Plan | None = None) -> str:
    """What the 80 % nudge says: how much is used and what the next plan up gives (or, when a failed
    payment has paused the `paused` plan, that updating the card brings it back)."""
    bigger = next_plan_up(plan_key)
    if paused is not None or plan_key == FREE.key:
        return (f"You have used {meter.used} of today's {meter.limit} free analyses ({meter.percent} %). "
                + (f"Your {paused.name} plan is paused until your card is updated." if paused is not None
                   else "Paid plans analyse without a daily limit."))
    used = (f"You have posted {meter.used:,} of the {meter.limit:,} transactions your plan allows this month "
            f"({meter.percent} %).")
    return f"{used} {bigger.name} posts {bigger.tx_cap:,} a month." if bigger is not None else used


@dataclass(frozen=True)
class OverrideView:
    """A manual override in force: what it grants, until when, and what Stripe says meanwhile."""

    plan: Plan
    subscription_status: str
    until: datetime | None
    ends_on_paid_invoice: bool
    stripe_plan: str
    stripe_status: str

    @property
    def disagrees_with_stripe(self) -> bool:
        """True when Stripe's recorded plan or status differs from the override's."""
        return (self.plan.key, self.subscription_status) != (self.stripe_plan, self.stripe_status)

    def as_json(self) -> dict[str, Any]:
        """The `override` object of GET /api/billing/status."""
        return {"plan": self.plan.key, "subscription_status": self.subscription_status,
                "until": isoformat(self.until), "ends_on_paid_invoice": self.ends_on_paid_invoice,
                "stripe": {"plan": self.stripe_plan, "subscription_status": self.stripe_status}}


def override_view(ent: Entitlement, eff: Effective) -> OverrideView | None:
    """The override part of the status (None when Stripe's state applies)."""
    ovr = eff.override
    if ovr is None:
        return None
    return OverrideView(PLANS[ovr.plan], ovr.subscription_status, ovr.until, ovr.ends_on_paid_invoice,
                        ent.plan, ent.subscription_status)


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
    activation_timed_out: bool = False
    meters: list[UsageMeter] = field(default_factory=list)
    override: OverrideView | None = None

    @property
    def payment_problem(self) -> bool:
        """True while the last payment failed (past_due or unpaid)."""
        return self.subscription_status in PAYMENT_PROBLEM_STATUSES

    @property
    def badge(self) -> tuple[str, str]:
        """The status badge: its text and its tone (ok, warn, bad, muted)."""
        if self.payment_problem:
            return "Payment failed", "bad"
        if self.active and self.cancel_at_period_end:
            return f"Cancels {self.current_period_end:%d %b %Y}" if self.current_period_end else "Canceling", "warn"
        if self.active and self.subscription_status == "trialing":
            days = self.trial_days_left
            return f"Trial · {days} day{'' if days == 1 else 's'} left", "ok"
        if self.active:
            return "Active", "ok"
        if self.subscription_status == "canceled":
            return "Canceled", "muted"
        return "No subscription", "muted"

    @property
    def allowed_companies(self) -> int:
        """Companies the tenant may have now (the free tier's one unless paying)."""
        return self.included_companies + self.addon_companies if self.paid else FREE.included_companies

    @property
    def trial_days_left(self) -> int | None:
        """Whole days until the trial ends, while trialing."""
        if self.subscription_status != "trialing" or self.trial_end is None:
            return None
        seconds = (self.trial_end - clock.now()).total_seconds()
        return max(0, int(-(-seconds // 86400)))  # a trial ending in 13.5 days has 14 days left

    paid: bool = False

    @property
    def on_free_tier(self) -> bool:
        """True when the gate treats the tenant as free (billing.services.has_paid_plan)."""
        return not self.paid

    def as_json(self) -> dict[str, Any]:
        """The GET /api/billing/status body."""
        return {
            "tenant_id": self.tenant_id, "plan": self.plan.key,
            "effective_plan": self.plan.key if self.paid else FREE.key, "active": self.active,
            "subscription_status": self.subscription_status, "tx_cap": self.tx_cap,
            "bulk_approve": self.bulk_approve, "included_companies": self.included_companies,
            "addon_companies": self.addon_companies, "current_period_end": isoformat(self.current_period_end),
            "trial_end": isoformat(self.trial_end), "cancel_at_period_end": self.cancel_at_period_end,
            "notices": self.notices, "usage": self.usage, "free_today": self.free_today,
            "override": self.override.as_json() if self.override else None,
        }


def billing_status(tenant_id: str, activating: bool = False,
                   activating_since: datetime | None = None) -> BillingStatus:
    """Assemble the tenant's billing status from its entitlement, usage and notices.

    `activating` (back from Checkout) holds until the plan is paid; after ACTIVATION_TIMEOUT_S
    from `activating_since` the page stops polling and says what to do next.
    """
    ent = get_entitlement(tenant_id)
    eff = effective(ent)
    snapshot = metering.usage_snapshot(tenant_id)
    paid = has_paid_plan(eff)
    waiting = activating and not paid
    timed_out = waiting and activating_since is not None and (
        clock.now() - activating_since).total_seconds() >= ACTIVATION_TIMEOUT_S
    return BillingStatus(
        tenant_id=tenant_id, plan=PLANS.get(eff.plan, FREE), active=eff.active,
        subscription_status=eff.subscription_status, tx_cap=eff.tx_cap, bulk_approve=eff.bulk_approve,
        included_companies=eff.included_companies, addon_companies=eff.addon_companies,
        current_period_end=ent.current_period_end, trial_end=ent.trial_end,
        cancel_at_period_end=ent.cancel_at_period_end, has_billing_account=bool(ent.stripe_customer_id),
        notices=[n.message for n in notices.active(tenant_id)],
        usage={"year_month": snapshot["year_month"], "tx_posted": snapshot["tx_posted"],
               "tx_analyzed": snapshot["tx_analyzed"], "tx_remaining": snapshot["tx_remaining"]},
        free_today=dict(snapshot["free_today"]), activating=waiting and not timed_out,
        activation_timed_out=timed_out, paid=paid, meters=_meters(snapshot, paid), override=override_view(ent, eff))


@dataclass
class PlanPicker:
    """The plan picker: every plan, which one is current, whether a trial is offered."""

    plans: list[Plan]
    addon: AddOn | None
    current: str
    subscribed: bool
    trial_days: int
    free: Plan = field(default=FREE)
    payment_problem: bool = False
    subscribed_plan: Plan | None = None
    moves: dict[str, str] = field(default_factory=dict)  # plan key → "Upgrade" / "Downgrade" for a subscriber

    @property
    def can_change_in_app(self) -> bool:
        """A subscriber whose payment works changes plans here, with a preview."""
        return self.subscribed and not self.payment_problem and self.subscribed_plan is not None


def plan_picker(tenant_id: str) -> PlanPicker:
    """The plans to show and the tenant's place among them."""
    ent = get_entitlement(tenant_id)
    trial = current_app.config["TRIAL_DAYS"] if ent.stripe_subscription_id is None else 0
    ent = effective(ent)
    problem = has_payment_problem(ent)
    subscribed = ent.active or problem
    current = PLANS.get(ent.plan)
    price = (current.price_cents or 0) if current else 0
    moves = {p.key: "Upgrade" if (p.price_cents or 0) > price else "Downgrade" for p in PAID_PLANS if p.key != ent.plan}
    return PlanPicker(plans=list(PAID_PLANS), addon=next(iter(ADDONS.values()), None),
                      current=ent.plan if ent.active else FREE.key, subscribed=subscribed, trial_days=trial,
                      payment_problem=problem,
                      subscribed_plan=PLANS.get(ent.plan) if subscribed else None, moves=moves)


def parse_quantity(raw: str) -> int:
    """A form's whole-number quantity field, or ValidationError."""
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError("Extra companies must be a whole number.",
                              {"addon_companies": "must be a whole number"}) from exc
    return value
