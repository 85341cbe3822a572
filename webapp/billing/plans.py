"""The only plan table: every cap, flag and price in the app is read from here."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """One plan of the catalog; prices are integer cents per month."""

    key: str
    name: str
    price_cents: int | None
    tx_cap: int
    bulk_approve: bool
    included_companies: int
    free_daily_analyze: int | None = None
    currency: str = "usd"

    @property
    def paid(self) -> bool:
        """True for the plans sold through Stripe."""
        return self.price_cents is not None

    def stripe_metadata(self) -> dict[str, str]:
        """The product/price metadata, as strings, exactly as the operations runbook shows."""
        return {
            "plan": self.key,
            "tx_cap": str(self.tx_cap),
            "bulk_approve": str(self.bulk_approve).lower(),
            "included_companies": str(self.included_companies),
        }


@dataclass(frozen=True)
class AddOn:
    """A per-unit add-on sold on top of a plan (extra companies on firm)."""

    key: str
    name: str
    plan_key: str
    unit_price_cents: int
    companies_per_unit: int = 1
    currency: str = "usd"


FREE = Plan("free", "Free", None, tx_cap=0, bulk_approve=False, included_companies=1,
            free_daily_analyze=50)
STARTER = Plan("starter", "Starter", 4900, tx_cap=300, bulk_approve=False, included_companies=1)
PRO = Plan("pro", "Pro", 14900, tx_cap=2000, bulk_approve=True, included_companies=3)
FIRM = Plan("firm", "Firm", 49900, tx_cap=10000, bulk_approve=True, included_companies=10)
FIRM_ADDON = AddOn("firm_addon", "Firm extra company", "firm", unit_price_cents=2500)

PLANS: dict[str, Plan] = {p.key: p for p in (FREE, STARTER, PRO, FIRM)}
PAID_PLANS: tuple[Plan, ...] = (STARTER, PRO, FIRM)
ADDONS: dict[str, AddOn] = {FIRM_ADDON.key: FIRM_ADDON}
FREE_DAILY_ANALYZE_LIMIT: int = FREE.free_daily_analyze or 0


def get_plan(key: str) -> Plan:
    """Return the plan with this key; KeyError for an unknown one."""
    return PLANS[key]


def next_plan_up(key: str) -> Plan | None:
    """Return the next bigger paid plan, or None for the biggest."""
    order = [p.key for p in PAID_PLANS]
    if key not in order:
        return PAID_PLANS[0]
    i = order.index(key)
    return PAID_PLANS[i + 1] if i + 1 < len(order) else None
