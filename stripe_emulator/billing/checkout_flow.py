"""Completing and expiring Checkout Sessions: customer, card, subscription, first invoice."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..events import emit
from ..objects.customers import new_customer
from ..objects.subscriptions import add_item, new_subscription, period_of, set_period
from ..render import render
from ..timeutil import add_interval
from . import cards
from .invoicing import bill
from .lifecycle import next_period_end

if TYPE_CHECKING:
    from ..core import Emulator

log = logging.getLogger(__name__)


def card_problem(session: dict[str, Any], pm: dict[str, Any]) -> Exception | None:
    """Why this card cannot complete the session now (3-D Secure is handled by the caller)."""
    failure = cards.setup_error(pm)
    if failure is None and not session["_trial_days"]:
        pm_authenticated = dict(pm, _authenticated=True)  # authentication precedes the charge
        failure = cards.charge_error(pm_authenticated)
    return failure


def complete_session(emu: "Emulator", session: dict[str, Any], pm: dict[str, Any],
                     email: str | None, name: str | None) -> dict[str, Any]:
    """Create customer (if needed), subscription and first invoice; the session completes."""
    with emu.lock:
        customer = _customer_for(emu, session, email, name)
        now = emu.customer_now(customer["id"])
        pm.update(customer=customer["id"])
        pm["billing_details"].update(email=email or customer.get("email"), name=name)
        emu.store.put(pm)
        emit(emu, "payment_method.attached", render(emu, pm), created=now)
        sub = _start_subscription(emu, session, customer, pm, now)
        details = {"address": None, "email": customer.get("email"), "name": customer.get("name")
                   or name, "phone": None, "tax_exempt": "none", "tax_ids": [],
                   "business_name": None, "individual_name": None}
        session.update(status="complete", customer=customer["id"], subscription=sub["id"],
                       invoice=sub["latest_invoice"], customer_details=details, url=None,
                       payment_status="no_payment_required" if session["_trial_days"] else "paid",
                       _pending=None)
        emu.store.put(session)
        emit(emu, "checkout.session.completed", render(emu, session), created=now)
        log.info("checkout.completed", extra={"session": session["id"], "subscription": sub["id"]})
        return sub


def _customer_for(emu: "Emulator", session: dict[str, Any], email: str | None,
                  name: str | None) -> dict[str, Any]:
    if session["customer"]:
        return emu.fetch("customer", session["customer"])
    customer = new_customer({"email": session["customer_email"] or email, "name": name},
                            emu.clock_now(None))
    emu.store.put(customer)
    emit(emu, "customer.created", render(emu, customer), created=customer["created"])
    return customer


def _start_subscription(emu: "Emulator", session: dict[str, Any], customer: dict[str, Any],
                        pm: dict[str, Any], now: int) -> dict[str, Any]:
    trial_days = session["_trial_days"]
    trial_end = add_interval(now, "day", trial_days) if trial_days else None
    sub = new_subscription(customer, session["currency"], now, session["_subscription_metadata"],
                           pm["id"], trial_end)
    for line in session["_line_items"]:
        price = emu.fetch("price", line["price"])
        add_item(emu, sub, price, line["quantity"], now, trial_end or now)
    end = trial_end or next_period_end(emu, sub, now)
    set_period(emu, sub, now, end)
    sub["status"] = "trialing" if trial_end else "active"
    emu.store.put(sub)
    if customer.get("currency") is None:
        customer["currency"] = session["currency"]
        emu.store.put(customer)
    emit(emu, "customer.subscription.created", render(emu, sub), created=now)
    pm["_authenticated"] = True  # set up for off-session use by this checkout
    emu.store.put(pm)
    bill(emu, sub, "subscription_create", period_of(emu, sub), (now, now), now,
         trial=bool(trial_end))
    return sub


def expire_session(emu: "Emulator", session: dict[str, Any], now: int) -> None:
    """Open -> expired, announced by checkout.session.expired."""
    session.update(status="expired", url=None, _pending=None)
    emu.store.put(session)
    emit(emu, "checkout.session.expired", render(emu, session), created=now)
