"""Reading the ledger: posted entries and the trial balance, in integer cents."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload, selectinload

from webapp.bookkeeping.services import get_company
from webapp.extensions import db
from webapp.models import Account, JournalEntry, JournalLine

MAX_PAGE = 500


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account's posted totals; `balance_cents` is debits minus credits."""

    code: str
    name: str
    type: str
    debit_cents: int
    credit_cents: int

    @property
    def balance_cents(self) -> int:
        """Debits minus credits."""
        return self.debit_cents - self.credit_cents


@dataclass(frozen=True)
class TrialBalance:
    """Every account with posted lines, and the totals (equal when the books balance)."""

    company_id: str
    as_of: date | None
    rows: list[TrialBalanceRow]

    @property
    def total_debit_cents(self) -> int:
        """Sum of all debits."""
        return sum(r.debit_cents for r in self.rows)

    @property
    def total_credit_cents(self) -> int:
        """Sum of all credits."""
        return sum(r.credit_cents for r in self.rows)


def posted_entries(tenant_id: str, company_id: str | None, limit: int, offset: int) -> tuple[str, list[JournalEntry]]:
    """A page of the company's posted entries, oldest first, with their lines."""
    company = get_company(tenant_id, company_id)
    stmt = (select(JournalEntry).where(JournalEntry.company_id == company.id, JournalEntry.status == "posted")
            .order_by(JournalEntry.date, JournalEntry.posted_at, JournalEntry.id)
            .limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))
            .options(selectinload(JournalEntry.lines).joinedload(JournalLine.account),
                     joinedload(JournalEntry.account), joinedload(JournalEntry.transaction)))
    return company.id, list(db.session.scalars(stmt))


def trial_balance(tenant_id: str, company_id: str | None, as_of: date | None = None) -> TrialBalance:
    """Posted debits and credits per account (up to `as_of` when given), summed in the database."""
    company = get_company(tenant_id, company_id)
    debit = func.coalesce(func.sum(case((JournalLine.amount_cents > 0, JournalLine.amount_cents), else_=0)), 0)
    credit = func.coalesce(func.sum(case((JournalLine.amount_cents < 0, -JournalLine.amount_cents), else_=0)), 0)
    stmt = (select(Account.code, Account.name, Account.type, debit, credit)
            .join(JournalLine, JournalLine.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalEntry.company_id == company.id, JournalEntry.status == "posted")
            .group_by(Account.code, Account.name, Account.type).order_by(Account.code))
    if as_of is not None:
        stmt = stmt.where(JournalEntry.date <= as_of)
    # PostgreSQL sums BIGINT into NUMERIC; int() keeps money integral on both backends.
    rows = [TrialBalanceRow(code, name, kind, int(d), int(c)) for code, name, kind, d, c in db.session.execute(stmt)]
    return TrialBalance(company.id, as_of, rows)
