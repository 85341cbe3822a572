"""Companies: a tenant's client businesses, limited by the tenant's plan; archived ones keep their books."""
from __future__ import annotations

import logging

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from webapp import clock
from webapp.billing import services as billing_services
from webapp.bookkeeping.accounts import add_default_chart
from webapp.errors import Conflict, NotFound, ValidationError
from webapp.extensions import db
from webapp.ids import new_id
from webapp.metering import gate
from webapp.models import Company, JournalEntry, Transaction

log = logging.getLogger(__name__)

MAX_COMPANY_NAME = 200


def list_companies(tenant_id: str) -> list[Company]:
    """Return the tenant's companies, oldest first (archived ones included)."""
    stmt = select(Company).where(Company.tenant_id == tenant_id).order_by(Company.created_at, Company.id)
    return list(db.session.scalars(stmt))


def get_company(tenant_id: str, company_id: str | None) -> Company:
    """Return the tenant's company with this id, or its first active company when None; 404 for another
    tenant's."""
    if company_id is None:
        stmt = (select(Company).where(Company.tenant_id == tenant_id)
                .order_by(Company.archived_at.is_not(None), Company.created_at, Company.id))
        company = db.session.scalars(stmt.limit(1)).first()
    else:
        company = db.session.get(Company, company_id)
    if company is None or company.tenant_id != tenant_id:
        raise NotFound("No such company.", ids=[company_id] if company_id else [])
    return company


def get_active_company(tenant_id: str, company_id: str | None) -> Company:
    """The company new work goes into (get_company), or 409 COMPANY_ARCHIVED: an archived company's books
    are read-only."""
    company = get_company(tenant_id, company_id)
    if company.archived_at is not None:
        raise archived_conflict(company.id, company.name)
    return company


def refuse_archived(company_ids: set[str]) -> None:
    """409 COMPANY_ARCHIVED if any of these companies is archived (work on their rows would change their books)."""
    archived = db.session.scalars(select(Company).where(Company.id.in_(company_ids),
                                                        Company.archived_at.is_not(None)).limit(1)).first()
    if archived is not None:
        raise archived_conflict(archived.id, archived.name)


def archived_conflict(company_id: str, name: str) -> Conflict:
    """The 409 COMPANY_ARCHIVED for work that would change an archived company's books."""
    return Conflict("COMPANY_ARCHIVED", f"{name} is archived: its books can be read but not changed. "
                                        "Restore it to work in it again.", company_id=company_id)


def check_company_name(name: str) -> str:
    """The name stripped, or a 400 on the `name` field."""
    name = name.strip()
    if not name:
        raise ValidationError("Some fields are missing or invalid.", {"name": "is required"})
    if len(name) > MAX_COMPANY_NAME:
        raise ValidationError("Some fields are missing or invalid.",
                              {"name": f"must be at most {MAX_COMPANY_NAME} characters"})
    return name


def add_first_company(tenant_id: str, name: str) -> Company:
    """Add the company every tenant gets at sign-up (part of the sign-up unit of work)."""
    company = Company(id=new_id("co"), tenant_id=tenant_id, name=name[:MAX_COMPANY_NAME])
    db.session.add(company)
    add_default_chart(company)
    return company


def _check_allowance(tenant_id: str) -> None:
    """Lock the tenant's entitlement row (a row lock on PostgreSQL, the write lock on SQLite), so two
    requests changing its companies at once are serialised and the count cannot go stale; then 402
    COMPANY_LIMIT_REACHED if every company the plan allows is in use (archived ones are not)."""
    billing_services.lock_entitlement(tenant_id)
    allowance = billing_services.company_allowance(tenant_id)
    count = db.session.scalar(select(func.count()).select_from(Company).where(
        Company.tenant_id == tenant_id, Company.archived_at.is_(None))) or 0
    if count >= allowance:
        db.session.rollback()
        raise gate.company_limit_reached(billing_services.get_entitlement(tenant_id), allowance, count)


def _commit_name() -> None:
    """Commit a company's new name; 409 COMPANY_EXISTS if another of the tenant's (archived too) has it."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict("COMPANY_EXISTS", "A company with this name already exists.",
                       fields={"name": "is already used by another of your companies (archived ones too)"}) from exc


def add_company(tenant_id: str, name: str) -> Company:
    """Add a company if the plan allows one more active company; 402 COMPANY_LIMIT_REACHED otherwise."""
    name = check_company_name(name)
    _check_allowance(tenant_id)
    company = Company(id=new_id("co"), tenant_id=tenant_id, name=name)
    db.session.add(company)
    add_default_chart(company)
    _commit_name()
    log.info("bookkeeping.company_added", extra={"tenant_id": tenant_id, "company_id": company.id})
    return company


def rename_company(tenant_id: str, company_id: str, name: str) -> Company:
    """Give a company (archived or not) a new name; 409 COMPANY_EXISTS if another of the tenant's has it."""
    name = check_company_name(name)
    company = get_company(tenant_id, company_id)
    if company.name != name:
        company.name = name
        _commit_name()
        log.info("bookkeeping.company_renamed", extra={"tenant_id": tenant_id, "company_id": company.id})
    return company


def archive_company(tenant_id: str, company_id: str) -> Company:
    """Archive a company: it frees its place in the plan and takes no new work; its books stay readable.

    Even the last active one may go (a starter tenant replacing its company archives it, then adds the
    new one); archiving an archived company changes nothing.
    """
    company = get_company(tenant_id, company_id)
    db.session.execute(update(Company).where(Company.id == company.id, Company.archived_at.is_(None))
                       .values(archived_at=clock.now()).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(company)
    log.info("bookkeeping.company_archived", extra={"tenant_id": tenant_id, "company_id": company.id})
    return company


def restore_company(tenant_id: str, company_id: str) -> Company:
    """Bring an archived company back if the plan has room for it (402 COMPANY_LIMIT_REACHED otherwise)."""
    company = get_company(tenant_id, company_id)
    if company.archived_at is None:
        return company
    _check_allowance(tenant_id)
    db.session.execute(update(Company).where(Company.id == company.id)
                       .values(archived_at=None).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(company)
    log.info("bookkeeping.company_restored", extra={"tenant_id": tenant_id, "company_id": company.id})
    return company


def check_in_company(tenant_id: str, company_id: str, txn_ids: list[str] | None = None,
                     je_ids: list[str] | None = None) -> None:
    """409 WRONG_COMPANY if any transaction or entry named (our ids or, for transactions, the client's) is
    another company's than the one the request is for: a stale or forged form never books into the wrong
    books. Unknown ids are left to the action's own 404."""
    get_company(tenant_id, company_id)
    elsewhere: list[str] = []
    if txn_ids:
        elsewhere += db.session.scalars(select(Transaction.id).where(
            Transaction.tenant_id == tenant_id, Transaction.id.in_(txn_ids),
            Transaction.company_id != company_id)).all()
    if je_ids:
        elsewhere += db.session.scalars(select(JournalEntry.id).where(
            JournalEntry.tenant_id == tenant_id, JournalEntry.id.in_(je_ids),
            JournalEntry.company_id != company_id)).all()
    if elsewhere:
        raise Conflict("WRONG_COMPANY", "Some rows belong to another company than the one this page shows; "
                                        "nothing was changed.", ids=elsewhere, company_id=company_id)
