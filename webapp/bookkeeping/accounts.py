"""Charts of accounts: every company gets the default small-business chart when it is created."""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import bindparam, select

from webapp.extensions import IDS, ONE_ID, db, execute_for_ids
from webapp.ids import new_id
from webapp.models import Account, Company

BANK = "1000"
UNCATEGORIZED_INCOME = "4999"
UNCATEGORIZED_EXPENSE = "6999"

# (code, name, type): a small business's chart; the proposer's rules name accounts by these codes.
DEFAULT_CHART: tuple[tuple[str, str, str], ...] = (
    (BANK, "Bank", "asset"),
    ("1100", "Accounts Receivable", "asset"),
    ("1500", "Equipment", "asset"),
    ("2000", "Accounts Payable", "liability"),
    ("2100", "Credit Card", "liability"),
    ("2200", "Sales Tax Payable", "liability"),
    ("2500", "Loans Payable", "liability"),
    ("3000", "Owner's Equity", "equity"),
    ("3100", "Owner's Draw", "equity"),
    ("4000", "Sales", "income"),
    ("4100", "Service Revenue", "income"),
    ("4900", "Interest Income", "income"),
    (UNCATEGORIZED_INCOME, "Uncategorized Income", "income"),
    ("5000", "Cost of Goods Sold", "expense"),
    ("6000", "Advertising & Marketing", "expense"),
    ("6100", "Bank Fees", "expense"),
    ("6200", "Meals & Entertainment", "expense"),
    ("6300", "Office Supplies", "expense"),
    ("6400", "Rent", "expense"),
    ("6500", "Software & Subscriptions", "expense"),
    ("6600", "Travel", "expense"),
    ("6700", "Utilities & Telecom", "expense"),
    ("6800", "Payroll", "expense"),
    ("6900", "Professional Fees", "expense"),
    ("6950", "Insurance", "expense"),
    ("6960", "Taxes & Licenses", "expense"),
    (UNCATEGORIZED_EXPENSE, "Uncategorized Expense", "expense"),
)


def add_default_chart(company: Company) -> list[Account]:
    """Add the default chart for a new company to the session (part of the caller's unit of work)."""
    accounts = [Account(id=new_id("acct"), tenant_id=company.tenant_id, company_id=company.id, company=company,
                        code=code, name=name, type=kind) for code, name, kind in DEFAULT_CHART]
    db.session.add_all(accounts)
    return accounts


def list_accounts(company_id: str) -> list[Account]:
    """Return a company's chart, ordered by code."""
    return list(db.session.scalars(select(Account).where(Account.company_id == company_id).order_by(Account.code)))


class ChartAccount(NamedTuple):
    """One account of a chart as read for proposing and choosing (plain values, no ORM object)."""

    id: str
    company_id: str
    code: str
    name: str
    type: str


_ACCOUNTS = Account.__table__.c
_COMPANIES = Company.__table__.c
# Built once: every proposal reads its companies' charts (of any number of companies, and of one:
# execute_for_ids); the active ones' too.
_CHARTS, _CHART = (select(_ACCOUNTS.id, _ACCOUNTS.company_id, _ACCOUNTS.code, _ACCOUNTS.name, _ACCOUNTS.type)
                   .where(companies) for companies in (_ACCOUNTS.company_id.in_(bindparam(IDS, expanding=True)),
                                                       _ACCOUNTS.company_id == bindparam(ONE_ID)))
_ACTIVE_CHARTS, _ACTIVE_CHART = (
    chart.join_from(Account.__table__, Company.__table__, _COMPANIES.id == _ACCOUNTS.company_id)
    .where(_COMPANIES.archived_at.is_(None)) for chart in (_CHARTS, _CHART))


def charts_for(company_ids: Iterable[str], active_only: bool = False) -> dict[str, dict[str, ChartAccount]]:
    """Return {company_id: {code: ChartAccount}} for the given companies, in one query; with active_only,
    an archived company's chart is left empty."""
    charts: dict[str, dict[str, ChartAccount]] = {cid: {} for cid in company_ids}
    if charts:
        many, one = (_ACTIVE_CHARTS, _ACTIVE_CHART) if active_only else (_CHARTS, _CHART)
        for row in execute_for_ids(many, one, list(charts)):
            account = ChartAccount(*row)
            charts[account.company_id][account.code] = account
    return charts
