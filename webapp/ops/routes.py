"""Thin views for operations."""
from __future__ import annotations

from flask import abort, current_app, render_template

from webapp.ops import bp, mail_sink, services


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """200 {"status":"ok","db":"ok"} when the database answers, 503 otherwise."""
    if services.database_ok():
        return {"status": "ok", "db": "ok"}, 200
    return {"status": "degraded", "db": "unavailable"}, 503


@bp.get("/dev/mail")
def dev_mail() -> str:
    """Development only: what the local mail sink received (404 unless MAIL_SINK_DIR is set)."""
    directory = current_app.config.get("MAIL_SINK_DIR")
    if not directory:
        abort(404)
    return render_template("ops/dev_mail.html", mails=mail_sink.received(directory), directory=directory)
