"""The in-process scheduler: the monthly usage rollover (00:00 UTC on the 1st), the hourly alert check,
hourly the end of manual entitlement overrides past their `until`, and every minute the sweep of webhook
events left queued by a process that died.

Never started by create_app.
"""
from __future__ import annotations

import atexit
import logging
from collections.abc import Callable
from datetime import UTC
from typing import TypeVar

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from werkzeug.serving import is_running_from_reloader

log = logging.getLogger(__name__)
T = TypeVar("T")


def _run_job(app: Flask, name: str, job: Callable[[], T]) -> T:
    """Run a scheduled job inside an app context; a failure is logged with its traceback and re-raised."""
    with app.app_context():
        try:
            return job()
        except Exception:
            log.exception(f"{name}.failed")
            raise


def run_rollover(app: Flask) -> None:
    """The scheduled job: roll the current month over inside an app context (guarded, idempotent)."""
    from webapp.metering import rollover

    result = _run_job(app, "rollover", lambda: rollover.roll_usage_month(trigger="scheduler"))
    for line in rollover.report(result):
        log.info("rollover.report", extra={"line": line})


def run_override_expiry(app: Flask) -> int:
    """The hourly job: end the overrides past their `until` (audited; idempotent across workers)."""
    from webapp.billing import overrides

    ended = _run_job(app, "override_expiry", lambda: overrides.end_expired(actor="scheduler"))
    if ended:
        log.info("override_expiry.completed", extra={"ended": ended})
    return ended


def run_queued_sweep(app: Flask) -> int:
    """Every minute: apply webhook events still queued past a lease's life (their reader's process died)."""
    from webapp.billing import events

    drained = _run_job(app, "queued_sweep", events.sweep_queued)
    if drained:
        log.warning("queued_sweep.drained", extra={"tenants": drained})
    return drained


def run_alerts(app: Flask) -> None:
    """The hourly job: evaluate the alerts (each transition is logged once, whichever process sees it)."""
    from webapp.ops import alerts

    with app.app_context():
        try:
            alerts.evaluate()
        except Exception:
            log.exception("alerts.evaluation_failed")
            raise


def stop_scheduler(sched: BackgroundScheduler) -> None:
    """Stop the scheduler if it still runs (at exit, or earlier by hand)."""
    if sched.running:
        sched.shutdown(wait=False)


def inside_cli_command() -> bool:
    """True while a one-shot `flask ...` command (not `flask run`) loads the app, e.g. through wsgi.py."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.command.name != "run"


def start_scheduler(app: Flask) -> BackgroundScheduler | None:
    """Start the scheduler where it should run: not in tests, not when disabled, not in the reloader's parent,
    not inside a `flask` command that found wsgi.py (`flask billing reconcile` without FLASK_APP)."""
    if not app.config.get("SCHEDULER_ENABLED") or app.testing or inside_cli_command():
        return None
    if app.debug and not is_running_from_reloader():
        return None
    sched = BackgroundScheduler(timezone=UTC)
    sched.add_job(run_rollover, CronTrigger(day=1, hour=0, minute=0, timezone=UTC), args=[app],
                  id="usage-rollover", replace_existing=True, coalesce=True, max_instances=1,
                  misfire_grace_time=6 * 3600)
    sched.add_job(run_alerts, CronTrigger(minute=0, timezone=UTC), args=[app], id="ops-alerts",
                  replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=30 * 60)
    # The effective plan already ignores an override past its `until`; this job records its end (and audits it).
    sched.add_job(run_override_expiry, CronTrigger(minute=0, timezone=UTC), args=[app], id="override-expiry",
                  replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=3600)
    sched.add_job(run_queued_sweep, IntervalTrigger(minutes=1, timezone=UTC), args=[app], id="queued-sweep",
                  replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=60)
    sched.start()
    atexit.register(stop_scheduler, sched)
    log.info("scheduler.started", extra={"jobs": [j.id for j in sched.get_jobs()]})
    return sched
