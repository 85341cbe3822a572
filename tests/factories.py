"""Small test-data factories: entitlements from the plan table, imported transactions, usage counters."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from webapp import clock
from webapp.billing.plans import get_plan
from webapp.extensions import db
from webapp.metering.usage import utc_day
from webapp.models import Entitlement, UsageDaily, UsageMonthly


def set_plan(tenant_id: str, plan_key: str, status: str = "active", active: bool | None = None) -> Entitlement:
    """Give a tenant a plan's limits from plans.py, as the Stripe webhook will (billing issue)."""
    plan = get_plan(plan_key)
    ent = db.session.get(Entitlement, tenant_id)
    assert ent is not None
    ent.plan, ent.subscription_status = plan.key, status
    ent.active = (status in ("active", "trialing")) if active is None else active
    ent.tx_cap, ent.bulk_approve, ent.included_companies = plan.tx_cap, plan.bulk_approve, plan.included_companies
    db.session.commit()
    return ent


def set_usage(tenant_id: str, posted: int | None = None, analyzed: int | None = None,
              day_analyzed: int | None = None) -> None:
    """Put the current month's (and day's) counters at given values, as if that much work was done."""
    now = clock.now()
    month = db.session.get(UsageMonthly, (tenant_id, clock.year_month(now)))
    if month is None:
        month = UsageMonthly(tenant_id=tenant_id, year_month=clock.year_month(now), tx_analyzed=0, tx_posted=0)
        db.session.add(month)
    month.tx_posted = posted if posted is not None else month.tx_posted
    month.tx_analyzed = analyzed if analyzed is not None else month.tx_analyzed
    if day_analyzed is not None:
        day = db.session.get(UsageDaily, (tenant_id, utc_day(now))) or UsageDaily(
            tenant_id=tenant_id, day=utc_day(now), tx_analyzed=0)
        day.tx_analyzed = day_analyzed
        db.session.add(day)
    db.session.commit()


def usage_row(tenant_id: str, year_month: str) -> UsageMonthly | None:
    """The month's counter row as the database has it now (None before first use)."""
    db.session.expire_all()
    return db.session.scalar(select(UsageMonthly).where(UsageMonthly.tenant_id == tenant_id,
                                                        UsageMonthly.year_month == year_month))


def daily_analyzed(tenant_id: str, day: date) -> int:
    """Today's free-tier counter as the database has it now."""
    db.session.expire_all()
    return db.session.scalar(select(UsageDaily.tx_analyzed).where(
        UsageDaily.tenant_id == tenant_id, UsageDaily.day == day)) or 0


def txn_rows(n: int, start: int = 1, prefix: str = "txn_", **fields: Any) -> list[dict[str, Any]]:
    """n transactions with client ids txn_<start>..; money out unless amount_cents is given."""
    rows = []
    for i in range(start, start + n):
        row = {"id": f"{prefix}{i}", "date": "2025-01-15", "description": f"Office supplies order {i}",
               "amount_cents": -(1000 + i), **fields}
        rows.append(row)
    return rows


def import_txns(api: Any, n: int, start: int = 1, **fields: Any) -> list[str]:
    """Import n transactions through the API; return their client ids."""
    rows = txn_rows(n, start, **fields)
    resp = api.post("/api/transactions", json={"transactions": rows})
    assert resp.status_code in (200, 201), resp.get_json()
    return [r["id"] for r in rows]


def propose_all(api: Any, txn_ids: list[str]) -> list[str]:
    """Propose entries for these transactions in one request (paid plans); return the je ids in order."""
    resp = api.post("/api/post/propose", json={"txn_ids": txn_ids})
    assert resp.status_code == 200, resp.get_json()
    return [e["je_id"] for e in resp.get_json()["data"]]


def create_tenants(n: int, prefix: str = "tenant_bulk_") -> None:
    """Insert n bare tenants (ids prefix + 1..n) in one statement, however large n is (both dialects)."""
    from sqlalchemy import bindparam, text

    from webapp.db_types import UTCDateTime

    stmt = text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
                "INSERT INTO tenants (id, name, created_at) "
                "SELECT :prefix || CAST(i AS VARCHAR(12)), 'Bulk tenant', :now FROM n"
                ).bindparams(bindparam("now", type_=UTCDateTime()))
    db.session.execute(stmt, {"count": n, "prefix": prefix, "now": clock.now()})
    db.session.commit()
