"""The proposer's memory of a company's postings: per counterparty key or description pattern, how many
posted entries went to each account (table posting_history).

Posting counts into it in the same unit of work (count_posted; on PostgreSQL in posting's own UPDATE, see
counting_alongside), and posted entries never change, so the counts always equal an aggregation of the ledger;
the proposer reads them with one indexed query.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import TextClause, bindparam, select, text

from webapp.extensions import execute_core, insert_unnested, unnested_params
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
_UPSERT = "ON CONFLICT (company_id, kind, match_key, account_id) DO UPDATE SET n = posting_history.n + excluded.n"
_COLUMNS = ("company_id", "kind", "match_key", "account_id", "n")
_COUNT = text(f"INSERT INTO posting_history ({', '.join(_COLUMNS)}) VALUES (:{', :'.join(_COLUMNS)}) {_UPSERT}")
# PostgreSQL's: the rows as one array per column (insert_unnested), so one fixed statement carries any
# number of them, and it can ride in another statement as a data-modifying CTE (counting_alongside).
_COUNT_UNNESTED = f"{insert_unnested(_TABLE, _COLUMNS)} {_UPSERT}"
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


def _rows(entries: Iterable[LoadedEntry]) -> list[dict[str, object]]:
    """The history rows counting these entries (their transaction loaded), in key order: two postings touching
    the same counters lock them in one order."""
    counts = Counter((*key, entry.account_id) for entry in entries for key in keys_of(entry.transaction))
    return [dict(zip(_COLUMNS, (*key, n), strict=True)) for key, n in sorted(counts.items())]


def count_posted(entries: Iterable[LoadedEntry]) -> None:
    """Count entries being posted into the history: one statement, in the caller's unit of work."""
    rows = _rows(entries)
    if rows:
        execute_core(_COUNT, rows)


def counting_alongside(update: str) -> TextClause:
    """PostgreSQL: ONE statement running `update` (an UPDATE … RETURNING of the entries being posted, SQL text)
    and counting entries into the history, a round trip fewer than count_posted after it. Its one row is the
    number of rows `update` returned. Its parameters: update's, and counting_params of the entries. Build it
    once (a module constant): it is the same SQL for any number of entries.

    The UPDATE runs first (the SELECT reads it; the unreferenced CTE runs at the statement's end), so locks
    are taken in count_posted's order: the entries, then the counters in key order. The counting runs whatever
    the UPDATE finds: a caller refusing on that number must roll its unit of work back (as every refusal
    does), which takes the counts with it."""
    return text(f"WITH changed AS ({update}), counted AS ({_COUNT_UNNESTED}) SELECT count(*) FROM changed")


def counting_params(entries: Iterable[LoadedEntry]) -> dict[str, list[object]]:
    """The parameters of a counting_alongside statement counting these entries (none: it counts nothing)."""
    return unnested_params(_TABLE, _COLUMNS, _rows(entries))


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
