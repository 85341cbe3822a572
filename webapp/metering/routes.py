"""Thin views for metering."""
from __future__ import annotations

from webapp.auth.guards import api_tenant_id, bearer_required
from webapp.metering import api_bp, services


@api_bp.get("/usage")
@bearer_required
def usage() -> dict[str, object]:
    """GET /api/usage → this month's posted/analysed counts, what is left, and today's free-tier analyses."""
    return dict(services.usage_snapshot(api_tenant_id()))
