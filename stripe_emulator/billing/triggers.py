"""Scenarios behind `python -m stripe_emulator trigger EVENT_TYPE`, like `stripe trigger`.

Each scenario does the real thing (a real failed charge, a real checkout), so every event a
real account would send follows, not just the named one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..errors import invalid
from ..events import emit, emit_update
from ..objects.catalog import new_price, new_product
from ..objects.checkout import new_checkout_session
from ..objects.customers import new_card_payment_method, new_customer
from ..render import render
from ..timeutil import real_now
from .changes import set_cancel_at_period_end
from .checkout_flow import complete_session, expire_session
from .invoicing import attempt_payment, create_invoice, finalize, open_invoices
from .status import cancel_now, tracking
from ..objects.subscriptions import period_of

if TYPE_CHECKING:
    from ..core import Emulator

FAILING_CARD = {"id": "pm_trigger_failure", "_behaviour": "charge_fail"}


def default_price(emu: "Emulator") -> dict[str, Any]:
    """The first active monthly price, creating an "Emulator plan" product and price if none."""
    prices = emu.store.all("price", lambda p: p["active"] and p["type"] == "recurring",
                           oldest_first=True)
    if prices:
        return prices[0]
    product = new_product({"name": "Emulator plan"})
    emu.store.put(product)
    price = new_price({"currency": "usd", "unit_amount": 2000,
                       "recurring": {"interval": "month"}}, product["id"])
    emu.store.put(price)
    return price


def _checkout(emu: "Emulator", base_url: str, customer_id: str | None,
              trial_days: int | None = None) -> dict[str, Any]:
    price = default_price(emu)
    now = real_now()
    session = new_checkout_session({"customer": customer_id, "success_url": f"{base_url}/events",
                                    "cancel_url": f"{base_url}/events"},
                                   [{"price": price["id"], "quantity": 1}], price["currency"],
                                   price["unit_amount"], trial_days, now, now + 86400, base_url)
    emu.store.put(session)
    pm = new_card_payment_method("4242424242424242", 12, 2034, now)
    emu.store.put(pm)
    email = None if customer_id else "trigger@example.com"
    return complete_session(emu, session, pm, email, "Triggered Customer")


def _subscription(emu: "Emulator", args: dict[str, Any], base_url: str,
                  trial_days: int | None = None) -> dict[str, Any]:
    if args.get("subscription"):
        return emu.fetch("subscription", args["subscription"], "subscription")
    return _checkout(emu, base_url, args.get("customer"), trial_days)


def payment_failed(emu: "Emulator", args: dict[str, Any], base_url: str) -> None:
    """Fail a real charge: open invoice, past_due subscription, retries scheduled."""
    sub = _subscription(emu, args, base_url)
    now = emu.customer_now(sub["customer"])
    invoice = create_invoice(emu, sub, "manual", period_of(emu, sub), period_of(emu, sub), now)
    finalize(emu, invoice, now)
    attempt_payment(emu, invoice, now, FAILING_CARD)


def payment_succeeded(emu: "Emulator", args: dict[str, Any], base_url: str) -> None:
    """Pay the subscription's open invoice, or run a paid checkout."""
    if not args.get("subscription"):
        _checkout(emu, base_url, args.get("customer"))
        return
    sub = _subscription(emu, args, base_url)
    now = emu.customer_now(sub["customer"])
    for invoice in open_invoices(emu, sub["customer"]):
        attempt_payment(emu, invoice, now, automatic=False)
        return
    invoice = create_invoice(emu, sub, "manual", period_of(emu, sub), period_of(emu, sub), now)
    finalize(emu, invoice, now)
    attempt_payment(emu, invoice, now, automatic=False)


def trial_will_end(emu: "Emulator", args: dict[str, Any], base_url: str) -> None:
    """Announce the end of a trial (creating a trialing subscription if none is given)."""
    sub = _subscription(emu, args, base_url, trial_days=3)
    if sub["status"] != "trialing":
        raise invalid("The subscription is not trialing.", "subscription")
    emit(emu, "customer.subscription.trial_will_end", render(emu, sub),
         created=emu.customer_now(sub["customer"]))


def subscription_updated(emu: "Emulator", args: dict[str, Any], base_url: str) -> None:
    """Schedule cancellation at period end (or undo it), a real update."""
    sub = _subscription(emu, args, base_url)
    now = emu.customer_now(sub["customer"])
    with tracking(emu, sub, now):
        set_cancel_at_period_end(sub, not sub["cancel_at_period_end"], now)


def subscription_deleted(emu: "Emulator", args: dict[str, Any], base_url: str) -> None:
    """Cancel a subscription now."""
    sub = _subscription(emu, args, base_url)
    cancel_now(emu, sub, emu.customer_now(sub["customer"]), "cancellation_requested")


def customer_created(emu: "Emulator", args: dict[str, Any], base_url: str) -> None:
    """Create a customer."""
    customer = new_customer({"email": "trigger@example.com", "name": "Triggered Customer"},
                            real_now())
    emu.store.put(customer)
    emit(emu, "customer.created", render(emu, customer), created=customer["created"])


def customer_updated(emu: "Emulator", args: dict[str, Any], base_url: str) -> None:
    """Update a customer's metadata."""
    if not args.get("customer"):
        customer_created(emu, args, base_url)
        args = {"customer": emu.store.all("customer")[0]["id"]}
    customer = emu.fetch("customer", args["customer"], "customer")
    before = render(emu, customer)
    customer["metadata"] = dict(customer["metadata"], emulator_trigger=str(real_now()))
    emu.store.put(customer)
    emit_update(emu, "customer.updated", before, render(emu, customer),
                emu.customer_now(customer["id"]))


def session_expired(emu: "Emulator", args: dict[str, Any], base_url: str) -> None:
    """Create and expire a Checkout Session."""
    price = default_price(emu)
    now = real_now()
    session = new_checkout_session({"customer": args.get("customer")},
                                   [{"price": price["id"], "quantity": 1}], price["currency"],
                                   price["unit_amount"], None, now, now + 86400, base_url)
    emu.store.put(session)
    expire_session(emu, session, now)


SCENARIOS: dict[str, Callable[["Emulator", dict[str, Any], str], None]] = {
    "checkout.session.completed": lambda e, a, b: _checkout(e, b, a.get("customer")) and None,
    "checkout.session.expired": session_expired,
    "customer.created": customer_created,
    "customer.updated": customer_updated,
    "customer.subscription.created": lambda e, a, b: _checkout(e, b, a.get("customer")) and None,
    "customer.subscription.updated": subscription_updated,
    "customer.subscription.deleted": subscription_deleted,
    "customer.subscription.trial_will_end": trial_will_end,
    "invoice.created": payment_succeeded,
    "invoice.finalized": payment_succeeded,
    "invoice.paid": payment_succeeded,
    "invoice.payment_succeeded": payment_succeeded,
    "invoice.payment_failed": payment_failed,
}


def run_trigger(emu: "Emulator", event_type: str, args: dict[str, Any], base_url: str
                ) -> list[dict[str, Any]]:
    """Run the scenario for `event_type`; return the events it produced, oldest first."""
    scenario = SCENARIOS.get(event_type)
    if scenario is None:
        raise invalid(f"Unsupported trigger: {event_type}. Supported: "
                      f"{', '.join(sorted(SCENARIOS))}", "event")
    with emu.lock:
        before = set(emu.store.ids("event"))
        scenario(emu, args, base_url)
        return emu.store.all("event", lambda e: e["id"] not in before, oldest_first=True)
