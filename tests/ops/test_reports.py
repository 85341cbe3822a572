"""The ops report on known data, on SQLite and PostgreSQL: each view, `flask ops report` and its JSON."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from tests.conftest import signup_api_client
from tests.factories import set_plan
from tests.ops.helpers import rollover_done, rollover_failed, store_event, store_events, usage
from webapp.billing import audit
from webapp.extensions import db
from webapp.models import BillingAudit, Entitlement
from webapp.ops import admin, reports

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def now(clock):
    clock.set(NOW)
    return clock


def test_webhook_success_counts_each_utc_day_of_the_window_by_outcome(app, now):
    store_events(2, NOW - timedelta(hours=1), "applied")
    store_event(NOW - timedelta(hours=2), "ignored")
    store_event(NOW - timedelta(hours=3), "failed", last_error="BillingUnavailable: Stripe is down")
    store_event(datetime(2025, 3, 9, 23, 59, 59, tzinfo=UTC), "pending")   # the day before, not today
    store_event(datetime(2025, 3, 4, 0, 0, tzinfo=UTC), "applied")          # first day of the 7-day window
    store_event(datetime(2025, 3, 3, 23, 59, tzinfo=UTC), "failed")         # outside it
    days = reports.webhook_success(7, NOW)
    assert [d.day for d in days] == [date(2025, 3, 4) + timedelta(days=i) for i in range(7)]
    by_day = {d.day: (d.total, d.processed, d.failed, d.pending, d.rate) for d in days}
    assert by_day[date(2025, 3, 10)] == (4, 3, 1, 0, 75.0)
    assert by_day[date(2025, 3, 9)] == (1, 0, 0, 1, 0.0)
    assert by_day[date(2025, 3, 4)] == (1, 1, 0, 0, 100.0)
    assert by_day[date(2025, 3, 5)] == (0, 0, 0, 0, None)


def test_subscriptions_group_live_ones_by_plan_and_status_with_who_is_entitled(app, client, now):
    tenants = [signup_api_client(client).tenant_id for _ in range(5)]
    set_plan(tenants[0], "starter", "active")
    set_plan(tenants[1], "pro", "trialing")
    set_plan(tenants[2], "pro", "past_due", active=False)
    set_plan(tenants[3], "starter", "canceled", active=False)  # ended: not a live subscription
    # tenants[4] stays free without a subscription
    rows = [(r.plan, r.status, r.tenants, r.entitled) for r in reports.subscriptions()]
    assert rows == [("starter", "active", 1, 1), ("pro", "past_due", 1, 0), ("pro", "trialing", 1, 1)]


def test_usage_by_plan_counts_only_tenants_with_a_cap_above_zero_so_free_is_never_at_cap(app, client, now):
    starter_full, starter_half, pro, free = (signup_api_client(client).tenant_id for _ in range(4))
    set_plan(starter_full, "starter")
    set_plan(starter_half, "starter")
    set_plan(pro, "pro")
    usage(starter_full, "2025-03", 300)
    usage(starter_half, "2025-03", 150)
    usage(pro, "2025-03", 2000)
    usage(pro, "2025-01", 20)
    usage(free, "2025-03", 0, analyzed=50)    # cap 0: posted 0 >= 0 must not count as at cap
    usage(free, "2024-12", 0)                 # outside the 3 months
    rows = {(r.year_month, r.plan): (r.tenants, r.avg_posted, r.max_posted, r.at_cap, r.cap)
            for r in reports.usage_by_plan(3, NOW)}
    assert rows == {("2025-03", "starter"): (2, 225.0, 300, 1, 300),
                    ("2025-03", "pro"): (1, 2000.0, 2000, 1, 2000),
                    ("2025-01", "pro"): (1, 20.0, 20, 0, 2000)}


def test_failed_payments_are_counted_per_utc_day_of_stripes_failure_time(app, now):
    for hours in (1, 2, 3):
        store_event(NOW - timedelta(hours=hours), type_="invoice.payment_failed")
    store_event(NOW, type_="invoice.payment_failed", stripe_created=datetime(2025, 2, 25, 8, tzinfo=UTC))
    store_event(datetime(2025, 2, 20, tzinfo=UTC), type_="invoice.payment_failed")   # 18 days ago
    # Received by a clock running behind Stripe's, before the window began: still Stripe's day.
    store_event(datetime(2025, 2, 24, 22, tzinfo=UTC), type_="invoice.payment_failed",
                stripe_created=datetime(2025, 2, 25, 0, 30, tzinfo=UTC))
    store_event(NOW, type_="invoice.paid")
    days = reports.failed_payments(14, NOW)
    assert len(days) == 14 and days[0].day == date(2025, 2, 25) and days[-1].day == date(2025, 3, 10)
    assert {d.day: d.count for d in days if d.count} == {date(2025, 3, 10): 3, date(2025, 2, 25): 2}


def test_report_queries_read_indexes_not_whole_tables_on_sqlite(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite's plan is deterministic on an empty table; PostgreSQL's planner picks by size")
    statements: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    from sqlalchemy import event
    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        reports.failed_payments(14, NOW), reports.usage_by_plan(3, NOW), reports.unprocessed_count()
        reports.events_needing_attention(now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    with db.engine.connect() as conn:
        plans = [" / ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + st, params))
                 for st, params in statements if st.lstrip().startswith("SELECT")]
    assert plans and all("SCAN billing_events " not in p or "USING INDEX" in p for p in plans), plans
    assert not any(p.startswith("SCAN usage_monthly") for p in plans), plans
    assert any("ix_billing_events_unprocessed" in p for p in plans), plans
    assert any("ix_usage_monthly_year_month" in p for p in plans), plans


def test_events_needing_attention_lists_unprocessed_ones_oldest_first_with_their_error(app, now):
    store_event(NOW - timedelta(hours=1), "applied")
    newer = store_event(NOW - timedelta(hours=2), "failed", last_error="BillingUnavailable: Stripe is down")
    older = store_event(NOW - timedelta(days=3), "failed", last_error="KeyError: 'price'")
    stuck = store_event(NOW - timedelta(hours=5), "pending")
    stuck.processing_started_at = NOW - timedelta(minutes=1)     # another worker holds it right now
    db.session.commit()
    attention = reports.events_needing_attention(now=NOW)
    assert attention.total == 3
    assert [(e.event_id, e.last_error, e.replayable) for e in attention.events] == [
        (older.event_id, "KeyError: 'price'", True), (stuck.event_id, None, False),
        (newer.event_id, "BillingUnavailable: Stripe is down", True)]


def test_rollover_runs_list_completed_and_failed_runs_newest_first(app, now):
    rollover_done("2025-01", datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC))
    rollover_failed("2025-02", datetime(2025, 2, 1, 0, 0, 5, tzinfo=UTC))
    rollover_done("2025-02", datetime(2025, 2, 1, 9, 30, tzinfo=UTC), trigger="flask usage rollover")
    runs = reports.rollover_runs()
    assert [(r.year_month, r.outcome, r.trigger, r.at) for r in runs] == [
        ("2025-02", "completed", "flask usage rollover", datetime(2025, 2, 1, 9, 30, tzinfo=UTC)),
        ("2025-02", "failed", "scheduler", datetime(2025, 2, 1, 0, 0, 5, tzinfo=UTC)),
        ("2025-01", "completed", "scheduler", datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC))]
    assert runs[1].error == "OperationalError: database is locked" and runs[0].tenants == 1


def test_audit_merges_entitlement_changes_and_operator_actions_newest_first(app, client, now):
    tenant = signup_api_client(client, email="owner@example.com").tenant_id
    ent = db.session.get(Entitlement, tenant)
    before = audit.snapshot(ent)
    ent.plan, ent.tx_cap = "starter", 300
    audit.record(ent, before, "manual_reactivate", "flask billing reactivate (by ops)")
    db.session.commit()
    now.advance(minutes=1)
    admin.set_admin("owner@example.com", True, actor="flask ops grant-admin (by ops)")
    rows = reports.recent_audit()
    assert [(r.source, r.action, r.tenant_id) for r in rows] == [("ops", "grant_admin", tenant),
                                                                ("billing", "manual_reactivate", tenant)]
    assert rows[0].created_at == NOW + timedelta(minutes=1) and rows[1].created_at == NOW
    assert "plan 'free' → 'starter'" in rows[1].summary and "tx_cap 0 → 300" in rows[1].summary
    assert rows[0].subject == "owner@example.com" and "is_admin=False → True" in rows[0].summary
    assert len(db.session.scalars(select(BillingAudit)).all()) == 1


def test_flask_ops_report_prints_aligned_tables_and_the_same_data_as_json(app, now):
    store_events(3, NOW - timedelta(hours=1), "applied")
    failed = store_event(NOW - timedelta(hours=2), "failed", last_error="BillingUnavailable: Stripe is down")
    runner = app.test_cli_runner()
    text = runner.invoke(args=["ops", "report"])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    head = lines.index("Webhook success per day (last 7 days)")
    assert lines[head + 1].split() == ["day", "total", "processed", "failed", "pending", "rate", "%"]
    assert lines[head + 3].split() == ["2025-03-10", "4", "3", "1", "0", "75.00"]
    assert len({len(lines[head + i]) for i in (1, 2, 3)}) == 1   # the header, rule and first row line up
    assert failed.event_id in text.output and "BillingUnavailable: Stripe is down" in text.output
    as_json = runner.invoke(args=["ops", "report", "--json", "--days", "3"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["webhook_success"]["days"] == 3 and data["failed_payments"]["days"] == 3
    assert data["webhook_success"]["rows"][-1] == {"day": "2025-03-10", "total": 4, "processed": 3, "failed": 1,
                                                   "pending": 0, "rate": 75.0}
    assert data["events_needing_attention"]["events"][0]["event_id"] == failed.event_id
    assert data["generated_at"] == "2025-03-10T12:00:00Z"


def test_flask_ops_report_refuses_a_bad_day_count_with_exit_2(app):
    for days in ("0", "367", "x"):
        out = app.test_cli_runner().invoke(args=["ops", "report", "--days", days])
        assert out.exit_code == 2 and "--days" in out.output, days


def test_days_are_utc_days_whatever_the_database_sessions_time_zone(app, backend, now):
    """PostgreSQL's own date() would follow the session's zone; Auckland (+13) would move 23:30 UTC a day on."""
    if backend != "postgresql":
        pytest.skip("the session time zone is PostgreSQL's (SQLite stores UTC text)")
    store_event(datetime(2025, 3, 9, 23, 30, tzinfo=UTC), "applied")
    db.session.execute(text("SET LOCAL TIME ZONE 'Pacific/Auckland'"))
    days = {d.day: d.total for d in reports.webhook_success(7, NOW) if d.total}
    assert days == {date(2025, 3, 9): 1}
