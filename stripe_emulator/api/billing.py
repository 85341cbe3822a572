"""/v1/invoices."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..billing.changes import check_price
from ..billing.invoicing import attempt_payment, finalize, mark_paid, subscription_of
from ..billing.lifecycle import next_period_end
from ..errors import card_error, invalid
from ..ids import new_id
from ..listing import filter_range, list_object
from ..objects.invoices import invoice_shell, preview_lines
from ..objects.subscriptions import items_of, period_of
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
        error = invoice["_last_payment_error"]  # the failed attempt stays on record, as on Stripe
        raise card_error(error.get("code") or "card_declined", error["message"],
                         error.get("decline_code"), keep_changes=True)
    return render(emu, invoice, p.get("expand") or [])


@bp.post("/v1/invoices/<invoice_id>/finalize")
@endpoint
def finalize_invoice(invoice_id: str) -> dict[str, Any]:
    """Draft -> open (invoice.finalized), e.g. the drafts an unpaid subscription runs up."""
    p = params("InvoiceFinalizeInvoiceParams")
    emu = emulator()
    invoice = emu.fetch("invoice", invoice_id)
    if invoice["status"] != "draft":
        raise invalid("This invoice is already finalized, you can't re-finalize a non-draft "
                      "invoice.", "invoice", "invoice_not_editable")
    if "auto_advance" in p:
        invoice["auto_advance"] = bool(p["auto_advance"])
    finalize(emu, invoice, emu.customer_now(invoice["customer"]))
    return render(emu, invoice, p.get("expand") or [])


@bp.post("/v1/invoices/create_preview")
@endpoint
def create_preview() -> dict[str, Any]:
    """Preview a subscription's next invoice, optionally with subscription_details[items] changes."""
    p = params("InvoiceCreatePreviewParams")
    emu = emulator()
    if not p.get("subscription") and not p.get("customer"):
        raise invalid("Missing required param: customer or subscription.", "customer",
                      "parameter_missing")
    if p.get("subscription"):
        sub = emu.fetch("subscription", p["subscription"], "subscription")
    else:
        customer = emu.fetch("customer", p["customer"], "customer")
        live = emu.store.all("subscription", lambda s: s["customer"] == customer["id"]
                             and s["status"] not in ("canceled", "incomplete_expired"))
        if not live:
            raise invalid("No upcoming invoices for customer: " + customer["id"], "customer",
                          "invoice_upcoming_none")
        sub = live[0]
    details = p.get("subscription_details") or {}
    items = _preview_items(sub, details.get("items") or [])
    start, end = period_of(emu, sub)
    next_end = next_period_end(emu, sub, end)
    preview_id = "upcoming_" + new_id("in")
    lines = preview_lines(emu, preview_id, sub, items, (end, next_end))
    customer = emu.fetch("customer", sub["customer"], allow_deleted=True)
    invoice = invoice_shell(preview_id, sub, customer, "upcoming", lines, (start, end), end)
    invoice["billing_reason"] = "subscription_cycle"
    return render(emu, invoice, p.get("expand") or [])


def _preview_items(sub: dict[str, Any], changes: list[dict[str, Any]]
                   ) -> list[tuple[str | None, dict[str, Any], int]]:
    emu = emulator()
    items: list[tuple[str | None, dict[str, Any], int]] = [
        (i["id"], emu.fetch("price", i["price"]), i["quantity"]) for i in items_of(emu, sub)]
    for index, change in enumerate(changes):
        where = f"subscription_details[items][{index}]"
        if change.get("id"):
            matches = [n for n, (item_id, _, _) in enumerate(items) if item_id == change["id"]]
            if not matches:
                raise invalid(f"No such subscription item: '{change['id']}'", f"{where}[id]",
                              "resource_missing")
            item_id, price, quantity = items[matches[0]]
            if change.get("deleted"):
                items.pop(matches[0])
                continue
            if change.get("price"):
                price = check_price(emu, sub, change["price"], f"{where}[price]")
            items[matches[0]] = (item_id, price, change.get("quantity") or quantity)
        elif change.get("price"):
            items.append((None, check_price(emu, sub, change["price"], f"{where}[price]"),
                          change.get("quantity") or 1))
    return items
