"""The workspace page's view model: one company's transactions, proposals, ledger and trial balance."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from webapp.bookkeeping.accounts import BANK, list_accounts
from webapp.bookkeeping.csv_dates import DMY, MDY, example
from webapp.bookkeeping.csv_import import Statement
from webapp.bookkeeping.ledger import TrialBalance, count_rows, trial_balance
from webapp.bookkeeping.posting import LoadedEntry
from webapp.bookkeeping.proposals import ProposedEntry
from webapp.bookkeeping.services import get_company, list_companies
from webapp.extensions import db
from webapp.models import Account, Company, JournalEntry, JournalLine, Transaction


@dataclass(frozen=True)
class Feedback:
    """What an action did, shown next to the control that did it: `at` names the card ("company",
    "import", "transactions", "proposals"); `row` the row a row button acted on (its status shows there)."""

    text: str
    at: str
    row: str | None = None
    row_date: date | None = None

    @classmethod
    def proposed(cls, entries: Sequence[tuple[str, ProposedEntry]], single: bool) -> Feedback:
        """After Propose: on its row (with the account proposed) or beside Propose selected."""
        if single and len(entries) == 1:
            entry = entries[0][1]
            return cls(f"Proposed 1 entry: {entry.account.code} {entry.account.name} ({entry.confidence_pct} %).",
                       "transactions", entry.txn_id)
        one = len(entries) == 1
        return cls(f"Proposed {len(entries)} entr{'y' if one else 'ies'}: check {'it' if one else 'them'} under "
                   "Proposals.", "transactions")

    @classmethod
    def posted(cls, entries: Sequence[LoadedEntry], single: bool) -> Feedback:
        """After Commit: where the committed row was (it has left the table) or beside Commit selected."""
        if single and len(entries) == 1:
            entry = entries[0]
            return cls(f"Posted 1 entry: {entry.memo} to {entry.account.code} {entry.account.name}.",
                       "proposals", entry.id, entry.date)
        return cls(f"Posted {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} to the ledger.", "proposals")


@dataclass(frozen=True)
class StatementPreview:
    """A statement read but not yet imported: where it came from, its text (carried in the form, so
    nothing is kept on the server), and what was found in it."""

    source: str
    text: str
    statement: Statement

    @property
    def date_sample(self) -> str | None:
        """A date of the file that reads both ways, for the question."""
        return self.statement.date_sample

    def reading(self, order: str) -> str:
        """How the sample date reads in `order`."""
        return example(MDY if order == MDY else DMY, self.date_sample or "")

PAGE_SIZE = 100  # rows per table page; the API pages through everything too
PAGE_ARGS = ("tx_page", "prop_page", "ledger_page")  # one page number per table, in the query string


@dataclass(frozen=True)
class Pager:
    """Where one table is: page `number` (from 1) of `total` rows, PAGE_SIZE to a page."""

    arg: str
    number: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages there are (at least one, even when empty)."""
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def first_row(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_row(self) -> int:
        return min(self.total, self.offset + self.size)


def pager(arg: str, requested: int, total: int) -> Pager:
    """A page number clamped into 1..last page, so a stale or edited link still shows rows."""
    last = Pager(arg, 1, total).pages
    return Pager(arg, min(max(1, requested), last), total)


def page_numbers(values: Mapping[str, str]) -> dict[str, int]:
    """The page of each table a request asks for; anything but a positive integer means page 1."""
    numbers = {}
    for arg in PAGE_ARGS:
        raw = values.get(arg, "")
        numbers[arg] = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 else 1
    return numbers


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
    transactions_page: Pager
    proposals: list[ProposalRow]
    proposals_page: Pager
    ledger: list[LedgerRow]
    ledger_page: Pager
    trial_balance: TrialBalance
    accounts: list[Account]
    feedback: Feedback | None = None
    errors: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    statement: StatementPreview | None = None
    posted_slot: int | None = None  # where a row a single Commit posted was: its status line goes there

    @property
    def archived(self) -> bool:
        """The company is archived: its books are shown read-only."""
        return self.company.archived_at is not None

    @property
    def active_companies(self) -> list[Company]:
        """The companies work can go into, oldest first (the switcher's main list)."""
        return [c for c in self.companies if c.archived_at is None]

    @property
    def archived_companies(self) -> list[Company]:
        """The archived companies, whose books can still be read."""
        return [c for c in self.companies if c.archived_at is not None]

    def feedback_at(self, at: str, row: str | None = None) -> str | None:
        """The feedback text if it belongs at this card (and row, for a row's own status)."""
        fb = self.feedback
        return fb.text if fb is not None and fb.at == at and fb.row == row else None


    @property
    def page_numbers(self) -> dict[str, int]:
        """The tables not on their first page, and their page: what links and forms carry to come back here."""
        return {p.arg: p.number for p in (self.transactions_page, self.proposals_page, self.ledger_page)
                if p.number > 1}

    def page_link_args(self, pager: Pager, number: int) -> dict[str, object]:
        """url_for arguments for `pager` turned to page `number`, the other tables staying where they are."""
        args: dict[str, object] = {"company_id": self.company.id, **self.page_numbers, pager.arg: number}
        if number == 1:
            del args[pager.arg]
        return args


def _transactions(company_id: str, page: int) -> tuple[list[TxnRow], Pager]:
    unposted = (select(Transaction, JournalEntry.status).outerjoin(JournalEntry, JournalEntry.txn_id == Transaction.id)
                .where(Transaction.company_id == company_id,
                       (JournalEntry.status.is_(None)) | (JournalEntry.status == "proposed")))
    at = pager("tx_page", page, count_rows(unposted))
    rows = db.session.execute(unposted.order_by(Transaction.date.desc(), Transaction.id)
                              .offset(at.offset).limit(at.size))
    return [TxnRow(t.id, t.date, t.description, t.counterparty, t.amount_cents, status == "proposed")
            for t, status in rows], at


def _proposals(company_id: str, page: int) -> tuple[list[ProposalRow], Pager]:
    proposed = select(JournalEntry).where(JournalEntry.company_id == company_id, JournalEntry.status == "proposed")
    at = pager("prop_page", page, count_rows(proposed))
    stmt = (proposed.options(joinedload(JournalEntry.account), joinedload(JournalEntry.transaction))
            .order_by(JournalEntry.date.desc(), JournalEntry.id).offset(at.offset).limit(at.size))
    return [ProposalRow(e.id, e.date, e.memo, e.transaction.amount_cents, e.account.code, e.account.name,
                        e.confidence_pct, e.reason) for e in db.session.scalars(stmt)], at


def _ledger(company_id: str, page: int) -> tuple[list[LedgerRow], Pager]:
    posted = select(JournalEntry).where(JournalEntry.company_id == company_id, JournalEntry.status == "posted")
    at = pager("ledger_page", page, count_rows(posted))
    stmt = (posted.options(selectinload(JournalEntry.lines).joinedload(JournalLine.account))
            .order_by(JournalEntry.date.desc(), JournalEntry.posted_at.desc(), JournalEntry.id)
            .offset(at.offset).limit(at.size))
    rows = []
    for entry in db.session.scalars(stmt):
        debit = next(line for line in entry.lines if line.amount_cents > 0)
        credit = next(line for line in entry.lines if line.amount_cents < 0)
        rows.append(LedgerRow(entry.id, entry.date, entry.memo, f"{debit.account.code} {debit.account.name}",
                              f"{credit.account.code} {credit.account.name}", debit.amount_cents))
    return rows, at


def _slot(rows: list[ProposalRow], feedback: Feedback | None) -> int | None:
    """Where the row a single Commit posted was in the (date desc, id) order: the index it would have."""
    if feedback is None or feedback.at != "proposals" or feedback.row_date is None or feedback.row is None:
        return None
    key = (feedback.row_date, feedback.row)
    return next((i for i, p in enumerate(rows) if p.date < key[0] or (p.date == key[0] and p.id > key[1])), len(rows))


def workspace_view(tenant_id: str, company_id: str, feedback: Feedback | None = None,
                   errors: dict[str, str] | None = None, form: dict[str, str] | None = None,
                   pages: Mapping[str, int] | None = None, statement: StatementPreview | None = None) -> Workspace:
    """Read the workspace of one company; 404 for another tenant's (or none).

    `pages` holds each table's page number (PAGE_ARGS); a number past the end shows the last page.
    """
    company = get_company(tenant_id, company_id)
    pages = pages or {}
    txns, txns_at = _transactions(company.id, pages.get("tx_page", 1))
    proposed, proposed_at = _proposals(company.id, pages.get("prop_page", 1))
    ledger, ledger_at = _ledger(company.id, pages.get("ledger_page", 1))
    return Workspace(
        companies=list_companies(tenant_id), company=company, transactions=txns, transactions_page=txns_at,
        proposals=proposed, proposals_page=proposed_at, ledger=ledger, ledger_page=ledger_at,
        trial_balance=trial_balance(tenant_id, company.id),
        accounts=[a for a in list_accounts(company.id) if a.code != BANK], feedback=feedback,
        errors=errors or {}, form=form or {}, statement=statement, posted_slot=_slot(proposed, feedback))
