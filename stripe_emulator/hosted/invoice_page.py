"""Stripe's hosted invoice page and invoice PDF: the `hosted_invoice_url` and `invoice_pdf` links.

Both URLs carry an unguessable token (set when the invoice is finalized), as Stripe's do, so
anyone with the link can see the invoice and nobody can guess another one's.
"""
from __future__ import annotations

import hmac
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, abort

from ..api.base import emulator
from .common import TEMPLATES, money, page
from .pdf import text_pdf

bp = Blueprint("invoice_page", __name__, template_folder=TEMPLATES)


def _invoice(invoice_id: str, token: str) -> dict[str, Any]:
    """The finalized invoice this link is for, or 404."""
    emu = emulator()
    with emu.lock:
        invoice = emu.store.get(invoice_id, "invoice")
        if invoice is None or not invoice.get("_access") \
                or not hmac.compare_digest(invoice["_access"], token):
            abort(404)
        return dict(invoice)


def _day(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d") if ts else "—"


def _facts(invoice: dict[str, Any]) -> dict[str, Any]:
    currency = invoice["currency"]
    return {"number": invoice["number"], "state": invoice["status"],
            "date": _day(invoice["status_transitions"]["finalized_at"] or invoice["created"]),
            "paid_on": _day(invoice["status_transitions"]["paid_at"]),
            "customer": invoice["customer_name"] or invoice["customer_email"] or invoice["customer"],
            "email": invoice["customer_email"],
            "lines": [{"description": line["description"],
                       "period": f"{_day(line['period']['start'])} – {_day(line['period']['end'])}",
                       "amount": money(line["amount"], currency)}
                      for line in invoice["lines"]["data"]],
            "total": money(invoice["total"], currency),
            "credit": money(-invoice["starting_balance"], currency)
            if invoice["starting_balance"] < 0 else None,
            "amount_due": money(invoice["amount_due"], currency),
            "amount_paid": money(invoice["amount_paid"], currency),
            "amount_remaining": money(invoice["amount_remaining"], currency),
            "next_attempt": _day(invoice["next_payment_attempt"])
            if invoice["next_payment_attempt"] else None,
            "attempts": invoice["attempt_count"], "pdf": invoice["invoice_pdf"]}


@bp.get("/i/<invoice_id>/<token>")
def show(invoice_id: str, token: str) -> Response:
    """The hosted invoice page: what was billed, what is due or paid, and the PDF link."""
    return page("invoice.html", **_facts(_invoice(invoice_id, token)))


@bp.get("/invoice/<invoice_id>/<token>/pdf")
def pdf(invoice_id: str, token: str) -> Response:
    """The invoice as a PDF (one page per 40 lines)."""
    facts = _facts(_invoice(invoice_id, token))
    heading = [f"Invoice {facts['number']}", "", f"Billed to: {facts['customer']}",
               f"Date: {facts['date']}", f"Status: {facts['state']}", ""]
    lines = [f"{line['description']}  ({line['period']})  {line['amount']}"
             for line in facts["lines"]]
    totals = ["", f"Total: {facts['total']}"]
    if facts["credit"]:
        totals.append(f"Credit applied: {facts['credit']}")
    totals += [f"Amount due: {facts['amount_due']}", f"Amount paid: {facts['amount_paid']}"]
    if facts["state"] == "paid":
        totals.append(f"Paid on {facts['paid_on']}")
    body = text_pdf(heading + lines + totals, title=f"Invoice {facts['number']}")
    resp = Response(body, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="Invoice-{facts["number"]}.pdf"'
    resp.headers["Cache-Control"] = "no-store"
    return resp
