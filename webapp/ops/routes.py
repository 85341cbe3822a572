"""Thin views for operations."""
from __future__ import annotations

from webapp.ops import bp, services


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """200 {"status":"ok","db":"ok"} when the database answers, 503 otherwise."""
    if services.database_ok():
        return {"status": "ok", "db": "ok"}, 200
    return {"status": "degraded", "db": "unavailable"}, 503
