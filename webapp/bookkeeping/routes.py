"""Thin views for the bookkeeping core."""
from __future__ import annotations

from webapp.auth.guards import api_user, bearer_required
from webapp.bookkeeping import api_bp, services
from webapp.clock import isoformat
from webapp.models import Company
from webapp.payloads import Field, parse


def company_json(company: Company) -> dict[str, object]:
    """The API shape of a company."""
    return {"id": company.id, "name": company.name, "created_at": isoformat(company.created_at)}


@api_bp.get("/companies")
@bearer_required
def list_companies() -> dict[str, object]:
    """GET /api/companies → the tenant's companies."""
    return {"data": [company_json(c) for c in services.list_companies(api_user().tenant_id)]}


@api_bp.post("/companies")
@bearer_required
def add_company() -> tuple[dict[str, object], int]:
    """POST /api/companies {name} → 201, or 402 COMPANY_LIMIT_REACHED past the plan's allowance."""
    body = parse({"name": Field(str, max_length=200)})
    return company_json(services.add_company(api_user().tenant_id, body["name"])), 201
