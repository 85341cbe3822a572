"""The bookkeeping core: charts of accounts, imported transactions, journal entries and their lines."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import Base, UTCDateTime, utc_now
from webapp.models.ledger_guards import attach_ledger_guards
from webapp.models.tenancy import Company

ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")
ENTRY_STATUSES = ("proposed", "posted")
PROPOSAL_SOURCES = ("history_counterparty", "history_pattern", "keyword", "fallback", "manual")
HISTORY_KINDS = ("counterparty", "pattern")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Account(Base):
    """One account of a company's chart; `code` is unique within the company."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("company_id", "code", name="uq_accounts_company_code"),
        CheckConstraint(_one_of("type", ACCOUNT_TYPES), name="type_known"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))

    # Lets the unit of work insert a new company before its chart (no relationship, no ordering).
    company: Mapped[Company] = relationship()


class Transaction(Base):
    """A bank transaction: positive cents are money in, negative money out; `client_id` is the client's own id."""

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("company_id", "client_id", name="uq_transactions_company_client"),
        CheckConstraint("amount_cents <> 0", name="amount_nonzero"),
        Index("ix_transactions_tenant_client", "tenant_id", "client_id"),
        Index("ix_transactions_company_counterparty", "company_id", "counterparty_key"),
        Index("ix_transactions_company_pattern", "company_id", "pattern"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    client_id: Mapped[str | None] = mapped_column(String(64))
    date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(500))
    counterparty: Mapped[str | None] = mapped_column(String(200))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    # Normalised keys the proposer matches posted history on (see bookkeeping/rules.py).
    counterparty_key: Mapped[str | None] = mapped_column(String(200))
    pattern: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class JournalEntry(Base):
    """The entry for one transaction: proposed (rewritable) or posted (immutable, in the ledger: triggers refuse
    any change to a posted entry or its lines, see ledger_guards.py)."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        CheckConstraint(_one_of("status", ENTRY_STATUSES), name="status_known"),
        CheckConstraint(_one_of("source", PROPOSAL_SOURCES), name="source_known"),
        CheckConstraint("confidence_pct BETWEEN 0 AND 100", name="confidence_range"),
        CheckConstraint("(status = 'posted') = (posted_at IS NOT NULL)", name="posted_has_time"),
        Index("ix_journal_entries_company_status_date", "company_id", "status", "date"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    # One entry per transaction, so a transaction can never be posted twice.
    txn_id: Mapped[str] = mapped_column(ForeignKey("transactions.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="proposed")
    date: Mapped[date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(String(500))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    confidence_pct: Mapped[int]
    source: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(300))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship()
    transaction: Mapped[Transaction] = relationship()
    lines: Mapped[list[JournalLine]] = relationship(back_populates="entry", cascade="all, delete-orphan",
                                                    order_by="JournalLine.position")


class JournalLine(Base):
    """One line of an entry: positive cents debit the account, negative cents credit it."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        UniqueConstraint("entry_id", "position", name="uq_journal_lines_entry_position"),
        CheckConstraint("amount_cents <> 0", name="amount_nonzero"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("journal_entries.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    position: Mapped[int]
    amount_cents: Mapped[int] = mapped_column(BigInteger)

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")
    account: Mapped[Account] = relationship()


class PostingHistory(Base):
    """How many of a company's posted entries with one counterparty key (or description pattern) went to one
    account: counted in the unit of work that posts them, so the proposer reads its history with one indexed
    query instead of aggregating the company's whole ledger. Posted entries never change, so neither do
    the counts they made."""

    __tablename__ = "posting_history"
    __table_args__ = (
        CheckConstraint(_one_of("kind", HISTORY_KINDS), name="kind_known"),
        CheckConstraint("n > 0", name="n_positive"),
    )

    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    match_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    n: Mapped[int]


attach_ledger_guards(JournalEntry.__table__, JournalLine.__table__)
