"""Committing proposed entries to the ledger: balanced, all or nothing, and never twice."""
from __future__ import annotations

import logging

from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import Row, bindparam, select, update

from webapp import clock
from webapp.bookkeeping import history
from webapp.bookkeeping.accounts import ChartAccount
from webapp.bookkeeping.services import archived_conflict
from webapp.bookkeeping.transactions import check_ids
from webapp.errors import Conflict, NotFound, Unbalanced
from webapp.extensions import IDS, ONE_ID, commit_keeping_loaded, execute_core, execute_for_ids, on_postgresql
from webapp.metering.guards import settle_pending
from webapp.models import Account, Company, JournalEntry, JournalLine, Transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntryLine:
    """One line of an entry: positive cents debit the account, negative cents credit it."""

    account: ChartAccount
    position: int
    amount_cents: int


@dataclass(frozen=True)
class EntryTransaction:
    """An entry's transaction, with what its answer (entry_json) and the posting history need."""

    id: str
    company_id: str
    client_id: str | None
    amount_cents: int
    currency: str
    counterparty_key: str | None
    pattern: str


@dataclass(frozen=True)
class LoadedEntry:
    """A journal entry as load_entries read it (plain values, no ORM object): what committing checks
    (status, the company's archived_at, the lines), counts (account, transaction) and answers."""

    id: str
    company_id: str
    company_name: str
    company_archived_at: datetime | None
    status: str
    date: date
    memo: str
    account: ChartAccount
    confidence_pct: int
    source: str
    reason: str
    proposed_at: datetime
    posted_at: datetime | None
    transaction: EntryTransaction
    lines: tuple[EntryLine, ...]

    @property
    def account_id(self) -> str:
        return self.account.id


_E = JournalEntry.__table__.c
_A = Account.__table__
_LINE_ACCOUNTS = _A.alias("line_accounts")
_C = Company.__table__.c
_T = Transaction.__table__.c
_L = JournalLine.__table__.c
# Built once (commit runs it on every request): the entries with their account, company, transaction and
# lines in ONE statement, read with Core (an entry has two lines, so joining them costs less than a second
# round trip; the ORM's joined eager loading cost four times as much as the SQL). The lines are an outer
# join: an entry without lines still loads, and check_balanced refuses it. No column is read twice (every
# column costs the driver's description on each execution): the accounts and the transaction are the
# entry's company's. The row's columns, in order:
_ENTRY_COLUMNS = (_E.id, _E.company_id, _C.name, _C.archived_at, _E.status, _E.date, _E.memo,
                  _E.confidence_pct, _E.source, _E.reason, _E.proposed_at, _E.posted_at)
_ACCOUNT_COLUMNS = (_A.c.id, _A.c.code, _A.c.name, _A.c.type)
_TRANSACTION_COLUMNS = (_T.id, _T.client_id, _T.amount_cents, _T.currency, _T.counterparty_key, _T.pattern)
_LINE_COLUMNS = (_L.position, _L.amount_cents, *(_LINE_ACCOUNTS.c[c.name] for c in _ACCOUNT_COLUMNS))
# Each statement naming entries by id comes twice, for execute_for_ids: any number, and one.
_ANY_ID, _ONE_ID = _E.id.in_(bindparam(IDS, expanding=True)), _E.id == bindparam(ONE_ID)
_ENTRIES, _ENTRY = ((select(*_ENTRY_COLUMNS, *_ACCOUNT_COLUMNS, *_TRANSACTION_COLUMNS, *_LINE_COLUMNS)
                     .select_from(JournalEntry.__table__.join(_A, _A.c.id == _E.account_id)
                                  .join(Company.__table__, _C.id == _E.company_id)
                                  .join(Transaction.__table__, _T.id == _E.txn_id)
                                  .outerjoin(JournalLine.__table__, _L.entry_id == _E.id)
                                  .outerjoin(_LINE_ACCOUNTS, _LINE_ACCOUNTS.c.id == _L.account_id))
                     .where(_E.tenant_id == bindparam("tenant_id"), by_id)
                     .order_by(_E.id, _L.position)) for by_id in (_ANY_ID, _ONE_ID))
_AT_ACCOUNT = len(_ENTRY_COLUMNS)
_AT_TRANSACTION = _AT_ACCOUNT + len(_ACCOUNT_COLUMNS)
_AT_LINE = _AT_TRANSACTION + len(_TRANSACTION_COLUMNS)
# Conditional on status, so a concurrent commit of the same entry can never post it twice. A Core
# UPDATE on the table (the ORM-enabled one costs four times as much per execution); the answer is the
# loaded entries with what it wrote, so nothing is read back.
_POST, _POST_ONE = (update(JournalEntry.__table__).where(by_id, _E.status == "proposed")
                    .values(status="posted", posted_at=bindparam("now", type_=_E.posted_at.type))
                    for by_id in (_ANY_ID, _ONE_ID))
# PostgreSQL's: the same UPDATE, and the history's counting, in ONE statement (a round trip fewer): its row
# is the number of entries posted. The ids go as one array, so one statement serves any number of them.
_POST_COUNTING = history.counting_alongside(
    "UPDATE journal_entries SET status = 'posted', posted_at = :now "
    f"WHERE id = ANY(CAST(:{IDS} AS varchar[])) AND status = 'proposed' RETURNING 1"
).bindparams(bindparam("now", type_=_E.posted_at.type))


def _account(company_id: str, id_: str, code: str, name: str, type_: str) -> ChartAccount:
    return ChartAccount(id_, company_id, code, name, type_)


def _entry(row: Row, lines: list[EntryLine]) -> LoadedEntry:
    """The entry of a row of _ENTRIES (any of its rows: they differ in the line only), with its lines."""
    (id_, company_id, company_name, archived_at, status, day, memo, confidence_pct, source, reason, proposed_at,
     posted_at) = row[:_AT_ACCOUNT]
    txn_id, client_id, amount_cents, currency, counterparty_key, pattern = row[_AT_TRANSACTION:_AT_LINE]
    return LoadedEntry(id_, company_id, company_name, archived_at, status, day, memo,
                       _account(company_id, *row[_AT_ACCOUNT:_AT_TRANSACTION]), confidence_pct, source, reason,
                       proposed_at, posted_at, EntryTransaction(txn_id, company_id, client_id, amount_cents,
                                                                currency, counterparty_key, pattern), tuple(lines))


def load_entries(tenant_id: str, ids: list[str]) -> list[LoadedEntry]:
    """The tenant's entries with these ids, in request order, in one SELECT; 404 lists unknown and other
    tenants' ids."""
    first_rows: dict[str, Row] = {}
    lines: dict[str, list[EntryLine]] = {}
    for row in execute_for_ids(_ENTRIES, _ENTRY, ids, tenant_id=tenant_id):
        entry_id = row[0]
        if entry_id not in first_rows:
            first_rows[entry_id], lines[entry_id] = row, []
        position, amount_cents, *account = row[_AT_LINE:]
        if position is not None:
            lines[entry_id].append(EntryLine(_account(row[1], *account), position, amount_cents))
    missing = [i for i in ids if i not in first_rows]
    if missing:
        raise NotFound("Some journal entries do not exist.", ids=missing)
    found = {entry_id: _entry(row, lines[entry_id]) for entry_id, row in first_rows.items()}
    return [found[i] for i in ids]


def check_balanced(entry: LoadedEntry) -> None:
    """Raise Unbalanced unless the entry has two or more lines summing to zero."""
    if len(entry.lines) < 2 or sum(line.amount_cents for line in entry.lines) != 0:
        raise Unbalanced("The entry's lines do not sum to zero; nothing was posted.", ids=[entry.id])


def commit_entries(tenant_id: str, je_ids: list[str]) -> list[LoadedEntry]:
    """Post the entries in one unit of work (with whatever the gate counted); 409 ALREADY_POSTED lists posted ones."""
    return post_loaded(tenant_id, load_entries(tenant_id, check_ids(je_ids, "je_ids")))


def post_loaded(tenant_id: str, entries: list[LoadedEntry]) -> list[LoadedEntry]:
    """Post entries load_entries read in this unit of work (as the caller may have changed them since)."""
    ids = [e.id for e in entries]
    posted = [e.id for e in entries if e.status == "posted"]
    if posted:
        raise Conflict("ALREADY_POSTED", "Some entries are posted already.", ids=posted)
    # A proposal made before its company was archived: posting it would change closed books. The
    # company comes with the entry in the one load, so this costs no statement.
    archived = next((e for e in entries if e.company_archived_at is not None), None)
    if archived is not None:
        raise archived_conflict(archived.company_id, archived.company_name)
    for entry in entries:
        check_balanced(entry)
    now = clock.now()
    # The proposer's memory of what went where is counted in this unit of work: on PostgreSQL by the UPDATE's
    # own statement (a refusal below rolls its counts back with it), elsewhere after it.
    counting = on_postgresql()
    if counting:
        posted_now = execute_core(_POST_COUNTING, {IDS: ids, "now": now, **history.counting_params(entries)}).scalar()
    else:
        posted_now = execute_for_ids(_POST, _POST_ONE, ids, now=now).rowcount
    if posted_now != len(ids):
        raise Conflict("ALREADY_POSTED", "Some entries were posted meanwhile; nothing was posted.", ids=ids)
    entries = [replace(entry, status="posted", posted_at=now) for entry in entries]  # what the UPDATE wrote
    if not counting:
        history.count_posted(entries)
    settle_pending()  # the gate's count, last: the usage row is locked only from here to the commit
    commit_keeping_loaded()
    log.info("bookkeeping.posted", extra={"tenant_id": tenant_id, "count": len(ids)})
    return entries
