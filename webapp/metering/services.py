"""What a tenant has used: the numbers the billing status and GET /api/usage show."""
from __future__ import annotations

from typing import TypedDict

from webapp import clock
from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT
from webapp.billing.services import read_effective
from webapp.metering.gate import tier_of
from webapp.metering.usage import read_counts


class FreeToday(TypedDict):
    """Today's analyses against the free tier's daily limit (limit None on a paid plan)."""

    tx_analyzed: int
    limit: int | None
    resets_at: str | None


class UsageSnapshot(TypedDict):
    """This UTC month's counters and what is left under the plan's cap."""

    plan: str
    year_month: str
    tx_posted: int
    tx_analyzed: int
    tx_cap: int
    tx_remaining: int
    resets_at: str | None
    free_today: FreeToday


def usage_snapshot(tenant_id: str) -> UsageSnapshot:
    """Read the tenant's usage for the current UTC month and day (creates nothing)."""
    now = clock.now()
    tier = tier_of(read_effective(tenant_id))
    counts = read_counts(tenant_id, now)
    return UsageSnapshot(
        plan=tier.plan, year_month=counts.year_month, tx_posted=counts.tx_posted, tx_analyzed=counts.tx_analyzed,
        tx_cap=tier.tx_cap, tx_remaining=max(0, tier.tx_cap - counts.tx_posted),
        resets_at=clock.isoformat(clock.next_month_start(now)),
        free_today=FreeToday(tx_analyzed=counts.day_analyzed,
                             limit=None if tier.paid else FREE_DAILY_ANALYZE_LIMIT,
                             resets_at=clock.isoformat(clock.next_utc_midnight(now))))
