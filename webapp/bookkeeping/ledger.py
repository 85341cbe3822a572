"""Reading the ledger: posted entries a page at a time, and the trial balance, in integer cents."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import joinedload, selectinload

from webapp.bookkeeping.services import get_company
from webapp.errors import ValidationError
from webapp.extensions import db
from webapp.models import Account, JournalEntry, JournalLine

DEFAULT_PAGE = 100
MAX_PAGE = 500
MAX_OFFSET = 2**31 - 1  # far beyond any ledger, and inside every backend's OFFSET integer
_WHOLE_NUMBER = re.compile(r"^-?[0-9]+$")


@dataclass(frozen=True)
class PageRequest:
    """Which rows a list request asks for: `limit` rows from `offset`, both checked."""

    limit: int
    offset: int


def _bounded(name: str, raw: str | None, default: int, low: int, high: int, problems: dict[str, str]) -> int:
    if raw is None:
        return default
    text = raw.strip()
    if not _WHOLE_NUMBER.match(text):
        problems[name] = "must be a whole number"
    elif len(text) > 12 or not low <= int(text) <= high:  # the length test keeps int() away from huge strings
        problems[name] = f"must be between {low} and {high}"
    else:
        return int(text)
    return default


def page_request(limit: str | None, offset: str | None) -> PageRequest:
    """Check a list's limit (1..MAX_PAGE, default DEFAULT_PAGE) and offset (0 or more); one 400 lists both."""
    problems: dict[str, str] = {}
    page = PageRequest(_bounded("limit", limit, DEFAULT_PAGE, 1, MAX_PAGE, problems),
                       _bounded("offset", offset, 0, 0, MAX_OFFSET, problems))
    if problems:
        raise ValidationError("Some query parameters are invalid.", problems)
    return page


def count_rows(stmt: Select[Any]) -> int:
    """How many rows a query would return (its ordering dropped), counted in the database."""
    return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


@dataclass(frozen=True)
class LedgerPage:
    """One page of posted entries, and how many there are in all."""

    company_id: str
    limit: int
    offset: int
    total: int
    entries: list[JournalEntry]

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None when this is the last one."""
        after = self.offset + len(self.entries)
        return after if self.entries and after < self.total else None


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account: its net balance (debits minus credits) and the gross turnover behind it."""

    code: str
    name: str
    type: str
    gross_debit_cents: int
    gross_credit_cents: int

    @property
    def balance_cents(self) -> int:
        """Debits minus credits: positive is a debit balance, negative a credit balance."""
        return self.gross_debit_cents - self.gross_credit_cents

    @property
    def debit_cents(self) -> int:
        """The balance in the debit column (0 for an account with a credit balance)."""
        return max(self.balance_cents, 0)

    @property
    def credit_cents(self) -> int:
        """The balance in the credit column (0 for an account with a debit balance)."""
        return max(-self.balance_cents, 0)


@dataclass(frozen=True)
class TrialBalance:
    """Every account with posted lines, and the column totals (equal when the books balance)."""

    company_id: str
    as_of: date | None
    rows: list[TrialBalanceRow]

    @property
    def total_debit_cents(self) -> int:
        """Sum of the debit balances."""
        return sum(r.debit_cents for r in self.rows)

    @property
    def total_credit_cents(self) -> int:
        """Sum of the credit balances."""
        return sum(r.credit_cents for r in self.rows)


def posted_entries(tenant_id: str, company_id: str | None, page: PageRequest) -> LedgerPage:
    """A page of the company's posted entries, oldest first, with their lines and the total count."""
    company = get_company(tenant_id, company_id)
    posted = select(JournalEntry).where(JournalEntry.company_id == company.id, JournalEntry.status == "posted")
    total = count_rows(posted)
    stmt = (posted.order_by(JournalEntry.date, JournalEntry.posted_at, JournalEntry.id)
            .limit(page.limit).offset(page.offset)
            .options(selectinload(JournalEntry.lines).joinedload(JournalLine.account),
                     joinedload(JournalEntry.account), joinedload(JournalEntry.transaction)))
    return LedgerPage(company.id, page.limit, page.offset, total, list(db.session.scalars(stmt)))


def trial_balance(tenant_id: str, company_id: str | None, as_of: date | None = None) -> TrialBalance:
    """Each account's posted balance (up to `as_of` when given), from debits and credits summed in the database."""
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
