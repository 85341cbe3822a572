"""The proposer's memory of a company's postings: per counterparty key or description pattern, how many
posted entries went to each account (table posting_history).

Posting counts into it in the same unit of work (count_posted), and posted entries never change, so the
counts always equal an aggregation of the ledger; the proposer reads them with one indexed query.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, text

from webapp.extensions import execute_core
from webapp.models import PostingHistory

if TYPE_CHECKING:  # posting counts into the history, so it imports this module
    from webapp.bookkeeping.posting import EntryTransaction, LoadedEntry
    from webapp.bookkeeping.transactions import NamedTransaction

History = dict[tuple[str, str, str], Counter[str]]  # (company_id, kind, key) → posted entries per account_id

_TABLE = PostingHistory.__table__
_KEY = (_TABLE.c.company_id, _TABLE.c.kind, _TABLE.c.match_key, _TABLE.c.account_id)


# Built once. Written out because SQLAlchemy never caches its dialect upsert constructs (sqlite.insert and
# postgresql.insert have inherit_cache = False): built with them, this statement was compiled again on
# every commit, which cost more than running it. SQLite (3.24+) and PostgreSQL spell it the same way.
_COUNT = text(
    "INSERT INTO posting_history (company_id, kind, match_key, account_id, n) "
    "VALUES (:company_id, :kind, :match_key, :account_id, :n) "
    "ON CONFLICT (company_id, kind, match_key, account_id) DO UPDATE SET n = posting_history.n + excluded.n")
# Three INs on the primary key's columns: a search of the key on SQLite too, where a row-value IN
# `(company_id, kind, match_key) IN (…)` scans the table. It may read rows of combinations no transaction
# asked for (a pattern of one company, a counterparty of another); posted_history drops those.
_READ = (select(*_KEY, _TABLE.c.n)
         .where(_TABLE.c.company_id.in_(bindparam("company_ids", expanding=True)),
                _TABLE.c.kind.in_(bindparam("kinds", expanding=True)),
                _TABLE.c.match_key.in_(bindparam("keys", expanding=True))))


def keys_of(txn: NamedTransaction | EntryTransaction) -> list[tuple[str, str, str]]:
    """The (company_id, kind, key) a transaction's history is filed under; a missing or empty key has none."""
    return [(txn.company_id, kind, key) for kind, key in (("counterparty", txn.counterparty_key),
                                                          ("pattern", txn.pattern)) if key]


def count_posted(entries: Iterable[LoadedEntry]) -> None:
    """Count entries being posted (their transaction loaded) into the history: one statement, in the caller's
    unit of work. Rows go in key order, so two postings touching the same counters lock them in one order."""
    counts = Counter((*key, entry.account_id) for entry in entries for key in keys_of(entry.transaction))
    if counts:
        rows = [{"company_id": c, "kind": k, "match_key": m, "account_id": a, "n": n}
                for (c, k, m, a), n in sorted(counts.items())]
        execute_core(_COUNT, rows)


def posted_history(txns: Iterable[NamedTransaction]) -> History:
    """The counts filed under these transactions' keys: one indexed read of posting_history."""
    wanted = {key for txn in txns for key in keys_of(txn)}
    history: History = {}
    if wanted:
        params = {"company_ids": sorted({c for c, _, _ in wanted}), "kinds": sorted({k for _, k, _ in wanted}),
                  "keys": sorted({m for _, _, m in wanted})}
        for company_id, kind, key, account_id, n in execute_core(_READ, params):
            if (company_id, kind, key) in wanted:
                history.setdefault((company_id, kind, key), Counter())[account_id] = n
    return history
