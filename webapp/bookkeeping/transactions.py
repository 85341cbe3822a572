"""Importing bank transactions (JSON and CSV share one path) and resolving the ids clients send."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from flask import g, has_request_context
from sqlalchemy import ColumnElement, Select, bindparam, select, union
from sqlalchemy.exc import IntegrityError

from webapp.bookkeeping.rules import counterparty_key, description_pattern
from webapp.bookkeeping.services import get_active_company
from webapp.errors import Conflict, NotFound, ValidationError
from webapp.extensions import IDS, ONE_ID, db, execute_for_ids
from webapp.ids import new_id
from webapp.models import JournalEntry, Transaction

log = logging.getLogger(__name__)

MAX_IMPORT = 1000  # transactions per request
MAX_IDS = 1000  # ids per propose/commit request
MAX_ABS_CENTS = 10**13  # a sanity bound ($100bn), far inside BIGINT
LIMITS = {"id": 64, "description": 500, "counterparty": 200}


@dataclass(frozen=True)
class NewTransaction:
    """One checked transaction, ready to store."""

    client_id: str | None
    date: date
    description: str
    amount_cents: int
    counterparty: str | None


@dataclass(frozen=True)
class ImportResult:
    """What an import did: each row's transaction, and whether it was created now."""

    company_id: str
    rows: list[tuple[Transaction, bool]]

    @property
    def created(self) -> int:
        """How many transactions this import created."""
        return sum(1 for _, new in self.rows if new)


FieldKey = Callable[[str], str]  # how a field of one row is named in a ValidationError's fields


def check_row(raw: object, where: str, problems: dict[str, str], key: FieldKey | None = None) -> NewTransaction | None:
    """Check one incoming transaction; record problems under `key(field)` (default `where.field`), None if any."""
    if not isinstance(raw, dict):
        problems[where] = "must be an object"
        return None
    at = key or (lambda name: f"{where}.{name}")
    before = len(problems)
    for name in raw:
        if name not in ("id", "date", "description", "amount_cents", "counterparty"):
            problems[at(name)] = "is not a known field"
    texts = {name: _text(raw, name, at, problems, required=name == "description")
             for name in ("id", "description", "counterparty")}
    day = _iso_date(raw.get("date"), at("date"), problems)
    amount = raw.get("amount_cents")
    if not isinstance(amount, int) or isinstance(amount, bool):
        problems[at("amount_cents")] = "must be an integer number of cents"
    elif amount == 0 or abs(amount) > MAX_ABS_CENTS:
        problems[at("amount_cents")] = f"must be non-zero and at most {MAX_ABS_CENTS} in size"
    if len(problems) > before or day is None or texts["description"] is None or not isinstance(amount, int):
        return None
    return NewTransaction(texts["id"], day, texts["description"], amount, texts["counterparty"])


def _text(raw: dict[str, object], name: str, at: FieldKey, problems: dict[str, str], required: bool) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            problems[at(name)] = "is required"
        return None
    if not isinstance(value, str) or not value.strip():
        problems[at(name)] = "must be a non-empty string"
        return None
    if len(value.strip()) > LIMITS[name]:
        problems[at(name)] = f"must be at most {LIMITS[name]} characters"
        return None
    return value.strip()


def _iso_date(value: object, where: str, problems: dict[str, str]) -> date | None:
    if not isinstance(value, str):
        problems[where] = "is required, as an ISO date (YYYY-MM-DD)"
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems[where] = "must be an ISO date, YYYY-MM-DD (no other date format is accepted)"
        return None


def check_rows(raw_rows: object, field: str = "transactions") -> list[NewTransaction]:
    """Check a whole batch, reporting every problem at once; a batch with any problem imports nothing."""
    if not isinstance(raw_rows, list) or not raw_rows:
        raise ValidationError("Some fields are missing or invalid.", {field: "must be a non-empty list"})
    if len(raw_rows) > MAX_IMPORT:
        raise ValidationError("Too many transactions.", {field: f"at most {MAX_IMPORT} per request"})
    problems: dict[str, str] = {}
    rows = [check_row(raw, f"{field}[{i}]", problems) for i, raw in enumerate(raw_rows)]
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row is not None and row.client_id is not None:
            if row.client_id in seen:
                problems[f"{field}[{i}].id"] = f"repeats {field}[{seen[row.client_id]}].id"
            seen.setdefault(row.client_id, i)
    if problems:
        raise ValidationError("Some transactions are invalid; nothing was imported.", problems)
    return [row for row in rows if row is not None]


def import_transactions(tenant_id: str, company_id: str | None, raw_rows: object) -> ImportResult:
    """Store new transactions; a client id already imported for the company is returned unchanged.

    The company must be active (409 COMPANY_ARCHIVED); none named means the tenant's first active one."""
    company = get_active_company(tenant_id, company_id)
    rows = check_rows(raw_rows)
    client_ids = [r.client_id for r in rows if r.client_id is not None]
    existing = {t.client_id: t for t in db.session.scalars(
        select(Transaction).where(Transaction.company_id == company.id, Transaction.client_id.in_(client_ids)))}
    out: list[tuple[Transaction, bool]] = []
    for row in rows:
        if row.client_id in existing:
            out.append((existing[row.client_id], False))
            continue
        txn = Transaction(id=new_id("txn"), tenant_id=tenant_id, company_id=company.id, client_id=row.client_id,
                          date=row.date, description=row.description, counterparty=row.counterparty,
                          amount_cents=row.amount_cents, currency="usd",
                          counterparty_key=counterparty_key(row.counterparty),
                          pattern=description_pattern(row.description))
        db.session.add(txn)
        out.append((txn, True))
    try:
        db.session.commit()
    except IntegrityError as exc:  # the same client ids imported by a concurrent request
        db.session.rollback()
        raise Conflict("IMPORT_CONFLICT", "These transactions were being imported at the same time; retry.",
                       ids=client_ids) from exc
    result = ImportResult(company.id, out)
    log.info("bookkeeping.imported", extra={"tenant_id": tenant_id, "company_id": company.id,
                                            "new": result.created, "received": len(rows)})
    return result


def unique_ids(ids: list[str]) -> list[str]:
    """The ids in request order with repeats dropped."""
    return list(dict.fromkeys(ids))


def check_ids(ids: object, field: str) -> list[str]:
    """A non-empty list of id strings (repeats dropped), or a 400 naming the field."""
    if (not isinstance(ids, list) or not ids
            or not all(isinstance(i, str) and 0 < len(i) <= LIMITS["id"] for i in ids)):
        raise ValidationError("Some fields are missing or invalid.",
                              {field: "must be a non-empty list of id strings"})
    if len(ids) > MAX_IDS:
        raise ValidationError("Too many ids.", {field: f"at most {MAX_IDS} per request"})
    return unique_ids(ids)


_TXNS = Transaction.__table__
_ENTRIES = JournalEntry.__table__


# Two index lookups (primary key; tenant + client id) joined by UNION: `tenant_id = ? AND (id IN … OR
# client_id IN …)` reads every transaction of the tenant on SQLite, which grows with its history. Each
# row brings the status of its transaction's entry (an index lookup on the unique txn_id), so a proposal
# needs no read of its own to refuse posted transactions and replace proposed ones. Built once: the gate
# and every proposal run it (for any number of ids, and for one: execute_for_ids).
def _named_by(any_of: Callable[[ColumnElement[str | None]], ColumnElement[bool]]) -> Select[Any]:
    named = union(select(_TXNS.c.id).where(_TXNS.c.tenant_id == bindparam("tenant_id"), any_of(_TXNS.c.id)),
                  select(_TXNS.c.id).where(_TXNS.c.tenant_id == bindparam("tenant_id"), any_of(_TXNS.c.client_id)))
    return (select(*_TXNS.c, _ENTRIES.c.status)
            .select_from(_TXNS.outerjoin(_ENTRIES, _ENTRIES.c.txn_id == _TXNS.c.id))
            .where(_TXNS.c.id.in_(named.scalar_subquery())))


_MATCHES = _named_by(lambda column: column.in_(bindparam(IDS, expanding=True)))
_MATCH = _named_by(lambda column: column == bindparam(ONE_ID))


class NamedTransaction(NamedTuple):
    """A transaction as the gate and the proposer read it: every column of its row, as plain values (the
    same SELECT as of the ORM entity, without making, tracking and keeping an object per row: for a
    proposal of one transaction that cost more than the statement). Its fields are the table's columns,
    in the table's order, then `entry_status`: the status of the transaction's journal entry as of this
    read, None if it has none (journal_entries.txn_id is unique: at most one)."""

    id: str
    tenant_id: str
    company_id: str
    client_id: str | None
    date: date
    description: str
    counterparty: str | None
    amount_cents: int
    currency: str
    counterparty_key: str | None
    pattern: str
    created_at: datetime
    entry_status: str | None


def _matches(tenant_id: str, ids: list[str]) -> dict[str, list[NamedTransaction]]:
    """Each requested id → the tenant's transactions it names: ours by id first, else by the client's id."""
    found = [NamedTransaction(*row) for row in execute_for_ids(_MATCHES, _MATCH, ids, tenant_id=tenant_id)]
    ours = {t.id: t for t in found}
    by_client: dict[str, list[NamedTransaction]] = {}
    for txn in found:
        if txn.client_id is not None:
            by_client.setdefault(txn.client_id, []).append(txn)
    return {requested: [ours[requested]] if requested in ours else by_client.get(requested, [])
            for requested in ids}


def _gate_read(tenant_id: str, ids: list[str]) -> dict[str, list[NamedTransaction]] | None:
    """What the gate read for these ids earlier in this request, taken once (so the gate adds no query
    to a proposal); None when it read nothing, or other ids. The request writes no transaction or entry
    in between."""
    cached = g.pop("gate_txn_matches", None) if has_request_context() else None
    if cached is None or cached[0] != tenant_id or not set(ids) <= cached[1].keys():
        return None
    return {requested: cached[1][requested] for requested in ids}


def count_distinct_transactions(tenant_id: str, ids: list[str]) -> int:
    """How many transactions the ids name, for the gate: one named twice (by both its ids) counts once.

    An id that names no single transaction counts as itself; the request then fails with 404 or 400.
    """
    unique = unique_ids(ids)
    if len(unique) > MAX_IDS:  # refused with a 400 by check_ids; not worth a query of that size
        return len(unique)
    found = _matches(tenant_id, unique)
    if has_request_context():  # the view resolves the same ids next: let it reuse this read (see below)
        g.gate_txn_matches = (tenant_id, found)
    named = {("txn", matches[0].id) if len(matches) == 1 else ("unresolved", requested)
             for requested, matches in found.items()}
    return len(named)


def resolve_transactions(tenant_id: str, ids: list[str]) -> dict[str, NamedTransaction]:
    """Map each requested id (ours or the client's own) to the tenant's transaction; 404 lists the unknown ones."""
    resolved: dict[str, NamedTransaction] = {}
    ambiguous: dict[str, str] = {}
    for requested, matches in (_gate_read(tenant_id, ids) or _matches(tenant_id, ids)).items():
        if len(matches) == 1:
            resolved[requested] = matches[0]
        elif len(matches) > 1:
            ambiguous[requested] = "is a client id used in more than one company; send our transaction id"
    missing = [i for i in ids if i not in resolved and i not in ambiguous]
    if missing:
        raise NotFound("Some transactions do not exist.", ids=missing)
    if ambiguous:
        raise ValidationError("Some transaction ids are ambiguous.", ambiguous)
    return resolved
