"""The entitlement gate (the runbook's EntitlementGateMiddleware): every paywall decision, in one place.

`admit` runs inside the request's unit of work: its counter UPDATE commits or rolls back with the
work it pays for, so a request that fails afterwards counts nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from webapp import clock
from webapp.billing import links
from webapp.billing.plans import FREE, FREE_DAILY_ANALYZE_LIMIT, PAID_PLANS, PLANS
from webapp.billing.services import PAYMENT_PROBLEM_STATUSES, Effective, effective, has_paid_plan, read_effective
from webapp.errors import PaywallError
from webapp.metering import usage
from webapp.models import Entitlement
from webapp.signals import gate_decided

log = logging.getLogger(__name__)


class Action(StrEnum):
    """What a gated route does: analyse transactions or post entries."""

    PROPOSE = "propose"
    COMMIT = "commit"


@dataclass(frozen=True)
class Tier:
    """The limits that apply now: a paid plan's, or the free tier's for everyone else."""

    plan: str
    paid: bool
    tx_cap: int
    bulk_approve: bool
    subscription_status: str
    subscribed_plan: str
    override_until: str | None = None  # set while a manual override decides ("open" when it has no end)

    @property
    def payment_problem(self) -> bool:
        """On the free tier because the subscription's payment failed (past_due, unpaid)."""
        return not self.paid and self.subscription_status in PAYMENT_PROBLEM_STATUSES


def tier_of(ent: Entitlement | Effective) -> Tier:
    """An active paid entitlement (active, status active/trialing) gets its plan; anything else the free tier.

    An open manual override is the entitlement while it lasts (it comes with the entitlement's SELECT).
    """
    eff = effective(ent) if isinstance(ent, Entitlement) else ent
    until = (clock.isoformat(eff.override.until) or "open") if eff.override else None
    if has_paid_plan(eff):
        return Tier(eff.plan, True, eff.tx_cap, eff.bulk_approve, eff.subscription_status, eff.plan, until)
    return Tier(FREE.key, False, FREE.tx_cap, FREE.bulk_approve, eff.subscription_status, eff.plan, until)


@dataclass(frozen=True)
class Charge:
    """A request the gate let through so far: the tier it was read under and what it will count."""

    tenant_id: str
    action: Action
    n: int
    tier: Tier


def admit(tenant_id: str, action: Action, n: int) -> None:
    """Let n transactions through for `action` and count them now, or raise the one PaywallError that applies."""
    settle(check(tenant_id, action, n))


def check(tenant_id: str, action: Action, n: int) -> Charge:
    """The decisions that need no counter (payment problem, no paid plan, no bulk approve), from the
    entitlement read; the Charge is counted by `settle` at the end of the request's unit of work."""
    tier = tier_of(read_effective(tenant_id))
    charge = Charge(tenant_id, action, n, tier)
    if action is Action.COMMIT:
        with _announced(charge):
            if tier.payment_problem:
                raise payment_required(tier)
            if not tier.paid:
                raise subscription_required(tier)
            if n > 1 and not tier.bulk_approve:
                raise bulk_not_included(tier, n)
    return charge


def settle(charge: Charge) -> None:
    """Count the charge with the conditional UPDATE whose row count decides (in the caller's unit of
    work, so a request that fails afterwards counts nothing); the cap's PaywallError if it does not fit."""
    now = clock.now()
    with _announced(charge):
        if charge.action is Action.PROPOSE:
            admit_propose(charge.tenant_id, charge.tier, charge.n, now)
        else:
            admit_commit(charge.tenant_id, charge.tier, charge.n, now)
    gate_decided.send(None, action=charge.action.value, code="ALLOWED")


@contextmanager
def _announced(charge: Charge) -> Iterator[None]:
    """Tell observers of a refusal, with the override that decided it when support's override is in force."""
    try:
        yield
    except PaywallError as err:
        if charge.tier.override_until is not None:  # the limits are support's override, not the subscription's
            err.details["override"] = {"plan": charge.tier.subscribed_plan, "until": charge.tier.override_until}
        gate_decided.send(None, action=charge.action.value, code=err.code)
        raise


def admit_propose(tenant_id: str, tier: Tier, n: int, now: datetime) -> None:
    """Free tier: at most the daily limit per UTC day. Paid: unlimited. Both counted in the month."""
    if not tier.paid and not usage.take_daily_analyzed(tenant_id, n, FREE_DAILY_ANALYZE_LIMIT, now):
        raise free_cap_exceeded(tenant_id, n, now, tier)
    usage.count_analyzed(tenant_id, n, now)


def admit_commit(tenant_id: str, tier: Tier, n: int, now: datetime) -> None:
    """Room under the monthly cap (the plan's checks ran in `check`; `admit` runs both)."""
    if not usage.take_posted(tenant_id, n, tier.tx_cap, now):
        raise monthly_cap_exceeded(tenant_id, tier, n, now)


def free_cap_exceeded(tenant_id: str, n: int, now: datetime, tier: Tier | None = None) -> PaywallError:
    """429: the free tier's daily analyses are used up; Retry-After is the time to the next UTC midnight.

    `requested` and `remaining` say whether a smaller request would pass today; a request for more than
    the whole daily limit is told to split, since waiting alone never lets it through.
    """
    resets = clock.next_utc_midnight(now)
    used = usage.read_counts(tenant_id, now).day_analyzed
    remaining = max(0, FREE_DAILY_ANALYZE_LIMIT - used)
    log.info("gate.free_cap_exceeded", extra={"tenant_id": tenant_id, "used": used, "requested": n})
    if n > FREE_DAILY_ANALYZE_LIMIT:
        advice = f"Propose at most {FREE_DAILY_ANALYZE_LIMIT} at a time, or upgrade."
    elif remaining:
        advice = f"{remaining} remain today: propose fewer, upgrade, or try again after midnight UTC."
    else:
        advice = "Upgrade, or try again after midnight UTC."
    extra: dict[str, object] = {}
    if tier is not None and tier.payment_problem:  # their plan is only paused: the card is the way back
        name = PLANS[tier.subscribed_plan].name if tier.subscribed_plan in PLANS else "paid"
        advice = (f"Your {name} plan is paused because the last payment did not go through; update your card "
                  f"and its unlimited analyses come back as soon as the payment succeeds.")
        extra["portal_url"] = links.portal_url()
    return PaywallError("FREE_CAP_EXCEEDED", 429, FREE.key,
                        f"The free plan analyses {FREE_DAILY_ANALYZE_LIMIT} transactions per UTC day; {used} are "
                        f"used today and this request asks for {n}. {advice}",
                        retry_after=_seconds_until(resets, now), limit=FREE_DAILY_ANALYZE_LIMIT, used=used,
                        requested=n, remaining=remaining, resets_at=clock.isoformat(resets),
                        upgrade_url=links.upgrade_url(), **extra)


def subscription_required(tier: Tier) -> PaywallError:
    """402: posting entries is a paid feature."""
    return PaywallError("SUBSCRIPTION_REQUIRED", 402, tier.plan,
                        "Posting entries to the ledger needs a paid plan.", upgrade_url=links.upgrade_url())


def payment_required(tier: Tier) -> PaywallError:
    """402: the subscription exists but its payment failed (past_due or unpaid)."""
    return PaywallError("PAYMENT_REQUIRED", 402, tier.subscribed_plan,
                        "Your last payment did not go through. Update your payment method to post again.",
                        subscription_status=tier.subscription_status, portal_url=links.portal_url())


def company_limit_reached(ent: Entitlement, allowance: int, count: int) -> PaywallError:
    """402 for one company too many: update the card if a failed payment is the cause, else a bigger plan."""
    tier = tier_of(ent)
    if tier.payment_problem:
        return payment_required(tier)
    bigger = [p.key for p in PAID_PLANS if p.included_companies > allowance]
    return PaywallError("COMPANY_LIMIT_REACHED", 402, tier.plan,
                        f"Your plan includes {allowance} compan{'y' if allowance == 1 else 'ies'} and "
                        f"{count} {'is' if count == 1 else 'are'} in use.",
                        limit=allowance, used=count, plans_with_more=bigger, addon_available=tier.plan == "firm",
                        upgrade_url=links.upgrade_url(),
                        **({"portal_url": links.portal_url()} if tier.paid else {}))


def bulk_not_included(tier: Tier, n: int) -> PaywallError:
    """402: this plan commits one entry per request."""
    with_bulk = [p.key for p in PAID_PLANS if p.bulk_approve]
    return PaywallError("BULK_APPROVE_NOT_INCLUDED", 402, tier.plan,
                        f"Your plan commits one entry per request; this one has {n}. "
                        f"Bulk approve comes with {', '.join(with_bulk)}.",
                        limit=1, requested=n, plans_with_bulk=with_bulk, upgrade_url=links.upgrade_url())


def monthly_cap_exceeded(tenant_id: str, tier: Tier, n: int, now: datetime) -> PaywallError:
    """402: this commit would take the month's postings past the plan's cap."""
    used = usage.read_counts(tenant_id, now).tx_posted
    log.info("gate.monthly_cap_exceeded", extra={"tenant_id": tenant_id, "used": used, "requested": n})
    return PaywallError("MONTHLY_CAP_EXCEEDED", 402, tier.plan,
                        f"Your plan posts {tier.tx_cap} transactions per month; {used} are posted and this "
                        f"request would add {n}." + (f" {tier.tx_cap - used} remain: commit at most that many, or "
                                                     "move to a bigger plan." if used < tier.tx_cap else ""),
                        limit=tier.tx_cap, used=used, requested=n, remaining=max(0, tier.tx_cap - used),
                        resets_at=clock.isoformat(clock.next_month_start(now)),
                        upgrade_url=links.upgrade_url())


def _seconds_until(moment: datetime, now: datetime) -> int:
    remaining = (moment - now).total_seconds()
    return max(1, int(remaining) + (remaining % 1 > 0))
