"""Proposing entries: the tenant's own posted history first, then keyword rules; no outside service."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from webapp import clock
from webapp.bookkeeping import rules
from webapp.bookkeeping.accounts import (BANK, UNCATEGORIZED_EXPENSE, UNCATEGORIZED_INCOME, ChartAccount,
                                         charts_for)
from webapp.bookkeeping.history import History, posted_history
from webapp.bookkeeping.posting import EntryLine, LoadedEntry, load_entries, post_loaded
from webapp.bookkeeping.services import refuse_archived
from webapp.bookkeeping.transactions import NamedTransaction, check_ids, resolve_transactions
from webapp.errors import Conflict, ValidationError
from webapp.extensions import (commit_keeping_loaded, db, execute_core, insert_unnested, insert_values,
                               on_postgresql, unnested_params, values_params)
from webapp.ids import new_id
from webapp.metering.guards import settle_pending
from webapp.models import JournalEntry, JournalLine

log = logging.getLogger(__name__)

BANK_LINE, CATEGORY_LINE = 1, 2  # an entry's two lines: the bank's, then the category the proposer chose

# History confidences, in percent: a base, a step per earlier agreeing posting, and a ceiling.
COUNTERPARTY_CONFIDENCE = (80, 5, 97)
PATTERN_CONFIDENCE = (70, 5, 90)
UNCATEGORIZED = frozenset({UNCATEGORIZED_INCOME, UNCATEGORIZED_EXPENSE})


@dataclass(frozen=True)
class Suggestion:
    """Which account a transaction goes to, how sure we are (percent), and why."""

    account: ChartAccount
    confidence_pct: int
    source: str
    reason: str


def _from_history(counts: Counter[str], accounts: dict[str, ChartAccount], scale: tuple[int, int, int],
                  kind: str) -> Suggestion | None:
    """The account most often posted to, unless only an Uncategorized account was: parking a transaction
    there is the absence of an answer, never one to learn. Uncategorized postings still count in the
    total, so they lower the confidence of the real answer beside them."""
    answers = Counter({account_id: n for account_id, n in counts.items()
                       if account_id in accounts and accounts[account_id].code not in UNCATEGORIZED})
    if not answers:
        return None
    account_id, top = answers.most_common(1)[0]
    account = accounts[account_id]
    base, step, ceiling = scale
    total = sum(counts.values())
    confidence = min(ceiling, base + step * (top - 1)) * top // total
    what = "description pattern" if kind == "pattern" else kind
    reason = (f"Same {what} as {top} of {total} earlier posted transaction{'s' if total != 1 else ''}, "
              f"posted to {account.code} {account.name}")
    return Suggestion(account, confidence, f"history_{kind}", reason)


def suggest(txn: NamedTransaction, history: History, chart: dict[str, ChartAccount]) -> Suggestion:
    """The account for one transaction: same counterparty, then same description pattern, then keywords."""
    by_id = {a.id: a for a in chart.values()}
    for kind, key, scale in (("counterparty", txn.counterparty_key, COUNTERPARTY_CONFIDENCE),
                             ("pattern", txn.pattern, PATTERN_CONFIDENCE)):
        counts = history.get((txn.company_id, kind, key or ""))
        if counts:
            found = _from_history(counts, by_id, scale, kind)
            if found is not None:
                return found
    money_in = txn.amount_cents > 0
    keyword = rules.match_keyword(txn.description, txn.counterparty, money_in)
    if keyword is not None:
        account = chart[keyword[0]]
        return Suggestion(account, rules.KEYWORD_CONFIDENCE, "keyword",
                          f"Keyword '{keyword[1]}' suggests {account.code} {account.name}")
    account = chart[rules.fallback_code(money_in)]
    return Suggestion(account, rules.FALLBACK_CONFIDENCE, "fallback",
                      f"No history or keyword matched; {account.code} {account.name} until you choose")


# Built once (every proposal runs them). A proposal's rows go in with Core: the entry and its two lines
# are known whole, so the ORM's unit of work would only add bookkeeping, and a statement per line.
_INSERT_ENTRIES = insert(JournalEntry.__table__)
_INSERT_LINES = insert(JournalLine.__table__)
# PostgreSQL's: both INSERTs in ONE statement (a round trip fewer), the entries' as a data-modifying CTE. Its
# lines reference entries the same statement inserts: PostgreSQL checks foreign keys at the statement's end.
# (The unreferenced CTE runs after the lines' INSERT, so the lines' ledger guard finds no entry to lock:
# nothing to guard, as nobody else sees these entries before the commit.) A pair, like execute_for_ids':
# one entry (most requests) as VALUES, the cheapest for the client; any number as one array per column
# (insert_unnested), the same statement for any number of entries, with 17 parameters for the largest
# request (MAX_IDS transactions) as for two.
# The columns are the tables' own (ProposedEntry.row and line_rows give every one; a line's id is the database's).
_ENTRY_COLUMNS = tuple(JournalEntry.__table__.c.keys())
_LINE_COLUMNS = tuple(c.key for c in JournalLine.__table__.c if not c.primary_key)
_ENTRY_LINES = 2  # build_entry's: the bank's and the category's
_INSERT_PROPOSALS = text(f"WITH entries AS ({insert_unnested(JournalEntry.__table__, _ENTRY_COLUMNS)}) "
                         f"{insert_unnested(JournalLine.__table__, _LINE_COLUMNS)}")
_INSERT_PROPOSAL = text(f"WITH entries AS ({insert_values(JournalEntry.__table__, _ENTRY_COLUMNS, 1)}) "
                        f"{insert_values(JournalLine.__table__, _LINE_COLUMNS, _ENTRY_LINES)}")


@dataclass(frozen=True)
class ProposedEntry:
    """A proposal as propose_entries wrote it, with what its answer shows (the API's entry_json, the
    workspace's feedback): built in memory and written with Core, so nothing is read back."""

    id: str
    transaction: NamedTransaction
    account: ChartAccount
    confidence_pct: int
    source: str
    reason: str
    proposed_at: datetime
    lines: tuple[EntryLine, ...]
    status: str = "proposed"
    posted_at: datetime | None = None

    @property
    def txn_id(self) -> str:
        return self.transaction.id

    @property
    def company_id(self) -> str:
        return self.transaction.company_id

    @property
    def date(self) -> date:
        return self.transaction.date

    @property
    def memo(self) -> str:
        return self.transaction.description

    def row(self) -> dict[str, object]:
        """Its journal_entries row."""
        txn = self.transaction
        return {"id": self.id, "tenant_id": txn.tenant_id, "company_id": txn.company_id, "txn_id": txn.id,
                "status": self.status, "date": txn.date, "memo": txn.description, "account_id": self.account.id,
                "confidence_pct": self.confidence_pct, "source": self.source, "reason": self.reason,
                "proposed_at": self.proposed_at, "posted_at": self.posted_at}

    def line_rows(self) -> list[dict[str, object]]:
        """Its journal_lines rows (their ids are the database's)."""
        return [{"entry_id": self.id, "account_id": line.account.id, "position": line.position,
                 "amount_cents": line.amount_cents} for line in self.lines]


def _insert(entries: list[ProposedEntry]) -> None:
    """Write proposed entries and their lines (in the caller's unit of work)."""
    rows = [entry.row() for entry in entries]
    line_rows = [row for entry in entries for row in entry.line_rows()]
    if on_postgresql():
        one = len(rows) == 1 and len(line_rows) == _ENTRY_LINES
        statement, params = (_INSERT_PROPOSAL, values_params) if one else (_INSERT_PROPOSALS, unnested_params)
        execute_core(statement, {**params(JournalEntry.__table__, _ENTRY_COLUMNS, rows),
                                 **params(JournalLine.__table__, _LINE_COLUMNS, line_rows)})
    else:
        execute_core(_INSERT_ENTRIES, rows)
        execute_core(_INSERT_LINES, line_rows)


def build_entry(txn: NamedTransaction, suggestion: Suggestion, bank: ChartAccount, now: datetime) -> ProposedEntry:
    """A balanced two-line entry: money in debits the bank, money out credits it."""
    return ProposedEntry(id=new_id("je"), transaction=txn, account=suggestion.account,
                         confidence_pct=suggestion.confidence_pct, source=suggestion.source,
                         reason=suggestion.reason[:300], proposed_at=now,
                         lines=(EntryLine(bank, BANK_LINE, txn.amount_cents),
                                EntryLine(suggestion.account, CATEGORY_LINE, -txn.amount_cents)))


def replace_proposals(txn_ids: list[str], requested: list[str]) -> None:
    """Delete the unposted entries of these transactions; the status condition spares one posted meanwhile."""
    stale = select(JournalEntry.id).where(JournalEntry.txn_id.in_(txn_ids), JournalEntry.status == "proposed")
    # "fetch" (RETURNING the deleted keys, no extra round trip) drops the deleted rows from the session too:
    # SQLite may hand their ids to the new lines, which must not meet a stale object under the same key.
    fetch = {"synchronize_session": "fetch"}
    db.session.execute(delete(JournalLine).where(JournalLine.entry_id.in_(stale)).execution_options(**fetch))
    gone = db.session.execute(delete(JournalEntry).where(
        JournalEntry.txn_id.in_(txn_ids), JournalEntry.status == "proposed").execution_options(**fetch))
    if gone.rowcount != len(txn_ids):
        raise Conflict("ALREADY_POSTED", "Some transactions were posted meanwhile.", ids=requested)


def propose_entries(tenant_id: str, txn_ids: list[str]) -> list[tuple[str, ProposedEntry]]:
    """Propose (or re-propose) one entry per transaction, however many of the ids name it; 409 ALREADY_POSTED
    if any is posted already. Returns (the first id that named the transaction, its entry) in request order."""
    ids = check_ids(txn_ids, "txn_ids")
    resolved = resolve_transactions(tenant_id, ids)
    txns = list(resolved.values())
    # Active companies' charts only: a company without one here is archived, and refuse_archived says so.
    charts = charts_for({t.company_id for t in txns}, active_only=True)
    missing = {company_id for company_id, chart in charts.items() if not chart}
    if missing:
        refuse_archived(missing)
    # Each transaction came with its entry's status, read before any write of this unit of work; an entry
    # posted since that read is spared by replace_proposals' DELETE, which then refuses the request.
    earlier = {t.id: t.entry_status for t in txns if t.entry_status is not None}
    posted = [requested for requested, t in resolved.items() if earlier.get(t.id) == "posted"]
    if posted:
        raise Conflict("ALREADY_POSTED", "Some transactions are posted already.", ids=posted)
    if earlier:
        replace_proposals(list(earlier), ids)
    history = posted_history(txns)
    # One entry per transaction, under the first id that named it (["txn_2", "<our id of txn_2>"] is one).
    first_named: dict[str, tuple[str, NamedTransaction]] = {}
    for requested, txn in resolved.items():
        first_named.setdefault(txn.id, (requested, txn))
    now = clock.now()
    out = []
    for requested, txn in first_named.values():
        chart = charts[txn.company_id]
        out.append((requested, build_entry(txn, suggest(txn, history, chart), chart[BANK], now)))
    try:
        _insert([entry for _, entry in out])
        settle_pending()  # the gate's count, last, so the usage row is locked only until the commit below
        commit_keeping_loaded()  # the answer is the entries just built, with their transactions as loaded
    except IntegrityError as exc:  # another request proposed the same transaction at the same moment
        db.session.rollback()
        raise Conflict("PROPOSAL_CONFLICT", "These transactions were being proposed at the same time; retry.",
                       ids=ids) from exc
    log.info("bookkeeping.proposed", extra={"tenant_id": tenant_id, "count": len(out)})
    return out


NOT_A_CATEGORY = "is not a category account of this company's chart"


def _point_at(entry: LoadedEntry, account: ChartAccount) -> LoadedEntry:
    """Point a proposed entry and its category line at `account`, as the user's choice (caller commits);
    the entry as it now stands, so nobody reads it again."""
    choice = {"confidence_pct": 100, "source": "manual", "reason": f"Chosen by you: {account.code} {account.name}"}
    changed = db.session.execute(
        update(JournalEntry).where(JournalEntry.id == entry.id, JournalEntry.status == "proposed")
        .values(account_id=account.id, **choice).execution_options(synchronize_session=False))
    if changed.rowcount != 1:
        raise Conflict("ALREADY_POSTED", "The entry was posted meanwhile.", ids=[entry.id])
    db.session.execute(update(JournalLine)
                       .where(JournalLine.entry_id == entry.id, JournalLine.position == CATEGORY_LINE)
                       .values(account_id=account.id).execution_options(synchronize_session=False))
    lines = tuple(replace(line, account=account) if line.position == CATEGORY_LINE else line for line in entry.lines)
    return replace(entry, account=account, lines=lines, **choice)


def _category(chart: dict[str, ChartAccount], code: str) -> ChartAccount | None:
    """The chart's account with this code, unless it is the bank (the other side of every entry)."""
    account = chart.get(code)
    return None if account is None or account.code == BANK else account


def reassign_account(tenant_id: str, je_id: str, account_code: str) -> LoadedEntry:
    """Point a proposed entry at another account of its company's chart (the user's correction)."""
    entry = load_entries(tenant_id, [je_id])[0]
    if entry.status == "posted":
        raise Conflict("ALREADY_POSTED", "Posted entries cannot change.", ids=[je_id])
    refuse_archived({entry.company_id})
    account = _category(charts_for([entry.company_id])[entry.company_id], account_code)
    if account is None:
        raise ValidationError("Some fields are missing or invalid.", {"account_code": NOT_A_CATEGORY})
    entry = _point_at(entry, account)
    db.session.commit()
    return entry


def commit_with_accounts(tenant_id: str, je_ids: list[str], accounts: Mapping[str, str]) -> list[LoadedEntry]:
    """Post the entries, each first pointed at the account code `accounts` chose for it where that differs.

    One unit of work with the posting (and the gate's count): a code that is not a category account of
    the entry's chart is a 400 with `fields` {"accounts.<je_id>": problem}, and nothing is posted.
    """
    entries = load_entries(tenant_id, check_ids(je_ids, "je_ids"))  # post_loaded refuses archived companies
    changes = [(e, accounts[e.id]) for e in entries
               if e.status == "proposed" and accounts.get(e.id) not in (None, e.account.code)]
    charts = charts_for({e.company_id for e, _ in changes})
    problems: dict[str, str] = {}
    chosen: list[tuple[LoadedEntry, ChartAccount]] = []
    for entry, code in changes:
        account = _category(charts[entry.company_id], code)
        if account is None:
            problems[f"accounts.{entry.id}"] = NOT_A_CATEGORY
        else:
            chosen.append((entry, account))
    if problems:
        raise ValidationError("Some chosen accounts are not in the chart; nothing was posted.", problems)
    pointed = {entry.id: _point_at(entry, account) for entry, account in chosen}
    return post_loaded(tenant_id, [pointed.get(entry.id, entry) for entry in entries])
