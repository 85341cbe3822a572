"""Support commands without Stripe: show --offline, events, set-entitlement, clear-override, usage reset.

Each change is checked with its audit row; each dry run and each refusal against a dump of every
billing and usage row (counts, attempts, values) and the levels of the log lines it wrote.
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from tests.factories import set_plan, set_usage
from webapp import clock as app_clock
from webapp.billing import overrides
from webapp.extensions import db
from webapp.metering import gate
from webapp.models import (BillingAudit, BillingEvent, Entitlement, EntitlementOverride, UsageDaily, UsageMonthly)

WATCHED = (Entitlement, EntitlementOverride, BillingAudit, BillingEvent, UsageMonthly, UsageDaily)


def dump() -> dict[str, list[tuple]]:
    """Every row of the tables a support command may touch, as plain tuples."""
    db.session.expire_all()
    out = {}
    for model in WATCHED:
        cols = [c.key for c in model.__table__.columns]
        out[model.__tablename__] = sorted(tuple(str(getattr(r, c)) for c in cols)
                                          for r in db.session.scalars(select(model)))
    return out


def cli(app, *args: str):
    """Run a flask command; `output` holds stdout and stderr (Click 8.2)."""
    return app.test_cli_runner().invoke(args=list(args))


def audits(tenant_id: str) -> list[BillingAudit]:
    db.session.expire_all()
    return list(db.session.scalars(select(BillingAudit).where(BillingAudit.tenant_id == tenant_id)
                                   .order_by(BillingAudit.id)))


def status_of(api) -> dict:
    return api.get("/api/billing/status").get_json()


# --- set-entitlement / clear-override ---------------------------------------------------------------------------

def test_set_entitlement_gives_the_plan_to_the_gate_and_status_and_writes_an_audit_row(app, api_client, clock):
    result = cli(app, "billing", "set-entitlement", api_client.email, "--plan", "pro", "--days", "3",
                 "--reason", "ticket 481: card fixed offline", "--actor", "alice")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Set override for {api_client.tenant_id}: plan free → pro")
    body = status_of(api_client)
    assert (body["effective_plan"], body["tx_cap"], body["bulk_approve"]) == ("pro", 2000, True)
    assert body["override"]["until"] == app_clock.isoformat(clock.now() + timedelta(days=3))
    assert body["override"]["stripe"] == {"plan": "free", "subscription_status": "none"}
    assert api_client.post("/api/post/commit", json={"je_ids": ["je_x", "je_y"]}).get_json()["code"] != \
        "SUBSCRIPTION_REQUIRED"  # a pro tenant, bulk included: the gate lets it through to the ledger
    ent = db.session.get(Entitlement, api_client.tenant_id)
    assert (ent.plan, ent.active) == ("free", False)  # the entitlement row stays what Stripe said
    [row] = audits(api_client.tenant_id)
    assert (row.action, row.actor, row.reason) == ("set_entitlement", "alice", "ticket 481: card fixed offline")
    assert json.loads(row.before_json)["plan"] == "free" and json.loads(row.after_json)["plan"] == "pro"
    assert json.loads(row.after_json)["override"]["until"] == body["override"]["until"]


def test_set_entitlement_warns_when_it_disagrees_with_stripe(app, api_client, clock):
    set_plan(api_client.tenant_id, "starter", "past_due")
    result = cli(app, "billing", "set-entitlement", api_client.tenant_id, "--plan", "starter",
                 "--until", "2025-02-07", "--reason", "grace week")
    assert result.exit_code == 0
    assert "! Stripe says starter (past_due), no subscription; the override gives starter (active)" in result.output


def test_the_billing_page_says_an_override_is_in_force(app, logged_in, user, clock):
    cli(app, "billing", "set-entitlement", user.email, "--plan", "firm", "--days", "10", "--reason", "pilot")
    html = logged_in.client.get("/billing").get_data(as_text=True)
    assert "Your Firm plan is set by our support team until" in html and "Firm plan" in html


def test_a_second_override_replaces_the_first_and_keeps_it_as_history(app, api_client, clock):
    cli(app, "billing", "set-entitlement", api_client.tenant_id, "--plan", "pro", "--days", "3", "--reason", "a")
    cli(app, "billing", "set-entitlement", api_client.tenant_id, "--plan", "firm", "--days", "3", "--reason", "b")
    rows = db.session.scalars(select(EntitlementOverride).order_by(EntitlementOverride.id)).all()
    assert [(r.plan, r.end_reason) for r in rows] == [("pro", "replaced by a new override"), ("firm", None)]
    assert status_of(api_client)["effective_plan"] == "firm"


def test_clear_override_ends_it_now_with_an_audit_row(app, api_client, clock):
    cli(app, "billing", "set-entitlement", api_client.tenant_id, "--plan", "pro", "--reason", "demo")
    result = cli(app, "billing", "clear-override", api_client.tenant_id, "--reason", "demo over", "--actor", "bob")
    assert result.exit_code == 0 and result.output.startswith(f"Cleared override for {api_client.tenant_id}")
    assert status_of(api_client)["effective_plan"] == "free" and status_of(api_client)["override"] is None
    row = audits(api_client.tenant_id)[-1]
    assert (row.action, row.actor, row.reason) == ("clear_override", "bob", "demo over")
    assert json.loads(row.before_json)["override"]["plan"] == "pro" and json.loads(row.after_json)["override"] is None
    again = cli(app, "billing", "clear-override", api_client.tenant_id, "--reason", "again")
    assert again.exit_code == 0 and "nothing to clear" in again.output and len(audits(api_client.tenant_id)) == 2
    shape = json.loads(cli(app, "billing", "clear-override", api_client.email, "--reason", "x", "--json").output)
    assert set(shape) == {"tenant_id", "action", "dry_run", "before", "after", "warnings"}
    assert shape["action"] == "nothing_to_clear" and shape["before"] == shape["after"]


def test_an_override_ends_at_its_until_and_the_hourly_job_records_it(app, api_client, clock):
    cli(app, "billing", "set-entitlement", api_client.tenant_id, "--plan", "pro", "--days", "2", "--reason", "r")
    clock.advance(days=2, seconds=-1)
    assert status_of(api_client)["effective_plan"] == "pro"
    clock.advance(seconds=1)
    assert status_of(api_client)["effective_plan"] == "free"  # at `until`, before the job has run
    from webapp import scheduler

    assert scheduler.run_override_expiry(app) == 1
    assert scheduler.run_override_expiry(app) == 0  # a second worker's run finds nothing
    row = audits(api_client.tenant_id)[-1]
    assert (row.action, row.actor) == ("override_expired", "scheduler")
    ovr = db.session.scalars(select(EntitlementOverride)).one()
    assert ovr.ended_at == clock.now() and ovr.end_reason == "until reached"


def test_the_gate_says_when_an_override_sets_the_limits_it_enforces(app, api_client, clock):
    overrides.set_override(api_client.tenant_id, "starter", "active", clock.now() + timedelta(days=1), actor="t",
                           reason="one-entry plan on purpose")
    resp = api_client.post("/api/post/commit", json={"je_ids": ["je_1", "je_2"]})
    body = resp.get_json()
    assert (resp.status_code, body["code"], body["plan"]) == (402, "BULK_APPROVE_NOT_INCLUDED", "starter")
    assert body["override"] == {"plan": "starter", "until": "2025-02-01T23:59:00Z"}


def test_the_gate_reads_the_override_in_the_entitlement_select(app, api_client, clock):
    overrides.set_override(api_client.tenant_id, "pro", "active", None, actor="t", reason="statements")
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        db.session.expire_all()
        gate.admit(api_client.tenant_id, gate.Action.COMMIT, 1)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    db.session.rollback()
    assert statements.count("SELECT") == 1  # entitlement + override in one statement; then the counter
    assert [s for s in statements if s in ("UPDATE", "INSERT")][0] == "UPDATE"


# --- usage reset -------------------------------------------------------------------------------------------------

def test_usage_reset_zeroes_the_months_counters_in_one_audited_change(app, api_client, clock):
    set_plan(api_client.tenant_id, "starter")
    set_usage(api_client.tenant_id, posted=300, analyzed=420, day_analyzed=12)
    result = cli(app, "usage", "reset", api_client.tenant_id, "--reason", "ticket 9: double-counted import")
    assert result.exit_code == 0, result.output
    assert "tx_posted 300 → 0, tx_analyzed 420 → 0" in result.output
    month = db.session.get(UsageMonthly, (api_client.tenant_id, "2025-01"))
    assert (month.tx_posted, month.tx_analyzed, month.last_reset_at) == (0, 0, clock.now())
    assert db.session.get(UsageDaily, (api_client.tenant_id, clock.now().date())).tx_analyzed == 12
    [row] = audits(api_client.tenant_id)
    assert row.action == "usage_reset" and row.reason == "ticket 9: double-counted import"
    assert json.loads(row.before_json)["tx_posted"] == 300 and json.loads(row.after_json)["tx_posted"] == 0


def test_usage_reset_of_only_today_frees_the_daily_cap(app, api_client, clock):
    set_usage(api_client.tenant_id, posted=0, analyzed=50, day_analyzed=50)
    result = cli(app, "usage", "reset", api_client.tenant_id, "--today", "--reason", "stuck", "--json")
    body = json.loads(result.output)
    assert body["before"] == {"today_analyzed": 50} and body["after"] == {"today_analyzed": 0}
    assert db.session.get(UsageMonthly, (api_client.tenant_id, "2025-01")).tx_analyzed == 50
    assert api_client.post("/api/post/propose", json={"txn_ids": []}).status_code != 429


def test_usage_reset_with_nothing_to_reset_changes_nothing(app, api_client, clock):
    before = dump()
    result = cli(app, "usage", "reset", api_client.tenant_id, "--reason", "check")
    assert result.exit_code == 0 and "Nothing to reset" in result.output and dump() == before


# --- dry runs and refusals ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("billing", "set-entitlement", "{t}", "--plan", "pro", "--days", "3", "--reason", "r", "--dry-run"),
    ("billing", "clear-override", "{t}", "--reason", "r", "--dry-run"),
    ("usage", "reset", "{t}", "--reason", "r", "--dry-run"),
    ("usage", "reset", "{t}", "--today", "--posted", "--reason", "r", "--dry-run"),
    ("billing", "reactivate", "{t}", "--dry-run"),
])
def test_a_dry_run_changes_nothing_and_logs_nothing_above_info(app, api_client, clock, webapp_log, args):
    set_plan(api_client.tenant_id, "starter", "past_due")
    set_usage(api_client.tenant_id, posted=7, analyzed=9, day_analyzed=3)
    overrides.set_override(api_client.tenant_id, "pro", "active", None, actor="t", reason="existing")
    before, webapp_log.records[:] = dump(), []
    result = cli(app, *(a.format(t=api_client.tenant_id) for a in args))
    assert result.exit_code == 0, result.output
    assert "dry run: nothing saved" in result.output
    assert dump() == before and webapp_log.max_level <= logging.INFO


# Each refusal: the command line and what its one line says. One app for all (each case changes nothing).
REFUSALS = [
    (("billing", "show", "nobody@example.com"), "✗ No user with email 'nobody@example.com'. Nothing changed."),
    (("billing", "show", "tenant_nope", "--offline"), "✗ No tenant 'tenant_nope'. Nothing changed."),
    (("billing", "events", "--tenant", "tenant_nope"), "✗ No tenant 'tenant_nope'. Nothing changed."),
    (("billing", "events", "--since", "last week"), "--since 'last week' is neither"),
    (("billing", "events", "--failed", "--pending"), "Give --failed or --pending, not both."),
    (("billing", "set-entitlement", "{t}", "--plan", "platinum", "--reason", "r"), "Unknown plan 'platinum'"),
    (("billing", "set-entitlement", "{t}", "--reason", "r"), "--plan is required"),
    (("billing", "set-entitlement", "{t}", "--plan", "pro", "--status", "happy", "--reason", "r"),
     "Unknown status 'happy'"),
    (("billing", "set-entitlement", "{t}", "--plan", "pro"), "--reason is required"),
    (("billing", "set-entitlement", "{t}", "--plan", "pro", "--reason", "  "), "--reason is required"),
    (("billing", "set-entitlement", "{t}", "--plan", "pro", "--until", "2024-12-31", "--reason", "r"),
     "is not in the future"),
    (("billing", "set-entitlement", "{t}", "--plan", "pro", "--until", "soon", "--reason", "r"), "is not a date"),
    (("billing", "set-entitlement", "{t}", "--plan", "pro", "--until", "2025-03-01", "--days", "3", "--reason", "r"),
     "Give --until or --days, not both."),
    (("billing", "set-entitlement", "tenant_nope", "--plan", "pro", "--reason", "r"), "No tenant 'tenant_nope'"),
    (("billing", "clear-override", "{t}"), "--reason is required"),
    (("usage", "reset", "{t}", "--month", "2025-13", "--reason", "r"), "The month must look like 2025-11."),
    (("usage", "reset", "{t}", "--month", "2025-02", "--reason", "r"), "2025-02 has not started yet"),
    (("usage", "reset", "{t}"), "--reason is required"),
    (("usage", "reset", "ghost@example.com", "--reason", "r"), "No user with email 'ghost@example.com'"),
    (("billing", "reactivate", "{t}", "--days", "0"), "--days must be between 1 and 366"),
]


def test_each_refusal_is_one_line_exit_2_and_changes_nothing(app, api_client, clock, webapp_log):
    set_plan(api_client.tenant_id, "starter", "past_due")
    set_usage(api_client.tenant_id, posted=7, analyzed=9, day_analyzed=3)
    before = dump()
    for args, message in REFUSALS:
        result = cli(app, *(a.format(t=api_client.tenant_id) for a in args))
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2, (args, result.output)
        assert len(lines) == 1 and lines[0].startswith("✗ ") and message in lines[0], (args, result.output)
        assert dump() == before, args
    assert webapp_log.max_level <= logging.INFO


# --- show and events ------------------------------------------------------------------------------------------------

def add_event(event_id: str, tenant_id: str | None, type_: str, outcome: str, created: datetime,
              error: str | None = None, attempts: int = 1) -> None:
    db.session.add(BillingEvent(event_id=event_id, type=type_, stripe_created=created, created_at=created,
                                received_at=created, processed=outcome not in ("failed", "pending"),
                                outcome=outcome, attempts=attempts, last_error=error, tenant_id=tenant_id,
                                payload_json="{}"))
    db.session.commit()


def test_show_offline_prints_entitlement_override_usage_companies_events_and_audit(app, api_client, clock):
    set_plan(api_client.tenant_id, "starter", "past_due")
    set_usage(api_client.tenant_id, posted=120, analyzed=130, day_analyzed=4)
    add_event("evt_bad", api_client.tenant_id, "customer.subscription.updated", "failed", clock.now(),
              "UNKNOWN_PRICE: subscription sub_1 has no price of a known plan", attempts=3)
    cli(app, "billing", "set-entitlement", api_client.tenant_id, "--plan", "starter", "--days", "7",
        "--reason", "ticket 12", "--actor", "carol")
    result = cli(app, "billing", "show", api_client.email, "--offline")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Tenant {api_client.tenant_id}" in out and api_client.email in out
    assert "Effective: starter (active, active) · 300 posts/month" in out and "set by an override" in out
    assert "Override: starter (active) since 2025-01-31T23:59:00Z until 2025-02-07T23:59:00Z" in out
    assert "! Stripe says starter (past_due)" in out
    assert "Stripe (now): skipped (--offline)" in out
    assert "Usage 2025-01: 120 of 300 posted · 130 analysed; today 2025-01-31: 4 analysed" in out
    assert "Companies: 1 of 1 allowed" in out
    assert "failed   attempts=3" in out and "last error: UNKNOWN_PRICE" in out
    assert "set_entitlement by carol — \"ticket 12\"" in out
    body = json.loads(cli(app, "billing", "show", api_client.tenant_id, "--offline", "--json").output)
    assert set(body) == {"tenant", "effective", "stripe_recorded", "warnings", "stripe_now", "usage", "companies",
                         "events", "audit"}
    assert body["events"][0]["last_error"].startswith("UNKNOWN_PRICE") and body["audit"][0]["actor"] == "carol"


def test_events_filters_by_tenant_type_state_and_age(app, api_client, clock):
    now = clock.now()
    add_event("evt_old", api_client.tenant_id, "invoice.paid", "applied", now - timedelta(days=9))
    add_event("evt_fail", api_client.tenant_id, "invoice.payment_failed", "failed", now - timedelta(hours=1), "X")
    add_event("evt_wait", api_client.tenant_id, "customer.subscription.updated", "pending", now)
    add_event("evt_other", None, "invoice.paid", "applied", now)

    def ids(*args: str) -> list[str]:
        result = cli(app, "billing", "events", *args, "--json")
        assert result.exit_code == 0, result.output
        return [e["event_id"] for e in json.loads(result.output)["events"]]

    assert ids() == ["evt_other", "evt_wait", "evt_fail", "evt_old"]
    assert ids("--tenant", api_client.email) == ["evt_wait", "evt_fail", "evt_old"]
    assert ids("--type", "invoice.*") == ["evt_other", "evt_fail", "evt_old"]
    assert ids("--type", "invoice.paid", "--since", "7d") == ["evt_other"]
    assert ids("--failed") == ["evt_fail"] and ids("--pending") == ["evt_wait"]
    assert ids("--limit", "1") == ["evt_other"]
    assert ids("--since", "2025-01-25", "--tenant", api_client.tenant_id) == ["evt_wait", "evt_fail"]
    text = cli(app, "billing", "events", "--failed").output
    assert "invoice.payment_failed" in text and "last error: X" in text


def test_an_override_cannot_outlive_a_year_or_start_in_the_past(app, api_client, clock):
    from webapp.errors import ValidationError

    with pytest.raises(ValidationError):
        overrides.set_override(api_client.tenant_id, "pro", "active", clock.now() + timedelta(days=400),
                               actor="t", reason="r")
    with pytest.raises(ValidationError):
        overrides.set_override(api_client.tenant_id, "pro", "active", datetime(2020, 1, 1, tzinfo=UTC),
                               actor="t", reason="r")


def test_the_database_allows_one_open_override_per_tenant(app, api_client, clock):
    from sqlalchemy.exc import IntegrityError

    def open_one(plan: str) -> None:
        db.session.add(EntitlementOverride(tenant_id=api_client.tenant_id, plan=plan, subscription_status="active",
                                           actor="t", reason="r", starts_at=clock.now(), ends_on_paid_invoice=False))
        db.session.commit()

    open_one("pro")
    with pytest.raises(IntegrityError):
        open_one("firm")
    db.session.rollback()
    db.session.execute(EntitlementOverride.__table__.update().values(ended_at=clock.now()))
    open_one("firm")  # once the first has ended, a new one may open
    assert status_of(api_client)["effective_plan"] == "firm"
