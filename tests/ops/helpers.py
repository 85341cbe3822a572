"""Known data for the operations tests: stored webhook events, usage rows, rollover runs, an admin session."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from tests.conftest import BrowserUser, csrf_token_from
from webapp.extensions import db
from webapp.models import BillingEvent, RolloverFailure, RolloverRun, UsageMonthly, User

_seq = {"n": 0}


def store_event(created_at: datetime, outcome: str = "applied", type_: str = "customer.subscription.updated",
                stripe_created: datetime | None = None, event_id: str | None = None, tenant_id: str | None = None,
                last_error: str | None = None, payload: dict[str, Any] | None = None,
                attempts: int = 1) -> BillingEvent:
    """A stored webhook event as the webhook leaves it: processed (applied/ignored/stale), failed or pending."""
    _seq["n"] += 1
    eid = event_id or f"evt_ops_{_seq['n']:05d}"
    processed = outcome in ("applied", "ignored", "stale")
    body = payload or {"id": eid, "type": type_, "created": int((stripe_created or created_at).timestamp()),
                       "data": {"object": {"id": f"obj_{eid}"}}}
    row = BillingEvent(event_id=eid, type=type_, stripe_created=stripe_created or created_at, created_at=created_at,
                       received_at=created_at, processed=processed, processed_at=created_at if processed else None,
                       outcome=outcome, attempts=attempts, tenant_id=tenant_id,
                       last_error=last_error if outcome == "failed" else None, payload_json=json.dumps(body))
    db.session.add(row)
    db.session.commit()
    return row


def store_events(n: int, created_at: datetime, outcome: str = "applied", **kw: Any) -> list[BillingEvent]:
    """n events of one outcome at one time."""
    return [store_event(created_at, outcome, **kw) for _ in range(n)]


def usage(tenant_id: str, month: str, posted: int, analyzed: int = 0) -> None:
    """Put a month's usage row at known values."""
    row = db.session.get(UsageMonthly, (tenant_id, month)) or UsageMonthly(tenant_id=tenant_id, year_month=month)
    row.tx_posted, row.tx_analyzed = posted, analyzed
    db.session.add(row)
    db.session.commit()


def rollover_done(month: str, at: datetime, trigger: str = "scheduler") -> None:
    """A completed rollover run for a month."""
    db.session.add(RolloverRun(year_month=month, started_at=at, finished_at=at, trigger=trigger, tenants=1,
                               rows_created=1))
    db.session.commit()


def rollover_failed(month: str, at: datetime, error: str = "OperationalError: database is locked") -> None:
    """A failed rollover run for a month."""
    db.session.add(RolloverFailure(year_month=month, failed_at=at, trigger="scheduler", error=error))
    db.session.commit()


def make_admin(email: str, is_admin: bool = True) -> None:
    """Set the admin flag directly (the grant command is tested on its own)."""
    user = db.session.scalars(select(User).where(User.email == email)).one()
    user.is_admin = is_admin
    db.session.commit()


def log_in(app: Flask, email: str, password: str = "testpass123") -> BrowserUser:
    """A browser session for this user, through the real log-in form."""
    web = app.test_client()
    token = csrf_token_from(web.get("/login").get_data(as_text=True))
    resp = web.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return BrowserUser(client=web, email=email, password=password)


def seed_operations(now: datetime) -> list[str]:
    """A believable fortnight for /admin (browser test, screenshots): tenants on each plan with usage over
    three months, webhook events with a few failures, failed payments, rollover runs. Returns the failed
    events' ids, oldest first (each is replayable: an event type no handler acts on)."""
    from tests.factories import set_plan
    from webapp.auth.services import signup

    plans = [("starter", "active", [180, 300, 120]), ("starter", "active", [40, 90, 300]), ("pro", "active",
             [900, 1400, 1700]), ("pro", "trialing", [0, 200, 650]), ("firm", "active", [4000, 5200, 6100]),
             ("starter", "past_due", [300, 300, 0]), ("free", "none", [0, 0, 0])]
    months = []
    year, month = now.year, now.month
    for _ in range(3):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    months.reverse()
    for i, (plan, status, posted) in enumerate(plans):
        user, _ = signup(f"customer{i}@example.com", "testpass123", f"Customer {i}")
        if plan != "free":
            set_plan(user.tenant_id, plan, status, active=status in ("active", "trialing"))
        for m, n in zip(months, posted):
            usage(user.tenant_id, m, n, analyzed=n + 25)
    day = timedelta(days=1)
    for d in range(7):
        store_events(6 + (d * 5) % 9, now - d * day - timedelta(hours=1))
    store_event(now - 2 * day, "pending")
    failed = [store_event(now - timedelta(days=d, hours=3), "failed", type_="customer.updated",
                          last_error=error)
              for d, error in ((5, "BillingUnavailable: Stripe did not answer in 20 s"),
                               (1, "UnknownSubscriptionPrice: price_1Q… is not one of our plans"),
                               (0, "OperationalError: database is locked"))]
    # Each day's failed payments on that UTC day whatever the hour (the alert counts yesterday's 12): today's
    # up to 2 hours ago but not before midnight, earlier days' at noon.
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for d, n in enumerate((3, 12, 2, 0, 1, 4, 0, 2, 1, 0, 0, 3, 1, 0)):
        at = max(today, now - timedelta(hours=2)) if d == 0 else today - d * day + timedelta(hours=12)
        for _ in range(n):
            store_event(at, type_="invoice.payment_failed")
    rollover_done(months[0], datetime(int(months[0][:4]), int(months[0][5:]), 1, 0, 0, 4, tzinfo=now.tzinfo))
    rollover_failed(months[1], datetime(int(months[1][:4]), int(months[1][5:]), 1, 0, 0, 3, tzinfo=now.tzinfo))
    rollover_done(months[1], datetime(int(months[1][:4]), int(months[1][5:]), 1, 7, 12, tzinfo=now.tzinfo),
                  trigger="flask usage rollover")
    # This month's run failed and was not redone: the rollover alert fires at any hour, in the month's first
    # hour too (before 01:00 on the 1st a month merely not rolled over yet is not late).
    this_month = datetime(int(months[2][:4]), int(months[2][5:]), 1, 0, 0, 3, tzinfo=now.tzinfo)
    rollover_failed(months[2], min(this_month, now))
    return [e.event_id for e in failed]
