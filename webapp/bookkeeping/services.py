"""Companies: a tenant's client businesses, limited by the tenant's plan."""
from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webapp.billing import services as billing_services
from webapp.bookkeeping.accounts import add_default_chart
from webapp.errors import Conflict, NotFound, ValidationError
from webapp.extensions import db
from webapp.ids import new_id
from webapp.metering import gate
from webapp.models import Company

log = logging.getLogger(__name__)

MAX_COMPANY_NAME = 200


def list_companies(tenant_id: str) -> list[Company]:
    """Return the tenant's companies, oldest first."""
    stmt = select(Company).where(Company.tenant_id == tenant_id).order_by(Company.created_at, Company.id)
    return list(db.session.scalars(stmt))


def get_company(tenant_id: str, company_id: str | None) -> Company:
    """Return the tenant's company with this id, or its first company when None; 404 for another tenant's."""
    if company_id is None:
        stmt = select(Company).where(Company.tenant_id == tenant_id).order_by(Company.created_at, Company.id)
        company = db.session.scalars(stmt.limit(1)).first()
    else:
        company = db.session.get(Company, company_id)
    if company is None or company.tenant_id != tenant_id:
        raise NotFound("No such company.", ids=[company_id] if company_id else [])
    return company


def add_first_company(tenant_id: str, name: str) -> Company:
    """Add the company every tenant gets at sign-up (part of the sign-up unit of work)."""
    company = Company(id=new_id("co"), tenant_id=tenant_id, name=name[:MAX_COMPANY_NAME])
    db.session.add(company)
    add_default_chart(company)
    return company


def add_company(tenant_id: str, name: str) -> Company:
    """Add a company if the plan allows one more; 402 COMPANY_LIMIT_REACHED otherwise."""
    name = name.strip()
    if not name:
        raise ValidationError("Some fields are missing or invalid.", {"name": "is required"})
    if len(name) > MAX_COMPANY_NAME:
        raise ValidationError("Some fields are missing or invalid.",
                              {"name": f"must be at most {MAX_COMPANY_NAME} characters"})
    # Lock the tenant's entitlement row first (a row lock on PostgreSQL, the write lock on SQLite), so
    # two requests adding a company at once are serialised and the count below cannot go stale.
    billing_services.lock_entitlement(tenant_id)
    allowance = billing_services.company_allowance(tenant_id)
    count = db.session.scalar(select(func.count()).select_from(Company).where(Company.tenant_id == tenant_id))
    if (count or 0) >= allowance:
        db.session.rollback()
        raise gate.company_limit_reached(billing_services.get_entitlement(tenant_id), allowance, count or 0)
    company = Company(id=new_id("co"), tenant_id=tenant_id, name=name)
    db.session.add(company)
    add_default_chart(company)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict("COMPANY_EXISTS", "A company with this name already exists.",
                       fields={"name": "is already used"}) from exc
    log.info("bookkeeping.company_added", extra={"tenant_id": tenant_id, "company_id": company.id})
    return company
