"""Thin views for operations: health, the admin console, event replay, Prometheus metrics."""
from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST

from webapp.error_handlers import is_htmx
from webapp.ops import admin, alerts, bp, console, mail_sink, metrics, reports, services
from webapp.ops.guards import admin_required


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """200 {"status":"ok","db":"ok"} when the database answers, 503 otherwise."""
    if services.database_ok():
        return {"status": "ok", "db": "ok"}, 200
    return {"status": "degraded", "db": "unavailable"}, 503


@bp.get("/admin")
@admin_required
def admin_dashboard() -> str:
    """The operations console: report, charts, alerts, events to replay."""
    return render_template("ops/admin.html", view=console.dashboard())


@bp.post("/admin/events/<event_id>/replay")
@admin_required
def replay_event(event_id: str) -> Response | str:
    """Replay one stored event (audited); htmx gets the refreshed events table, a form post a redirect."""
    result = admin.replay_event(event_id, current_user.email)
    if is_htmx():
        return render_template("ops/_events.html", attention=reports.events_needing_attention(), result=result)
    flash(f"Replayed {result.event_id}: {result.outcome}" + (f" ({result.error})" if result.error else ""),
          "error" if result.error else "info")
    return redirect(url_for("ops.admin_dashboard"), code=303)


@bp.post("/admin/alerts/check")
@admin_required
def check_alerts() -> Response | str:
    """Evaluate the alerts now; htmx gets the alerts section and the header's count, a form post a redirect."""
    panel = console.check_alerts()
    if is_htmx():
        return render_template("ops/_alerts.html", panel=panel, refresh_header=True)
    return redirect(url_for("ops.admin_dashboard", _anchor="alerts"), code=303)


@bp.app_context_processor
def admin_alerts() -> dict[str, object]:
    """`admin_alerts()` for the header: the firing alerts' titles, read only when an admin's page asks."""
    def firing() -> list[str]:
        return alerts.firing_titles() if current_user.is_authenticated and current_user.is_admin else []

    return {"admin_alerts": firing}


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    """Prometheus text format; 404 unless METRICS_TOKEN is set, 401 without that Bearer token."""
    metrics.check_scrape_token(request.headers.get("Authorization", ""))
    return Response(metrics.render(), content_type=CONTENT_TYPE_LATEST)


@bp.get("/dev/mail")
def dev_mail() -> str:
    """Development only: what the local mail sink received (404 unless MAIL_SINK_DIR is set)."""
    directory = current_app.config.get("MAIL_SINK_DIR")
    if not directory:
        abort(404)
    return render_template("ops/dev_mail.html", mails=mail_sink.received(directory), directory=directory)
