"""The API shapes of transactions, entries, the ledger and the trial balance (money as integer cents)."""
from __future__ import annotations

from webapp.bookkeeping.ledger import LedgerPage, TrialBalance
from webapp.bookkeeping.posting import EntryLine, LoadedEntry
from webapp.bookkeeping.proposals import ProposedEntry
from webapp.bookkeeping.transactions import ImportResult
from webapp.clock import isoformat
from webapp.models import JournalEntry, JournalLine


def import_json(result: ImportResult) -> dict[str, object]:
    """What POST /api/transactions answers: every row's ids, and whether it was created now."""
    return {"company_id": result.company_id, "created": result.created,
            "existing": len(result.rows) - result.created,
            "data": [{"id": t.id, "client_id": t.client_id, "created": new} for t, new in result.rows]}


def line_json(line: JournalLine | EntryLine) -> dict[str, object]:
    """One line; `amount_cents` is signed (debit positive), with debit/credit spelled out."""
    return {"account_code": line.account.code, "account_name": line.account.name,
            "amount_cents": line.amount_cents, "debit_cents": max(line.amount_cents, 0),
            "credit_cents": max(-line.amount_cents, 0)}


def entry_json(entry: JournalEntry | LoadedEntry | ProposedEntry, requested: str | None = None) -> dict[str, object]:
    """An entry with its transaction, proposed account, confidence (0–1), reason and lines."""
    txn = entry.transaction
    return {
        "je_id": entry.id, "status": entry.status, "txn_id": txn.id, "client_txn_id": txn.client_id,
        **({"requested_id": requested} if requested is not None else {}),
        "company_id": entry.company_id, "date": entry.date.isoformat(), "memo": entry.memo,
        "amount_cents": txn.amount_cents, "currency": txn.currency,
        "account": {"code": entry.account.code, "name": entry.account.name, "type": entry.account.type},
        "confidence": entry.confidence_pct / 100, "source": entry.source, "reason": entry.reason,
        "lines": [line_json(line) for line in entry.lines],
        "proposed_at": isoformat(entry.proposed_at), "posted_at": isoformat(entry.posted_at),
    }


def ledger_json(page: LedgerPage) -> dict[str, object]:
    """A page of the ledger: the limit and offset applied, the total, and where the next page starts."""
    return {"company_id": page.company_id, "limit": page.limit, "offset": page.offset, "total": page.total,
            "next_offset": page.next_offset, "data": [entry_json(e) for e in page.entries]}


def trial_balance_json(tb: TrialBalance) -> dict[str, object]:
    """The trial balance: each account's balance in the debit or the credit column, the totals, whether they agree.

    `gross_debit_cents`/`gross_credit_cents` are the account's turnover (all posted debits, all credits).
    """
    return {
        "company_id": tb.company_id, "as_of": tb.as_of.isoformat() if tb.as_of else None, "currency": "usd",
        "accounts": [{"code": r.code, "name": r.name, "type": r.type, "debit_cents": r.debit_cents,
                      "credit_cents": r.credit_cents, "balance_cents": r.balance_cents,
                      "gross_debit_cents": r.gross_debit_cents, "gross_credit_cents": r.gross_credit_cents}
                     for r in tb.rows],
        "total_debit_cents": tb.total_debit_cents, "total_credit_cents": tb.total_credit_cents,
        "balanced": tb.total_debit_cents == tb.total_credit_cents,
    }
