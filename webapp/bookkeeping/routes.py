"""Thin views for the bookkeeping core."""
from __future__ import annotations

from datetime import date

from flask import request

from webapp.auth.guards import api_tenant_id, bearer_required
from webapp.bookkeeping import api_bp, ledger, posting, proposals, services, transactions
from webapp.bookkeeping.api_json import entry_json, import_json, ledger_json, trial_balance_json
from webapp.clock import isoformat
from webapp.errors import ValidationError
from webapp.metering.gate import Action
from webapp.metering.guards import metered
from webapp.models import Company
from webapp.payloads import Field, parse


def company_json(company: Company) -> dict[str, object]:
    """The API shape of a company (`archived_at` null while it is active)."""
    return {"id": company.id, "name": company.name, "created_at": isoformat(company.created_at),
            "archived_at": isoformat(company.archived_at) if company.archived_at else None}


@api_bp.get("/companies")
@bearer_required
def list_companies() -> dict[str, object]:
    """GET /api/companies → the tenant's companies."""
    return {"data": [company_json(c) for c in services.list_companies(api_tenant_id())]}


@api_bp.post("/companies")
@bearer_required
def add_company() -> tuple[dict[str, object], int]:
    """POST /api/companies {name} → 201, or 402 COMPANY_LIMIT_REACHED past the plan's allowance."""
    body = parse({"name": Field(str, max_length=200)})
    return company_json(services.add_company(api_tenant_id(), body["name"])), 201


@api_bp.post("/transactions")
@bearer_required
def import_transactions() -> tuple[dict[str, object], int]:
    """POST /api/transactions {company_id?, transactions:[…]} → ids; 201 if any were new, 200 if none."""
    body = parse({"company_id": Field(str, required=False, max_length=40), "transactions": Field(list)})
    result = transactions.import_transactions(api_tenant_id(), body.get("company_id"), body["transactions"])
    return import_json(result), 201 if result.created else 200


@api_bp.post("/post/propose")
@bearer_required
@metered(Action.PROPOSE, items="txn_ids", distinct=transactions.count_distinct_transactions)
def propose() -> dict[str, object]:
    """POST /api/post/propose {txn_ids} → one proposed, balanced entry per transaction (gated, counted)."""
    body = parse({"txn_ids": Field(list)})
    entries = proposals.propose_entries(api_tenant_id(), body["txn_ids"])
    return {"data": [entry_json(entry, requested) for requested, entry in entries]}


@api_bp.post("/post/commit")
@bearer_required
@metered(Action.COMMIT, items="je_ids")
def commit() -> dict[str, object]:
    """POST /api/post/commit {je_ids} → the entries, posted (gated, counted)."""
    body = parse({"je_ids": Field(list)})
    return {"data": [entry_json(e) for e in posting.commit_entries(api_tenant_id(), body["je_ids"])]}


@api_bp.post("/post/entries/<je_id>/account")
@bearer_required
def reassign_account(je_id: str) -> dict[str, object]:
    """POST /api/post/entries/<je_id>/account {account_code} → the proposed entry on that account (not metered)."""
    body = parse({"account_code": Field(str, max_length=10)})
    return entry_json(proposals.reassign_account(api_tenant_id(), je_id, body["account_code"]))


@api_bp.get("/ledger")
@bearer_required
def show_ledger() -> dict[str, object]:
    """GET /api/ledger?company_id=&limit=&offset= → a page of posted entries, oldest first, and the next offset."""
    page = ledger.page_request(request.args.get("limit"), request.args.get("offset"))
    return ledger_json(ledger.posted_entries(api_tenant_id(), request.args.get("company_id"), page))


@api_bp.get("/trial-balance")
@bearer_required
def trial_balance() -> dict[str, object]:
    """GET /api/trial-balance?company_id=&as_of=YYYY-MM-DD → each account's posted balance, debit or credit."""
    as_of = _date_arg("as_of")
    return trial_balance_json(ledger.trial_balance(api_tenant_id(), request.args.get("company_id"), as_of))


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise ValidationError("Some query parameters are invalid.", {name: "must be an ISO date"}) from exc
