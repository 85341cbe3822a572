"""/v1/invoices."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..billing.invoicing import attempt_payment, mark_paid, subscription_of
from ..errors import card_error, invalid
from ..listing import filter_range, list_object
from ..render import render
from .base import emulator, endpoint, params

bp = Blueprint("invoices", __name__)


@bp.get("/v1/invoices/<invoice_id>")
@endpoint
def retrieve_invoice(invoice_id: str) -> dict[str, Any]:
    """Retrieve an invoice."""
    p = params("InvoiceRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("invoice", invoice_id), p.get("expand") or [])


@bp.get("/v1/invoices")
@endpoint
def list_invoices() -> dict[str, Any]:
    """List invoices by customer, subscription, status, created."""
    p = params("InvoiceListParams")
    emu = emulator()
    objs = emu.store.all("invoice")
    for field in ("customer", "status", "collection_method"):
        if p.get(field):
            objs = [o for o in objs if o.get(field) == p[field]]
    if p.get("subscription"):
        objs = [o for o in objs if ((o.get("parent") or {}).get("subscription_details") or {})
                .get("subscription") == p["subscription"]]
    objs = filter_range(objs, "created", p.get("created"))
    return list_object(emu, objs, p, "/v1/invoices")


@bp.get("/v1/invoices/<invoice_id>/lines")
@endpoint
def list_invoice_lines(invoice_id: str) -> dict[str, Any]:
    """An invoice's line items."""
    p = params("InvoiceLineItemListParams")
    emu = emulator()
    invoice = emu.fetch("invoice", invoice_id)
    return list_object(emu, invoice["lines"]["data"], p, f"/v1/invoices/{invoice_id}/lines")


@bp.post("/v1/invoices/<invoice_id>/pay")
@endpoint
def pay_invoice(invoice_id: str) -> dict[str, Any]:
    """Attempt payment of an open invoice now (optionally with another attached card)."""
    p = params("InvoicePayParams")
    emu = emulator()
    invoice = emu.fetch("invoice", invoice_id)
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid", "invoice", "invoice_already_paid")
    if invoice["status"] != "open":
        raise invalid(f"You can only pay an invoice that is open; this one is "
                      f"{invoice['status']}.", "invoice", "invoice_not_open")
    pm = None
    if p.get("payment_method"):
        pm = emu.fetch("payment_method", p["payment_method"], "payment_method")
    now = emu.customer_now(invoice["customer"])
    if p.get("paid_out_of_band"):
        mark_paid(emu, invoice, subscription_of(emu, invoice), now)
    elif not attempt_payment(emu, invoice, now, pm, automatic=False):
        error = invoice["_last_payment_error"]
        raise card_error(error.get("code") or "card_declined", error["message"],
                         error.get("decline_code"))
    return render(emu, invoice, p.get("expand") or [])
