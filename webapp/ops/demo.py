"""Demo data for the runbook's scenarios (`flask demo seed`): real tenants, real Stripe objects, real entries.

Each run makes new tenants (new emails), so it can be run again at any time; nothing existing is changed.
Stripe objects are made in test mode only (the local emulator, or a Stripe test key), never with a live key.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import date

from webapp import clock
from webapp.auth import services as auth_services
from webapp.billing import catalog, stripe_gateway
from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT, PLANS
from webapp.billing.services import get_entitlement
from webapp.billing.subscriptions import sync_from_stripe
from webapp.bookkeeping.proposals import propose_entries
from webapp.bookkeeping.transactions import count_distinct_transactions, import_transactions
from webapp.errors import BillingUnavailable
from webapp.extensions import db
from webapp.metering.gate import Action
from webapp.metering.guards import admit_ids

log = logging.getLogger(__name__)

SCENARIOS = ("new-subscription", "monthly-cap", "free-cap", "failed-payment")
NEEDS_STRIPE = frozenset({"new-subscription", "monthly-cap", "failed-payment"})
ACTOR = "flask demo seed"
CAP_PLAN = PLANS["starter"]  # the runbook's Scenario 2 is the starter plan's 300 postings a month
FAILING_CARD = "pm_card_chargeCustomerFail"  # 4000 0000 0000 0341: attaches, every charge fails
WORKING_CARD = "pm_card_visa"  # 4242 4242 4242 4242
FAILED_PAYMENT_TRIAL_DAYS = 3  # the trial whose end charges the failing card
VENDORS = (("Office Depot", "Printer paper", -4599), ("Amazon Web Services", "AWS cloud hosting", -12000),
           ("Uber", "Uber ride to client", -2350), ("Acme Corp", "Invoice 1042 payment", 250000),
           ("Comcast", "Internet service", -8999), ("Starbucks", "Coffee with client", -1275))


@dataclass
class SeededTenant:
    """One scenario's tenant: how to log in, its API token and the ids its curl loop uses."""

    scenario: str
    email: str
    password: str
    tenant_id: str
    token: str
    plan: str
    subscription_status: str
    ids: list[str] = field(default_factory=list)
    price_id: str | None = None
    subscription_id: str | None = None
    test_clock: str | None = None
    trial_days: int | None = None


def transactions(count: int, day: date) -> list[dict[str, object]]:
    """count bank transactions dated `day`, with the runbook's ids txn_1 … txn_<count>."""
    rows = []
    for i in range(1, count + 1):
        counterparty, description, cents = VENDORS[(i - 1) % len(VENDORS)]
        rows.append({"id": f"txn_{i}", "date": day.isoformat(), "description": f"{description} #{i}",
                     "amount_cents": cents, "counterparty": counterparty})
    return rows


def _new_tenant(scenario: str) -> tuple[str, str, str, str]:
    """Sign a new tenant up: (email, password, tenant id, API token)."""
    stamp = clock.now().strftime("%Y%m%d%H%M%S")
    email = f"demo-{scenario}-{stamp}-{secrets.token_hex(3)}@example.com"
    password = secrets.token_urlsafe(12)
    user, issued = auth_services.signup(email, password, f"Demo {scenario}")
    return email, password, user.tenant_id, issued.plain


def check_ready(scenarios: list[str]) -> str | None:
    """Before anything is made: Stripe in test mode with the starter price, if a chosen scenario needs it.

    Returns the starter price id (None when no chosen scenario needs Stripe).
    """
    if not NEEDS_STRIPE.intersection(scenarios):
        return None
    gw = stripe_gateway.gateway()
    if not gw.configured:
        raise BillingUnavailable("These scenarios need Stripe: start the local stack with `make run` (its "
                                 "emulator), or set a STRIPE_SECRET_KEY for test mode.")
    if gw.mode == "live":
        raise BillingUnavailable("Refusing to make demo subscriptions with a LIVE Stripe key.")
    return catalog.price_for(CAP_PLAN.key)  # UnknownPrice (run the bootstrap) before any tenant is made


def _subscribe(tenant_id: str, email: str, card: str, trial_days: int | None = None,
               test_clock: str | None = None) -> str:
    """Subscribe the tenant to the starter plan in Stripe and apply it, as the Checkout return does."""
    gw = stripe_gateway.gateway()
    customer = gw.create_test_customer(email, f"Demo {tenant_id}", tenant_id, card, test_clock)
    ent = get_entitlement(tenant_id)
    ent.stripe_customer_id = customer
    db.session.commit()
    sub = gw.create_subscription(customer, catalog.price_for(CAP_PLAN.key), tenant_id, trial_days)
    sync_from_stripe(sub["id"], actor=ACTOR, hints={"tenant_id": tenant_id, "customer_id": customer})
    db.session.commit()
    return str(sub["id"])


def _seeded(scenario: str, email: str, password: str, tenant_id: str, token: str, **extra: object) -> SeededTenant:
    ent = get_entitlement(tenant_id)
    db.session.refresh(ent)
    return SeededTenant(scenario, email, password, tenant_id, token, ent.plan, ent.subscription_status,
                        **extra)  # type: ignore[arg-type]


def seed_new_subscription() -> SeededTenant:
    """Scenario 1: a new free tenant and the starter price to check out with."""
    price = catalog.price_for(CAP_PLAN.key)
    email, password, tenant_id, token = _new_tenant("new-subscription")
    return _seeded("new-subscription", email, password, tenant_id, token, price_id=price)


def seed_monthly_cap() -> SeededTenant:
    """Scenario 2: an active starter tenant with tx_cap + 1 proposed entries, none posted yet this month."""
    email, password, tenant_id, token = _new_tenant("monthly-cap")
    sub_id = _subscribe(tenant_id, email, WORKING_CARD)
    rows = transactions(CAP_PLAN.tx_cap + 1, clock.now().date())
    txn_ids = [str(r["id"]) for r in rows]
    import_transactions(tenant_id, None, rows)
    admit_ids(tenant_id, Action.PROPOSE, txn_ids, count_distinct_transactions)  # counted as analysed, as the API does
    entries = propose_entries(tenant_id, txn_ids)
    log.info("demo.seeded", extra={"scenario": "monthly-cap", "tenant_id": tenant_id, "entries": len(entries)})
    return _seeded("monthly-cap", email, password, tenant_id, token, ids=[e.id for _, e in entries],
                   subscription_id=sub_id)


def seed_free_cap() -> SeededTenant:
    """Scenario 3: a free tenant with one more imported transaction than the free tier analyses a day."""
    email, password, tenant_id, token = _new_tenant("free-cap")
    rows = transactions(FREE_DAILY_ANALYZE_LIMIT + 1, clock.now().date())
    import_transactions(tenant_id, None, rows)
    log.info("demo.seeded", extra={"scenario": "free-cap", "tenant_id": tenant_id, "transactions": len(rows)})
    return _seeded("free-cap", email, password, tenant_id, token, ids=[str(r["id"]) for r in rows])


def seed_failed_payment() -> SeededTenant:
    """A starter subscriber in its trial, on a test clock, paying with the card whose every charge fails."""
    email, password, tenant_id, token = _new_tenant("failed-payment")
    test_clock = stripe_gateway.gateway().create_test_clock(int(clock.now().timestamp()), f"demo failed payment {tenant_id}")
    sub_id = _subscribe(tenant_id, email, FAILING_CARD, FAILED_PAYMENT_TRIAL_DAYS, test_clock)
    log.info("demo.seeded", extra={"scenario": "failed-payment", "tenant_id": tenant_id, "subscription_id": sub_id})
    return _seeded("failed-payment", email, password, tenant_id, token, subscription_id=sub_id,
                   test_clock=test_clock, trial_days=FAILED_PAYMENT_TRIAL_DAYS)


SEEDERS = {"new-subscription": seed_new_subscription, "monthly-cap": seed_monthly_cap,
           "free-cap": seed_free_cap, "failed-payment": seed_failed_payment}


def seed(scenarios: list[str]) -> list[SeededTenant]:
    """Prepare the runbook's scenarios with fresh data, once Stripe is known to be ready for them."""
    check_ready(scenarios)
    return [SEEDERS[name]() for name in scenarios]
