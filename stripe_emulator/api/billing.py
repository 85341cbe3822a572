"""/v1/invoices."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..billing import proration
from ..billing.changes import check_price, item_states
from ..billing.invoicing import apply_balance, attempt_payment, finalize, mark_paid, subscription_of
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
    """Preview a subscription's next invoice, optionally with subscription_details changes.

    With item changes and `proration_behavior` create_prorations (the default) the next invoice
    carries the prorations; with always_invoice the preview is the invoice the change would
    create at once (its prorations only); with none there are no prorations. Nothing is saved.
    """
    p = params("InvoiceCreatePreviewParams")
    emu = emulator()
    sub = _preview_subscription(p)
    details = p.get("subscription_details") or {}
    behaviour = proration.behaviour(details.get("proration_behavior"))
    now = emu.customer_now(sub["customer"])
    when = proration.proration_date(emu, sub, details.get("proration_date"),
                                    "subscription_details[proration_date]", now)
    changes = details.get("items") or []
    after = _preview_items(sub, changes)
    preview_id = "upcoming_" + new_id("in")
    prorations = [] if behaviour == "none" or not changes else proration.proration_lines(
        emu, sub, item_states(emu, sub), after, when, preview_id)
    pending = [dict(line, invoice=preview_id) for line in proration.pending_lines(sub)]
    customer = emu.fetch("customer", sub["customer"], allow_deleted=True)
    if behaviour == "always_invoice" and changes:
        invoice = invoice_shell(preview_id, sub, customer, "upcoming", pending + prorations,
                                (when, when), when)
        invoice["billing_reason"] = "subscription_update"
    else:
        canceling = details.get("cancel_at_period_end", sub["cancel_at_period_end"])
        if canceling:
            raise invalid("No upcoming invoices for customer: " + customer["id"] + " (the "
                          "subscription cancels at the end of its period).", "subscription",
                          "invoice_upcoming_none")
        start, end = period_of(emu, sub)
        lines = pending + prorations + preview_lines(
            emu, preview_id, sub, after, (end, next_period_end(emu, sub, end)))
        invoice = invoice_shell(preview_id, sub, customer, "upcoming", lines, (start, end), end)
        invoice["billing_reason"] = "subscription_cycle"
    apply_balance(invoice, customer.get("balance") or 0)
    return render(emu, invoice, p.get("expand") or [])


def _preview_subscription(p: dict[str, Any]) -> dict[str, Any]:
    """The subscription a preview is about: the one named, else the customer's live one."""
    emu = emulator()
    if not p.get("subscription") and not p.get("customer"):
        raise invalid("Missing required param: customer or subscription.", "customer",
                      "parameter_missing")
    if p.get("subscription"):
        sub = emu.fetch("subscription", p["subscription"], "subscription")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise invalid(f"No upcoming invoices for subscription: {sub['id']} (it has ended).",
                          "subscription", "invoice_upcoming_none")
        return sub
    customer = emu.fetch("customer", p["customer"], "customer")
    live = emu.store.all("subscription", lambda s: s["customer"] == customer["id"]
                         and s["status"] not in ("canceled", "incomplete_expired"))
    if not live:
        raise invalid("No upcoming invoices for customer: " + customer["id"], "customer",
                      "invoice_upcoming_none")
    return live[0]


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
