"""Everything time does to subscriptions: trial_will_end, trial end, renewals, retries, expiry.

`run_due` executes, in time order, every action due up to a moment, for the objects on one test
clock (or, with clock_id None, for objects on the wall clock).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from ..events import emit
from ..render import render
from ..timeutil import DAY, add_interval
from .invoicing import bill, create_invoice, open_invoices, retry_due_invoice
from .status import cancel_now, tracking
from ..objects.subscriptions import items_of, period_of, set_period

if TYPE_CHECKING:
    from ..core import Emulator

log = logging.getLogger(__name__)
TRIAL_WARNING = 3 * DAY
INCOMPLETE_TTL = 23 * 3600
MAX_STEPS = 5000
Action = tuple[int, int, str, Callable[[int], None]]


def next_period_end(emu: "Emulator", sub: dict[str, Any], start: int) -> int:
    """End of the period starting at `start`, from the first item's price interval."""
    items = items_of(emu, sub)
    price = emu.store.get(items[0]["price"], "price") if items else None
    recurring = (price or {}).get("recurring") or {"interval": "month", "interval_count": 1}
    return add_interval(start, recurring["interval"], recurring["interval_count"],
                        sub["billing_cycle_anchor"])


def end_trial(emu: "Emulator", sub: dict[str, Any], now: int) -> None:
    """Trial over: a new period starts and its first real invoice is charged."""
    with tracking(emu, sub, now):
        start = sub["trial_end"]
        set_period(emu, sub, start, next_period_end(emu, sub, start))
        _, paid = bill(emu, sub, "subscription_cycle", period_of(emu, sub), (sub["trial_start"],
                                                                             start), now)
        sub["status"] = "active" if paid else "past_due"


def renew(emu: "Emulator", sub: dict[str, Any], now: int) -> None:
    """Period end: cancel if asked to, else start the next period and charge its invoice.

    An unpaid subscription keeps renewing, as on Stripe, but its new invoice stays a draft
    (auto_advance false) and nothing is charged until the customer pays (see save_card).
    """
    old_start, old_end = period_of(emu, sub)
    if sub["cancel_at_period_end"] or (sub["cancel_at"] and sub["cancel_at"] <= old_end):
        cancel_now(emu, sub, now, "cancellation_requested")
        return
    with tracking(emu, sub, now):
        set_period(emu, sub, old_end, next_period_end(emu, sub, old_end))
        if sub["status"] == "unpaid":
            draft = create_invoice(emu, sub, "subscription_cycle", period_of(emu, sub),
                                   (old_start, old_end), now)
            draft["auto_advance"] = False
            emu.store.put(draft)
            return
        _, paid = bill(emu, sub, "subscription_cycle", period_of(emu, sub), (old_start, old_end),
                       now)
        if not paid and sub["status"] == "active":
            sub["status"] = "past_due"
        elif paid and sub["status"] == "past_due" and not any(
                _belongs(i, sub) for i in open_invoices(emu, sub["customer"])):
            sub["status"] = "active"


def _belongs(invoice: dict[str, Any], sub: dict[str, Any]) -> bool:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription") == sub["id"]


def _warn_trial(emu: "Emulator", sub: dict[str, Any], now: int) -> None:
    sub["_trial_will_end_sent"] = True
    emu.store.put(sub)
    emit(emu, "customer.subscription.trial_will_end", render(emu, sub), created=now)


def due_actions(emu: "Emulator", clock_id: str | None) -> list[Action]:
    """Every pending timed action for objects on `clock_id` (None: the wall clock)."""
    actions: list[Action] = []
    for sub in emu.store.all("subscription", lambda s: s.get("test_clock") == clock_id):
        actions.extend(_sub_actions(emu, sub))
    for invoice in emu.store.all("invoice", lambda i: i.get("test_clock") == clock_id
                                 and i["status"] == "open" and i["next_payment_attempt"]):
        actions.append((invoice["next_payment_attempt"], 1, f"retry {invoice['id']}",
                        lambda now, i=invoice: retry_due_invoice(emu, i, now)))
    if clock_id is None:
        from .checkout_flow import expire_session
        for session in emu.store.all("checkout.session", lambda c: c["status"] == "open"):
            actions.append((session["expires_at"], 3, f"expire {session['id']}",
                            lambda now, c=session: expire_session(emu, c, now)))
    return actions


def _sub_actions(emu: "Emulator", sub: dict[str, Any]) -> list[Action]:
    status = sub["status"]
    found: list[Action] = []
    if sub.get("deleted"):
        return found
    if status == "trialing" and sub["trial_end"]:
        if not sub["_trial_will_end_sent"]:
            warn_at = max(sub["trial_start"] or 0, sub["trial_end"] - TRIAL_WARNING)
            found.append((warn_at, 0, f"trial_will_end {sub['id']}",
                          lambda now, s=sub: _warn_trial(emu, s, now)))
        if sub["cancel_at_period_end"]:
            found.append((sub["trial_end"], 2, f"cancel {sub['id']}",
                          lambda now, s=sub: cancel_now(emu, s, now, "cancellation_requested")))
        else:
            found.append((sub["trial_end"], 2, f"trial_end {sub['id']}",
                          lambda now, s=sub: end_trial(emu, s, now)))
    elif status in ("active", "past_due", "unpaid"):
        end = period_of(emu, sub)[1]
        if sub["cancel_at"] and sub["cancel_at"] < end:
            found.append((sub["cancel_at"], 2, f"cancel_at {sub['id']}",
                          lambda now, s=sub: cancel_now(emu, s, now, "cancellation_requested")))
        else:
            found.append((end, 2, f"renew {sub['id']}", lambda now, s=sub: renew(emu, s, now)))
    elif status == "incomplete":
        found.append((sub["created"] + INCOMPLETE_TTL, 2, f"expire {sub['id']}",
                      lambda now, s=sub: cancel_now(emu, s, now, "payment_failed")))
    return found


def run_due(emu: "Emulator", clock_id: str | None, until: int,
            on_step: Callable[[int], None] | None = None) -> int:
    """Run every action due at or before `until`, earliest first; returns how many ran.

    Stops after MAX_STEPS actions, so no state can make it loop forever: the wall-clock sweep
    carries on at its next tick, a test clock advance refuses (clock_runner.advance_clock).
    """
    steps = 0
    with emu.lock:
        while steps < MAX_STEPS:
            due = [a for a in due_actions(emu, clock_id) if a[0] <= until]
            if not due:
                break
            when, _, label, run = min(due, key=lambda a: (a[0], a[1]))
            log.debug("clock.step", extra={"clock": clock_id, "at": when, "action": label})
            with emu.store.transaction():  # an action that fails leaves nothing half done
                if on_step is not None:
                    on_step(when)
                run(when)
            steps += 1
    return steps
