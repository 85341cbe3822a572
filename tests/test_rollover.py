"""The monthly usage rollover: every tenant starts the month at zero, once, without losing usage."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import signup_api_client
from tests.factories import create_tenants, set_plan
from webapp.metering import rollover, usage
from webapp.models import RolloverRun, UsageMonthly

ROOT = Path(__file__).resolve().parent.parent


def month_rows(db, month: str) -> dict[str, UsageMonthly]:
    db.session.expire_all()
    return {r.tenant_id: r for r in db.session.scalars(select(UsageMonthly).where(UsageMonthly.year_month == month))}


def test_rollover_gives_every_tenant_a_zeroed_row_and_prints_the_runbook_report(client, db, clock):
    clock.set(datetime(2025, 11, 1, 0, 0, 5, tzinfo=UTC))
    tenants = sorted(signup_api_client(client).tenant_id for _ in range(3))
    for tenant_id in tenants:
        set_plan(tenant_id, "starter")
    result = rollover.roll_usage_month(trigger="test")
    rows = month_rows(db, "2025-11")
    assert sorted(rows) == tenants
    assert all((r.tx_posted, r.tx_analyzed) == (0, 0) and r.last_reset_at == clock.now() for r in rows.values())
    lines = list(rollover.report(result))
    assert (result.tenants, result.reset, result.kept) == (3, 3, 0)
    assert lines[0] == "Starting monthly usage rollover for 2025-11..."
    assert lines[1] == "Found 3 active tenants"
    assert lines[2:5] == [f"  Reset usage for tenant {t}" for t in tenants]
    assert lines[-2:] == ["✓ Monthly usage rollover completed for 2025-11", "  Processed 3 tenants"]


def test_running_the_rollover_twice_in_a_month_does_nothing_the_second_time(client, db, clock):
    clock.set(datetime(2025, 11, 1, 0, 0, tzinfo=UTC))
    tenant = signup_api_client(client)
    rollover.roll_usage_month(trigger="scheduler")
    usage.take_posted(tenant.tenant_id, 7, 300, clock.now())
    db.session.commit()
    clock.advance(hours=3)
    again = rollover.roll_usage_month(trigger="cron")
    assert again.already_done and again.done_by == "scheduler"
    assert "already done" in next(rollover.report(again))
    assert month_rows(db, "2025-11")[tenant.tenant_id].tx_posted == 7


def test_usage_counted_before_the_rollover_ran_is_kept_not_zeroed(client, db, clock):
    clock.set(datetime(2025, 12, 1, 0, 0, 1, tzinfo=UTC))
    early, late = signup_api_client(client), signup_api_client(client)
    assert usage.take_posted(early.tenant_id, 2, 300, clock.now())
    db.session.commit()
    clock.advance(minutes=5)
    result = rollover.roll_usage_month(trigger="test")
    assert (result.tenants, result.reset, result.kept) == (2, 1, 1)
    assert month_rows(db, "2025-12")[early.tenant_id].tx_posted == 2
    lines = list(rollover.report(result))
    assert lines[2:4] == [f"  Reset usage for tenant {late.tenant_id}",
                          f"  Kept usage for tenant {early.tenant_id}: already counting this month (2 posted, 0 analysed)"]


def test_rollover_leaves_earlier_months_alone(client, db, clock):
    clock.set(datetime(2025, 10, 15, tzinfo=UTC))
    tenant = signup_api_client(client)
    usage.take_posted(tenant.tenant_id, 40, 300, clock.now())
    db.session.commit()
    clock.set(datetime(2025, 11, 1, tzinfo=UTC))
    rollover.roll_usage_month(trigger="test")
    assert month_rows(db, "2025-10")[tenant.tenant_id].tx_posted == 40
    assert month_rows(db, "2025-11")[tenant.tenant_id].tx_posted == 0


@pytest.mark.parametrize("month", ["2025-13", "25-11", "2025-1", "november", "2025-11-01", "2099-01"])
def test_a_bad_or_future_month_is_refused_and_changes_nothing(app, db, clock, month):
    clock.set(datetime(2025, 11, 10, tzinfo=UTC))
    with pytest.raises(Exception) as info:
        rollover.roll_usage_month(month)
    assert getattr(info.value, "code", None) == "INVALID_REQUEST"
    assert db.session.scalar(select(RolloverRun)) is None


def test_parallel_rollovers_roll_the_month_over_exactly_once(app, client, db, clock):
    clock.set(datetime(2025, 11, 1, tzinfo=UTC))
    for _ in range(3):
        signup_api_client(client)
    barrier = threading.Barrier(4)
    results: list[rollover.RolloverResult] = []

    def run() -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(rollover.roll_usage_month(trigger="worker"))
            finally:
                from webapp.extensions import db as _db
                _db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not r.already_done for r in results) == 1 and len(results) == 4
    assert len(month_rows(db, "2025-11")) == 3


def test_the_rollover_script_prints_the_runbook_lines(app, client, database_url):
    tenant = signup_api_client(client)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "roll_usage_month.py")], capture_output=True,
                            text=True, timeout=60, cwd=str(ROOT),
                            env={**os.environ, "DATABASE_URL": database_url, "SCHEDULER_ENABLED": "0"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Starting monthly usage rollover for ")
    assert lines[1] == "Found 0 active tenants and 1 on the free tier or not paying"
    assert f"  Reset usage for tenant {tenant.tenant_id}" in lines
    assert lines[-1] == "  Processed 1 tenants"
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "roll_usage_month.py")], capture_output=True,
                           text=True, timeout=60, cwd=str(ROOT),
                           env={**os.environ, "DATABASE_URL": database_url, "SCHEDULER_ENABLED": "0"})
    assert again.returncode == 0 and "already done" in again.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "roll_usage_month.py"), "--month", "2025-13"],
                         capture_output=True, text=True, timeout=60, cwd=str(ROOT),
                         env={**os.environ, "DATABASE_URL": database_url, "SCHEDULER_ENABLED": "0"})
    assert bad.returncode == 1 and "2025-11" in bad.stderr


def test_the_rollover_counts_as_active_only_tenants_that_pay(client, db, clock):
    clock.set(datetime(2025, 11, 1, 0, 0, 5, tzinfo=UTC))
    paying, trialing, past_due, free = (signup_api_client(client).tenant_id for _ in range(4))
    set_plan(paying, "pro")
    set_plan(trialing, "starter", status="trialing")
    set_plan(past_due, "starter", status="past_due")
    lines = list(rollover.report(rollover.roll_usage_month(trigger="test")))
    assert lines[1] == "Found 2 active tenants and 2 on the free tier or not paying"
    assert lines[-1] == "  Processed 4 tenants" and sum(line.startswith("  Reset usage") for line in lines) == 4


def test_flask_usage_rollover_command_runs_the_same_service(app, client, clock):
    clock.set(datetime(2025, 11, 1, tzinfo=UTC))
    signup_api_client(client)
    out = app.test_cli_runner().invoke(args=["usage", "rollover", "--month", "2025-11", "--verbose"])
    assert out.exit_code == 0 and "✓ Monthly usage rollover completed for 2025-11" in out.output
    assert "  Reset usage for tenant " in out.output
    bad = app.test_cli_runner().invoke(args=["usage", "rollover", "--month", "2026-99"])
    assert bad.exit_code == 1


def test_scheduler_is_never_started_in_tests_and_schedules_the_1st_at_midnight_utc(app):
    from webapp import scheduler

    assert scheduler.start_scheduler(app) is None
    app.testing = False
    app.config["SCHEDULER_ENABLED"] = True
    sched = scheduler.start_scheduler(app)
    try:
        job = sched.get_job("usage-rollover")
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["day"], fields["hour"], fields["minute"]) == ("1", "0", "0")
        assert str(job.trigger.timezone) == "UTC"
        nxt = job.trigger.get_next_fire_time(None, datetime(2025, 1, 31, 23, 59, tzinfo=UTC))
        assert nxt == datetime(2025, 2, 1, tzinfo=UTC)
    finally:
        scheduler.stop_scheduler(sched)
        app.testing = True


def test_the_scheduled_job_rolls_the_month_over(app, client, db):
    from webapp import scheduler

    tenant = signup_api_client(client)
    scheduler.run_rollover(app)
    run = db.session.scalars(select(RolloverRun)).one()
    assert run.trigger == "scheduler" and run.tenants == 1 and run.rows_created == 1
    assert tenant.tenant_id in month_rows(db, run.year_month)


def test_rollover_over_more_tenants_than_any_parameter_limit_completes_and_commits(app, db, clock):
    # 70,000 is past PostgreSQL's 65,535 bind parameters and SQLite's 32,766: a statement with a
    # parameter per tenant fails on both, and nothing would be committed.
    clock.set(datetime(2025, 11, 1, 0, 0, 5, tzinfo=UTC))
    create_tenants(70_000)
    clock.advance(seconds=1)
    tenant = "tenant_bulk_123"
    usage.take_posted(tenant, 5, 300, clock.now())  # counting this month before the rollover: kept
    db.session.commit()
    result = rollover.roll_usage_month(trigger="test")
    assert (result.tenants, result.reset, result.kept) == (70_000, 69_999, 1)
    assert db.session.scalar(select(func.count()).select_from(UsageMonthly)
                             .where(UsageMonthly.year_month == "2025-11")) == 70_000
    run = db.session.get(RolloverRun, "2025-11")
    assert (run.tenants, run.rows_created) == (70_000, 69_999)
    db.session.expire_all()
    assert db.session.get(UsageMonthly, (tenant, "2025-11")).tx_posted == 5
    lines = list(rollover.report(result))
    assert lines == ["Starting monthly usage rollover for 2025-11...",
                     "Found 0 active tenants and 70000 on the free tier or not paying",
                     "  Reset usage for 69999 tenants",
                     "  Kept usage for 1 tenants: already counting this month",
                     "  (one line per tenant: --verbose)",
                     "✓ Monthly usage rollover completed for 2025-11", "  Processed 70000 tenants"]
    assert rollover.roll_usage_month(trigger="again").already_done


def test_past_50_tenants_the_report_counts_and_verbose_names_every_tenant(app, db, clock):
    clock.set(datetime(2025, 11, 1, 0, 0, 5, tzinfo=UTC))
    create_tenants(51)
    result = rollover.roll_usage_month(trigger="test")
    short = list(rollover.report(result))
    assert short[1:5] == ["Found 0 active tenants and 51 on the free tier or not paying", "  Reset usage for 51 tenants",
                          "  Kept usage for 0 tenants: already counting this month", "  (one line per tenant: --verbose)"]
    full = list(rollover.report(result, verbose=True))
    assert full[2:-2] == [f"  Reset usage for tenant tenant_bulk_{i}" for i in sorted(range(1, 52), key=str)]
    assert len(full) == 51 + 4
