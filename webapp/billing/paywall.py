"""The paywall modal's view model: what a 402/429 tells the person, and which way out it offers.

Built in Python from the PaywallError the gate raised (and the tenant's subscription), so the
template only formats: a title, a meter, when the limit resets, and the plans that would help.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import request
from flask_login import current_user

from webapp.billing import links
from webapp.billing.partial import PartialRetry, partial_of
from webapp.billing.plans import ADDONS, PAID_PLANS, PLANS, AddOn, Plan, next_plan_up
from webapp.billing.status import UsageMeter, plan_picker
from webapp.errors import PaywallError

OFFER_TITLES = {
    "FREE_CAP_EXCEEDED": "Paid plans analyse without a daily limit",
    "MONTHLY_CAP_EXCEEDED": "The next plan up",
    "BULK_APPROVE_NOT_INCLUDED": "Plans with bulk approve",
    "COMPANY_LIMIT_REACHED": "Plans with more companies",
    "SUBSCRIPTION_REQUIRED": "Plans that post to the ledger",
}
TITLES = {
    "FREE_CAP_EXCEEDED": "Today's free analyses are used up",
    "MONTHLY_CAP_EXCEEDED": "This month's postings are used up",
    "BULK_APPROVE_NOT_INCLUDED": "Bulk approve is not in your plan",
    "COMPANY_LIMIT_REACHED": "Your plan's companies are all in use",
    "SUBSCRIPTION_REQUIRED": "Posting to the ledger needs a paid plan",
    "PAYMENT_REQUIRED": "Your last payment did not go through",
}
# What the free tier stopped, said after "you are on the free tier" for a tenant whose payment failed.
PAUSED_REASONS = {
    "FREE_CAP_EXCEEDED": ", whose daily analyses are used up",
    "COMPANY_LIMIT_REACHED": ", which includes one company",
    "BULK_APPROVE_NOT_INCLUDED": ", which commits one entry at a time",
}
LEFT_TITLES = {
    "FREE_CAP_EXCEEDED": "Only {n} free analyses left today",
    "MONTHLY_CAP_EXCEEDED": "Only {n} postings left this month",
}


@dataclass(frozen=True)
class PlanOffer:
    """A plan the modal suggests, with the lines that matter for this paywall."""

    key: str
    name: str
    price_cents: int
    highlights: list[str]


@dataclass(frozen=True)
class PaywallView:
    """Everything the paywall fragment shows; `offer_via` says how offers are bought: checkout (no
    subscription yet), change (a subscriber's plan change here, previewed first) or portal."""

    code: str
    status: int
    title: str
    message: str
    meter: UsageMeter | None = None
    resets_at: datetime | None = None
    resets_in: str | None = None
    offers: list[PlanOffer] = field(default_factory=list)
    offer_via: str = "checkout"
    portal_label: str | None = None
    trial_days: int = 0
    addon: AddOn | None = None
    offers_title: str = "Plans that include it"
    payment_problem: bool = False
    return_to: str | None = None  # the page the paywall interrupted, to come back to after Checkout/Portal
    partial: PartialRetry | None = None

    @property
    def title_id(self) -> str:
        """The id of the dialog's heading (aria-labelledby)."""
        return "paywall-title"


def describe_wait(seconds: int | None) -> str | None:
    """A Retry-After in words: '3 h 12 min', '12 min', '45 s'."""
    if seconds is None:
        return None
    if seconds < 60:
        return f"{max(0, seconds)} s"
    hours, minutes = divmod(-(-seconds // 60), 60)  # whole minutes, rounded up: never promise too early
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def offer(plan: Plan) -> PlanOffer:
    """A plan as the modal lists it."""
    assert plan.price_cents is not None
    return PlanOffer(plan.key, plan.name, plan.price_cents, [
        f"{plan.tx_cap:,} postings a month, unlimited analyses",
        "Bulk approve: commit many entries at once" if plan.bulk_approve else "One entry per commit",
        f"{plan.included_companies} compan{'y' if plan.included_companies == 1 else 'ies'} included",
    ])


def _plans(keys: object) -> list[Plan]:
    wanted = keys if isinstance(keys, list) else []
    return [p for p in PAID_PLANS if p.key in wanted]


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def suggested_plans(err: PaywallError) -> list[Plan]:
    """The plans that lift this limit: the next plan up for the monthly cap, those with the feature otherwise."""
    details = err.details
    if err.code == "MONTHLY_CAP_EXCEEDED":
        bigger = next_plan_up(str(details.get("plan", "")))
        return [bigger] if bigger is not None else []
    if err.code == "BULK_APPROVE_NOT_INCLUDED":
        return _plans(details.get("plans_with_bulk"))
    if err.code == "COMPANY_LIMIT_REACHED":
        return _plans(details.get("plans_with_more"))
    if err.code in ("FREE_CAP_EXCEEDED", "SUBSCRIPTION_REQUIRED"):
        return list(PAID_PLANS)
    return []


def _meter(err: PaywallError) -> UsageMeter | None:
    details = err.details
    if "limit" not in details or "used" not in details or err.code == "BULK_APPROVE_NOT_INCLUDED":
        return None
    label = {"FREE_CAP_EXCEEDED": "Free analyses today", "MONTHLY_CAP_EXCEEDED": "Posted this month",
             "COMPANY_LIMIT_REACHED": "Companies"}.get(err.code, "Used")
    return UsageMeter(label, _int(details["used"]), _int(details["limit"]), _time(details.get("resets_at")))


def _title(err: PaywallError) -> str:
    """The modal's heading: 'used up' only when nothing is left; otherwise how much is left."""
    remaining, requested = err.details.get("remaining"), _int(err.details.get("requested"))
    limit = _int(err.details.get("limit"))
    if err.code == "FREE_CAP_EXCEEDED" and requested > limit:
        return f"The free plan analyses at most {limit} a day"
    if err.code in LEFT_TITLES and isinstance(remaining, int) and remaining > 0:
        return LEFT_TITLES[err.code].format(n=remaining)
    return TITLES.get(err.code, "Upgrade needed")


def _interrupted_page() -> str | None:
    """Where the person was when the paywall opened: htmx's current page, else this page if it was a GET."""
    current = links.path_of(request.headers.get("HX-Current-URL"), request.host)
    if current is None and request.method == "GET" and not request.path.startswith("/api/"):
        current = links.return_path(request.full_path.rstrip("?"))
    return current


def paywall_view(err: PaywallError) -> PaywallView:
    """Turn the gate's error into the modal: title, meter, reset time, and the way to a plan that allows it.

    A tenant whose payment failed (past_due, unpaid) is on the free tier only until the card works, so
    every paywall it meets points to updating the card rather than to buying another plan.
    """
    subscribed, trial_days, payment_problem, subscribed_plan, in_app = False, 0, False, None, False
    if current_user.is_authenticated:
        picker = plan_picker(current_user.tenant_id)
        subscribed, trial_days = picker.subscribed, picker.trial_days
        payment_problem, subscribed_plan = picker.payment_problem, picker.subscribed_plan
        in_app = picker.can_change_in_app
    meter = _meter(err)
    portal_label = None
    if err.code == "PAYMENT_REQUIRED" or payment_problem:
        portal_label = "Update card"
    elif subscribed and not in_app:
        portal_label = "Change plan in the billing portal"
    addon = None
    if err.code == "COMPANY_LIMIT_REACHED" and err.details.get("addon_available"):
        addon = next((a for a in ADDONS.values() if a.plan_key == err.details.get("plan")), None)
        portal_label = "Add companies in the billing portal"
    plan = PLANS.get(str(err.details.get("plan", "")))
    message = err.message
    if err.code == "PAYMENT_REQUIRED" and plan is not None:
        message = (f"Update your card in the billing portal to post again. Until then you are on the free tier; "
                   f"your {plan.name} plan comes back as soon as the payment succeeds.")
    elif err.code == "SUBSCRIPTION_REQUIRED":
        message = ("Proposing entries is free; committing them to the ledger comes with every paid plan. "
                   "Your proposals stay here while you choose.")
    elif err.code == "BULK_APPROVE_NOT_INCLUDED":
        message = (f"Your plan commits one entry at a time and this request has {_int(err.details.get('requested'))}. "
                   "Commit them one by one, or move to a plan with bulk approve.")
    elif err.code == "COMPANY_LIMIT_REACHED" and meter is not None:
        message = (f"Your plan includes {meter.limit} compan{'y' if meter.limit == 1 else 'ies'} and "
                   f"{'it is' if meter.used == 1 else 'all are'} in use. To add another, move to a plan with more"
                   + (" or add extra companies to your plan." if addon else "."))
    offers = [offer(p) for p in suggested_plans(err)]
    title, resets_in = _title(err), describe_wait(err.retry_after)
    if payment_problem:  # the way back is the card, never another plan or waiting for midnight
        name = subscribed_plan.name if subscribed_plan else "paid"
        title = f"Your {name} plan is paused" if err.code != "PAYMENT_REQUIRED" else title
        if err.code != "PAYMENT_REQUIRED":
            message = (f"The last payment for your {name} plan did not go through, so you are on the free tier"
                       f"{PAUSED_REASONS.get(err.code, '')}. Update your card: the payment is retried at once and "
                       f"your {name} limits come back as soon as it succeeds.")
        offers, addon, resets_in = [], None, None
    return PaywallView(
        code=err.code, status=err.status, title=title, message=message,
        meter=meter, resets_at=meter.resets_at if meter and not payment_problem else None, resets_in=resets_in,
        offers=offers,
        offer_via=("change" if in_app and not payment_problem else "portal")
        if subscribed or err.code == "PAYMENT_REQUIRED" else "checkout",
        portal_label=portal_label, trial_days=trial_days, addon=addon, payment_problem=payment_problem,
        return_to=_interrupted_page(),
        offers_title=OFFER_TITLES.get(err.code, "Plans that include it"), partial=partial_of(err))
