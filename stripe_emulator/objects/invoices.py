"""Invoices and their line items (today's layout: invoice.parent.subscription_details)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ids import new_id
from .catalog import product_name
from .subscriptions import items_of

if TYPE_CHECKING:
    from ..core import Emulator


def new_invoice(emu: "Emulator", sub: dict[str, Any], customer: dict[str, Any],
                billing_reason: str, lines_period: tuple[int, int],
                invoice_period: tuple[int, int], now: int, trial: bool = False,
                extra_lines: list[dict[str, Any]] | None = None, bill_items: bool = True
                ) -> dict[str, Any]:
    """A draft invoice billing one period of `sub`'s items (a trial bills them at zero), after
    `extra_lines` (prorations), which are moved onto it."""
    invoice_id = new_id("in")
    lines = []
    for line in extra_lines or []:
        line["invoice"] = invoice_id
        lines.append(line)
    if bill_items:
        lines += [_line(emu, invoice_id, sub, item["id"],
                        emu.store.get(item["price"], "price") or {}, item["quantity"],
                        lines_period, trial) for item in items_of(emu, sub)]
    return invoice_shell(invoice_id, sub, customer, billing_reason, lines, invoice_period, now)


def preview_lines(emu: "Emulator", invoice_id: str, sub: dict[str, Any],
                  items: list[tuple[str | None, dict[str, Any], int]],
                  period: tuple[int, int]) -> list[dict[str, Any]]:
    """Lines for (item id, price, quantity) triples, for an invoice preview."""
    return [_line(emu, invoice_id, sub, item_id, price, quantity, period, False)
            for item_id, price, quantity in items]


def invoice_shell(invoice_id: str, sub: dict[str, Any], customer: dict[str, Any],
                  billing_reason: str, lines: list[dict[str, Any]],
                  invoice_period: tuple[int, int], now: int) -> dict[str, Any]:
    """A draft invoice around ready-made lines."""
    total = sum(line["amount"] for line in lines)
    due = max(0, total)  # a credit (negative total) goes to the customer's balance when finalized
    return {"id": invoice_id, "object": "invoice", "account_country": "US",
            "account_name": "Stripe emulator", "account_tax_ids": None, "amount_due": due,
            "amount_paid": 0, "amount_remaining": due, "amount_shipping": 0,
            "application": None, "attempt_count": 0, "attempted": False,
            "auto_advance": True,
            "automatic_tax": {"enabled": False, "liability": None, "status": None,
                              "disabled_reason": None, "provider": None},
            "billing_reason": billing_reason, "collection_method": "charge_automatically",
            "created": now, "currency": sub["currency"], "custom_fields": None,
            "customer": customer["id"], "customer_address": customer.get("address"),
            "customer_email": customer.get("email"), "customer_name": customer.get("name"),
            "customer_phone": customer.get("phone"), "customer_shipping": None,
            "customer_tax_exempt": customer.get("tax_exempt", "none"), "customer_tax_ids": [],
            "default_payment_method": None, "default_source": None, "default_tax_rates": [],
            "description": None, "discounts": [], "due_date": None, "effective_at": None,
            "ending_balance": None, "footer": None, "from_invoice": None,
            "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
            "last_finalization_error": None, "latest_revision": None,
            "lines": {"object": "list", "data": lines, "has_more": False,
                      "total_count": len(lines), "url": f"/v1/invoices/{invoice_id}/lines"},
            "livemode": False, "metadata": {}, "next_payment_attempt": None, "number": None,
            "on_behalf_of": None,
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "period_end": invoice_period[1], "period_start": invoice_period[0],
            "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
            "receipt_number": None, "rendering": None, "shipping_cost": None,
            "shipping_details": None, "starting_balance": 0, "statement_descriptor": None,
            "status": "draft",
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                                   "paid_at": None, "voided_at": None},
            "subscription": None, "subtotal": total, "subtotal_excluding_tax": total,
            "test_clock": sub.get("test_clock"), "total": total, "total_discount_amounts": [],
            "total_excluding_tax": total, "webhooks_delivered_at": now,
            "automatically_finalizes_at": None, "total_pretax_credit_amounts": [],
            "total_taxes": [], "amount_overpaid": 0,
            "parent": {"quote_details": None, "type": "subscription_details",
                       "subscription_details": {"metadata": dict(sub["metadata"]),
                                                "subscription": sub["id"]}},
            "customer_account": None}


def _line(emu: "Emulator", invoice_id: str, sub: dict[str, Any], item_id: str | None,
          price: dict[str, Any], quantity: int, period: tuple[int, int], trial: bool
          ) -> dict[str, Any]:
    unit = 0 if trial else price.get("unit_amount") or 0
    amount = unit * quantity
    interval = (price.get("recurring") or {}).get("interval", "month")
    description = (f"Trial period for {product_name(emu, price)}" if trial else
                   f"{quantity} × {product_name(emu, price)} "
                   f"(at {unit / 100:.2f} {price.get('currency', 'usd').upper()} / {interval})")
    return {"id": new_id("il"), "object": "line_item", "amount": amount,
            "currency": price.get("currency", sub["currency"]), "description": description,
            "discount_amounts": [], "discountable": True, "discounts": [],
            "invoice": invoice_id, "livemode": False, "metadata": dict(sub["metadata"]),
            "period": {"start": period[0], "end": period[1]}, "quantity": quantity,
            "subscription": sub["id"], "pretax_credit_amounts": [], "taxes": [],
            "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                       "subscription_item_details": {
                           "invoice_item": None, "proration": False,
                           "proration_details": {"credited_items": None},
                           "subscription": sub["id"], "subscription_item": item_id}},
            "pricing": {"type": "price_details",
                        "price_details": {"price": price.get("id"),
                                          "product": price.get("product")},
                        "unit_amount_decimal": str(unit)},
            "subtotal": amount, "quantity_decimal": str(quantity)}
