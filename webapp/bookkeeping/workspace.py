"""The workspace page's view model: one company's transactions, proposals, ledger and trial balance."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from webapp.billing.status import HeaderMeter, header_meter
from webapp.bookkeeping.accounts import BANK, list_accounts
from webapp.bookkeeping.ledger import TrialBalance, trial_balance
from webapp.bookkeeping.services import get_company, list_companies
from webapp.extensions import db
from webapp.models import Account, Company, JournalEntry, JournalLine, Transaction

SHOWN_ROWS = 200  # rows per table; the API pages through everything


@dataclass(frozen=True)
class TxnRow:
    """An imported transaction not yet in the ledger, and whether it has a proposal."""

    id: str
    date: date
    description: str
    counterparty: str | None
    amount_cents: int
    proposed: bool


@dataclass(frozen=True)
class ProposalRow:
    """A proposed entry: the account it goes to, how sure the proposer is, and why."""

    id: str
    date: date
    memo: str
    amount_cents: int
    account_code: str
    account_name: str
    confidence_pct: int
    reason: str

    @property
    def confidence_level(self) -> str:
        """high (80 %+), medium (60 %+) or low: the badge's tone."""
        return "high" if self.confidence_pct >= 80 else "medium" if self.confidence_pct >= 60 else "low"


@dataclass(frozen=True)
class LedgerRow:
    """A posted entry as the ledger table shows it: date, memo, debit and credit account, amount."""

    id: str
    date: date
    memo: str
    debit: str
    credit: str
    amount_cents: int


@dataclass
class Workspace:
    """Everything /app shows for one company; `errors` and `form` carry a rejected form back to its fields."""

    companies: list[Company]
    company: Company
    transactions: list[TxnRow]
    transactions_total: int
    proposals: list[ProposalRow]
    ledger: list[LedgerRow]
    trial_balance: TrialBalance
    accounts: list[Account]
    meter: HeaderMeter
    notice: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)


def _transactions(company_id: str) -> tuple[list[TxnRow], int]:
    unposted = (select(Transaction, JournalEntry.status).outerjoin(JournalEntry, JournalEntry.txn_id == Transaction.id)
                .where(Transaction.company_id == company_id,
                       (JournalEntry.status.is_(None)) | (JournalEntry.status == "proposed")))
    total = db.session.scalar(select(func.count()).select_from(unposted.subquery())) or 0
    rows = db.session.execute(unposted.order_by(Transaction.date.desc(), Transaction.id).limit(SHOWN_ROWS))
    return [TxnRow(t.id, t.date, t.description, t.counterparty, t.amount_cents, status == "proposed")
            for t, status in rows], total


def _proposals(company_id: str) -> list[ProposalRow]:
    stmt = (select(JournalEntry).where(JournalEntry.company_id == company_id, JournalEntry.status == "proposed")
            .options(joinedload(JournalEntry.account), joinedload(JournalEntry.transaction))
            .order_by(JournalEntry.date.desc(), JournalEntry.id).limit(SHOWN_ROWS))
    return [ProposalRow(e.id, e.date, e.memo, e.transaction.amount_cents, e.account.code, e.account.name,
                        e.confidence_pct, e.reason) for e in db.session.scalars(stmt)]


def _ledger(company_id: str) -> list[LedgerRow]:
    stmt = (select(JournalEntry).where(JournalEntry.company_id == company_id, JournalEntry.status == "posted")
            .options(selectinload(JournalEntry.lines).joinedload(JournalLine.account))
            .order_by(JournalEntry.date.desc(), JournalEntry.posted_at.desc(), JournalEntry.id).limit(SHOWN_ROWS))
    rows = []
    for entry in db.session.scalars(stmt):
        debit = next(line for line in entry.lines if line.amount_cents > 0)
        credit = next(line for line in entry.lines if line.amount_cents < 0)
        rows.append(LedgerRow(entry.id, entry.date, entry.memo, f"{debit.account.code} {debit.account.name}",
                              f"{credit.account.code} {credit.account.name}", debit.amount_cents))
    return rows


def workspace_view(tenant_id: str, company_id: str | None, notice: str | None = None,
                   errors: dict[str, str] | None = None, form: dict[str, str] | None = None) -> Workspace:
    """Read the workspace of one company (the tenant's first when none is named); 404 for another tenant's."""
    company = get_company(tenant_id, company_id or None)
    txns, total = _transactions(company.id)
    return Workspace(
        companies=list_companies(tenant_id), company=company, transactions=txns, transactions_total=total,
        proposals=_proposals(company.id), ledger=_ledger(company.id),
        trial_balance=trial_balance(tenant_id, company.id),
        accounts=[a for a in list_accounts(company.id) if a.code != BANK], meter=header_meter(tenant_id),
        notice=notice, errors=errors or {}, form=form or {})
