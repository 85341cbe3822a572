"""Create, finalise and charge invoices; the subscription follows what the charge did."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import StripeError
from ..events import emit
from ..ids import random_token
from ..objects.invoices import new_invoice
from ..render import render
from ..timeutil import DAY
from . import cards, proration
from .status import cancel_now, set_status

if TYPE_CHECKING:
    from ..core import Emulator

log = logging.getLogger(__name__)


def payment_method_for(emu: "Emulator", sub: dict[str, Any] | None, customer_id: str
                       ) -> dict[str, Any] | None:
    """The card an invoice is charged to: the subscription's default, else the customer's."""
    pm_id = (sub or {}).get("default_payment_method")
    if not pm_id:
        customer = emu.store.get(customer_id, "customer") or {}
        pm_id = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return emu.store.get(pm_id, "payment_method") if pm_id else None


def create_invoice(emu: "Emulator", sub: dict[str, Any], reason: str,
                   lines_period: tuple[int, int], invoice_period: tuple[int, int], now: int,
                   trial: bool = False, extra_lines: list[dict[str, Any]] | None = None,
                   bill_items: bool = True) -> dict[str, Any]:
    """A draft invoice for `sub`, announced by invoice.created; the subscription's pending
    prorations go on it first."""
    customer = emu.fetch("customer", sub["customer"], allow_deleted=True)
    lines = proration.pending_lines(sub) + list(extra_lines or [])
    sub["_pending_lines"] = []
    invoice = new_invoice(emu, sub, customer, reason, lines_period, invoice_period, now, trial,
                          lines, bill_items)
    emu.store.put(invoice)
    sub["latest_invoice"] = invoice["id"]
    emu.store.put(sub)
    emit(emu, "invoice.created", render(emu, invoice), created=now)
    return invoice


def finalize(emu: "Emulator", invoice: dict[str, Any], now: int) -> None:
    """Draft -> open with a number, announced by invoice.finalized."""
    customer = emu.fetch("customer", invoice["customer"], allow_deleted=True)
    invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    customer["balance"] = apply_balance(invoice, customer.get("balance") or 0)
    emu.store.put(customer)
    invoice.update(status="open", effective_at=now, **hosted_links(emu, invoice))
    invoice["status_transitions"]["finalized_at"] = now
    emu.store.put(invoice)
    emit(emu, "invoice.finalized", render(emu, invoice), created=now)


def apply_balance(invoice: dict[str, Any], balance: int) -> int:
    """Apply the customer's balance (negative: credit) to the invoice; the balance left after it.

    As on Stripe: amount_due = max(0, total + starting_balance); whatever is below zero (a credit
    larger than the invoice, or an invoice of prorations that credits more than it charges) stays
    on the customer as ending_balance.
    """
    net = invoice["total"] + balance
    due = max(0, net)
    invoice.update(starting_balance=balance, ending_balance=min(0, net), amount_due=due,
                   amount_remaining=due - invoice.get("amount_paid", 0))
    return min(0, net)


def hosted_links(emu: "Emulator", invoice: dict[str, Any]) -> dict[str, str]:
    """The invoice's hosted page and PDF (unguessable URLs, as Stripe's), once it is finalized."""
    token = invoice.get("_access") or random_token(24)
    invoice["_access"] = token
    base = emu.public_url()
    return {"hosted_invoice_url": f"{base}/i/{invoice['id']}/{token}",
            "invoice_pdf": f"{base}/invoice/{invoice['id']}/{token}/pdf"}


def bill(emu: "Emulator", sub: dict[str, Any], reason: str, lines_period: tuple[int, int],
         invoice_period: tuple[int, int], now: int, trial: bool = False
         ) -> tuple[dict[str, Any], bool]:
    """Create, finalise and charge one invoice for `sub`; True when it ended up paid.

    The caller decides the subscription's status (and announces it) from the result.
    """
    invoice = create_invoice(emu, sub, reason, lines_period, invoice_period, now, trial)
    finalize(emu, invoice, now)
    return invoice, attempt_payment(emu, invoice, now, update_subscription=False)


def attempt_payment(emu: "Emulator", invoice: dict[str, Any], now: int,
                    pm: dict[str, Any] | None = None, automatic: bool = True,
                    update_subscription: bool = True) -> bool:
    """Charge an open invoice; on failure schedule the next retry or give up. True if paid."""
    sub = subscription_of(emu, invoice)
    status_sub = sub if update_subscription else None
    if invoice["amount_due"] == 0:
        mark_paid(emu, invoice, status_sub, now)
        return True
    pm = pm or payment_method_for(emu, sub, invoice["customer"])
    failure = cards.charge_error(pm)
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    if failure is None:
        mark_paid(emu, invoice, status_sub, now)
        return True
    if sub is not None and sub["status"] == "incomplete":
        automatic = False  # a first invoice is not retried; the subscription expires instead
    _record_failure(emu, invoice, status_sub, now, failure, automatic)
    return False


def mark_paid(emu: "Emulator", invoice: dict[str, Any], sub: dict[str, Any] | None,
              now: int) -> None:
    """Open -> paid; a past_due/unpaid/incomplete subscription becomes active again once none
    of its invoices is left open (or, for an unpaid one, still a draft)."""
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                   next_payment_attempt=None, attempted=True)
    invoice["status_transitions"]["paid_at"] = now
    emu.store.put(invoice)
    snapshot = render(emu, invoice)
    emit(emu, "invoice.paid", snapshot, created=now)
    emit(emu, "invoice.payment_succeeded", snapshot, created=now)
    if sub is not None and sub["status"] in ("past_due", "unpaid", "incomplete"):
        if not _other_unpaid_invoices(emu, sub, invoice["id"]):
            set_status(emu, sub, "active", now)


def _record_failure(emu: "Emulator", invoice: dict[str, Any], sub: dict[str, Any] | None,
                    now: int, failure: StripeError, automatic: bool) -> None:
    schedule = emu.config.payment_retry_days
    final = False
    if automatic:  # a manual attempt (pay, portal card update) leaves the retry schedule alone
        done = invoice.get("_auto_attempts", 0) + 1
        invoice["_auto_attempts"] = done
        final = done > len(schedule)
        invoice["next_payment_attempt"] = None if final else now + int(schedule[done - 1] * DAY)
    invoice["_last_payment_error"] = failure.body()["error"]
    emu.store.put(invoice)
    emit(emu, "invoice.payment_failed", render(emu, invoice), created=now)
    log.info("invoice.payment_failed", extra={"invoice": invoice["id"], "final": final})
    if sub is None or not automatic:
        return
    if final and sub["status"] not in ("incomplete", "canceled"):
        finish_failed(emu, invoice, sub, now)
    elif sub["status"] in ("active", "trialing"):
        set_status(emu, sub, "past_due", now)


def finish_failed(emu: "Emulator", invoice: dict[str, Any], sub: dict[str, Any], now: int) -> None:
    """After the last retry: the subscription becomes unpaid, or is canceled (--on-final-failure)."""
    if emu.config.on_final_failure == "canceled":
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = now
        emu.store.put(invoice)
        cancel_now(emu, sub, now, "payment_failed")
    else:
        set_status(emu, sub, "unpaid", now)


def retry_due_invoice(emu: "Emulator", invoice: dict[str, Any], now: int) -> None:
    """Run the scheduled automatic retry of an open invoice."""
    invoice["next_payment_attempt"] = None
    emu.store.put(invoice)
    attempt_payment(emu, invoice, now)


def open_invoices(emu: "Emulator", customer_id: str, status: str = "open"
                  ) -> list[dict[str, Any]]:
    """A customer's open (or, with status="draft", draft) invoices, oldest first."""
    return emu.store.all("invoice", lambda i: i["customer"] == customer_id
                         and i["status"] == status, oldest_first=True)


def _other_unpaid_invoices(emu: "Emulator", sub: dict[str, Any], invoice_id: str) -> bool:
    unpaid = open_invoices(emu, sub["customer"]) + open_invoices(emu, sub["customer"], "draft")
    return any(i["id"] != invoice_id and (i.get("parent") or {}).get(
        "subscription_details", {}).get("subscription") == sub["id"] for i in unpaid)


def subscription_of(emu: "Emulator", invoice: dict[str, Any]) -> dict[str, Any] | None:
    """The subscription an invoice bills, if any."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return emu.store.get(details.get("subscription") or "", "subscription")
