"""The three alerts under a frozen clock: firing and clearing, logged once each way whatever evaluates them."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import running_app, signup_api_client
from tests.ops.helpers import rollover_done, rollover_failed, store_event, store_events
from webapp.extensions import db
from webapp.metering import rollover
from webapp.models import AlertState, BillingEvent, RolloverFailure
from webapp.ops import alerts

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def now(clock):
    clock.set(NOW)
    rollover_done("2025-03", datetime(2025, 3, 1, 0, 0, 2, tzinfo=UTC))   # the rollover alert stays quiet
    return clock


class Recorder(logging.Handler):
    """Keeps the records of one logger (configure_logging stops propagation, so caplog would miss them)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def alert_logs(recorder: Recorder, name: str) -> list[tuple[str, str]]:
    """(level, event) of every alert transition logged for one alert."""
    return [(r.levelname, r.getMessage()) for r in recorder.records if getattr(r, "alert", None) == name]


@pytest.fixture
def caplog_alerts():
    recorder = Recorder()
    logger = logging.getLogger("webapp.ops.alerts")
    logger.addHandler(recorder)
    yield recorder
    logger.removeHandler(recorder)


def state(name: str) -> AlertState:
    db.session.expire_all()
    return db.session.get(AlertState, name)


def test_webhook_failure_rate_fires_above_5_percent_of_at_least_20_events_and_clears(app, now, caplog_alerts):
    store_events(17, NOW - timedelta(hours=2))
    failed = store_events(2, NOW - timedelta(hours=1), "failed", last_error="boom")
    assert not alerts.evaluate().checks[0].firing            # 2 of 19: too few events to judge
    store_event(NOW - timedelta(hours=22), "applied")
    first = alerts.evaluate()                                # 2 of 20 = 10 %
    assert first.started == [alerts.WEBHOOK_FAILURE_RATE] and first.checks[0].firing
    assert "2 of 20 webhook events of the last 24 h failed (10.0 %" in first.checks[0].figure
    assert state(alerts.WEBHOOK_FAILURE_RATE).since == NOW
    now.advance(hours=1)
    assert alerts.evaluate().started == []                    # still firing: not logged again
    for event in failed:                                     # replayed successfully
        event.processed, event.outcome, event.last_error = True, "applied", None
    db.session.commit()
    cleared = alerts.evaluate()
    assert cleared.cleared == [alerts.WEBHOOK_FAILURE_RATE] and not state(alerts.WEBHOOK_FAILURE_RATE).firing
    alerts.evaluate()
    assert alert_logs(caplog_alerts, alerts.WEBHOOK_FAILURE_RATE) == [("ERROR", "alert.firing"),
                                                                      ("INFO", "alert.cleared")]


def test_webhook_alert_looks_at_the_last_24_hours_only(app, now):
    store_events(20, NOW - timedelta(hours=25), "failed")
    store_events(20, NOW - timedelta(hours=1))
    assert not alerts.evaluate().checks[0].firing


def test_webhook_alert_thresholds_come_from_the_config(app, now):
    app.config.update(ALERT_WEBHOOK_FAILURE_PCT=20.0, ALERT_WEBHOOK_MIN_EVENTS=5)
    store_events(4, NOW - timedelta(hours=1))
    store_events(1, NOW - timedelta(hours=1), "failed")
    assert not alerts.evaluate().checks[0].firing            # exactly 20 %: not above
    store_event(NOW, "failed")
    assert alerts.evaluate().checks[0].firing                # 2 of 6


def test_failed_payments_alert_fires_above_10_in_a_utc_day_and_clears_after_the_next_day(app, now, caplog_alerts):
    store_events(10, NOW - timedelta(hours=1), type_="invoice.payment_failed")
    assert not alerts.evaluate().checks[1].firing            # 10 is not more than 10
    store_event(NOW, type_="invoice.payment_failed")
    fired = alerts.evaluate()
    assert fired.started == [alerts.FAILED_PAYMENTS]
    assert fired.checks[1].figure.startswith("11 failed payments on 2025-03-10 (today")
    now.set(datetime(2025, 3, 11, 0, 30, tzinfo=UTC))        # the next UTC day: yesterday still counts
    assert alerts.evaluate().checks[1].firing
    now.set(datetime(2025, 3, 12, 0, 0, tzinfo=UTC))
    assert alerts.evaluate().cleared == [alerts.FAILED_PAYMENTS]
    assert alert_logs(caplog_alerts, alerts.FAILED_PAYMENTS) == [("ERROR", "alert.firing"), ("INFO", "alert.cleared")]


def test_rollover_alert_fires_at_01_00_on_the_1st_without_a_completed_run_and_clears_when_done(
        app, client, clock, caplog_alerts):
    signup_api_client(client)
    clock.set(datetime(2025, 4, 1, 0, 59, tzinfo=UTC))
    assert not alerts.evaluate().checks[2].firing            # not due yet
    clock.set(datetime(2025, 4, 1, 1, 0, tzinfo=UTC))
    late = alerts.evaluate()
    assert late.started == [alerts.ROLLOVER] and "no completed rollover for 2025-04" in late.checks[2].figure
    rollover.roll_usage_month(trigger="flask usage rollover")
    assert alerts.evaluate().cleared == [alerts.ROLLOVER]
    assert alert_logs(caplog_alerts, alerts.ROLLOVER) == [("ERROR", "alert.firing"), ("INFO", "alert.cleared")]


def test_a_failed_rollover_run_is_recorded_and_fires_at_once_until_a_run_completes(app, client, clock, monkeypatch):
    signup_api_client(client)
    clock.set(datetime(2025, 4, 1, 0, 0, 1, tzinfo=UTC))

    def broken(month: str, trigger: str) -> rollover.RolloverResult:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(rollover, "_roll", broken)
        rollover.roll_usage_month(trigger="scheduler")
    failure = db.session.scalars(select(RolloverFailure)).one()
    assert (failure.year_month, failure.trigger, failure.error) == ("2025-04", "scheduler", "RuntimeError: disk full")
    check = alerts.evaluate().checks[2]
    assert check.firing and "failed runs not yet redone: 2025-04" in check.figure
    clock.set(datetime(2025, 4, 1, 0, 10, tzinfo=UTC))
    rollover.roll_usage_month(trigger="flask usage rollover")
    assert alerts.evaluate().cleared == [alerts.ROLLOVER]


def test_a_transition_is_logged_by_one_process_only(app, database_url, now, caplog_alerts):
    """Two app instances (two engines, as two gunicorn workers or a worker and cron) see the same change."""
    store_events(20, NOW - timedelta(hours=1), "failed")
    with running_app(database_url, {}) as other:
        first = alerts.evaluate()
        with other.app_context():
            second = alerts.evaluate()
    assert first.started == [alerts.WEBHOOK_FAILURE_RATE] and second.started == []
    assert second.checks[0].firing
    assert alert_logs(caplog_alerts, alerts.WEBHOOK_FAILURE_RATE) == [("ERROR", "alert.firing")]


def test_flask_ops_alerts_exits_0_when_nothing_fires_and_1_with_the_figure_and_runbook_step(app, now):
    runner = app.test_cli_runner()
    quiet = runner.invoke(args=["ops", "alerts"])
    assert quiet.exit_code == 0, quiet.output
    assert "No alert firing (3 checked)." in quiet.output
    store_events(11, NOW - timedelta(hours=1), type_="invoice.payment_failed")
    loud = runner.invoke(args=["ops", "alerts"])
    assert loud.exit_code == 1
    assert "FIRING failed_payments: 11 failed payments on 2025-03-10" in loud.output
    assert "Runbook: Review the Stripe Dashboard" in loud.output
    assert "ok     webhook_failure_rate:" in loud.output and "1 of 3 alerts firing." in loud.output
    assert db.session.scalar(select(BillingEvent.id).limit(1)) is not None


def test_a_failed_run_of_an_earlier_month_fires_until_that_month_is_rolled_over(app, now):
    rollover_failed("2025-02", datetime(2025, 2, 1, 0, 0, 3, tzinfo=UTC))
    check = alerts.evaluate().checks[2]
    assert check.firing and check.figure == ("failed runs not yet redone: 2025-02 (last failure "
                                             "2025-02-01T00:00:03Z)")
    rollover_done("2025-02", datetime(2025, 3, 10, 11, 0, tzinfo=UTC), trigger="flask usage rollover")
    assert alerts.evaluate().cleared == [alerts.ROLLOVER]


def test_the_scheduler_checks_the_alerts_every_hour_on_the_hour(app, now):
    from webapp import scheduler

    app.testing, app.config["SCHEDULER_ENABLED"] = False, True
    sched = scheduler.start_scheduler(app)
    try:
        job = sched.get_job("ops-alerts")
        assert job.trigger.get_next_fire_time(None, datetime(2025, 3, 10, 12, 0, 1, tzinfo=UTC)) == datetime(
            2025, 3, 10, 13, 0, tzinfo=UTC)
    finally:
        scheduler.stop_scheduler(sched)
        app.testing = True
    store_events(20, NOW - timedelta(hours=1), "failed")
    scheduler.run_alerts(app)
    assert state(alerts.WEBHOOK_FAILURE_RATE).firing and state(alerts.ROLLOVER).evaluated_at == NOW
