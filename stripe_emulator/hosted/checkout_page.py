"""The hosted Checkout page: {base}/checkout/{cs_id} (card form, 3-D Secure step, cancel)."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response, redirect, request, url_for

from ..api.base import emulator
from ..billing import cards
from ..billing.checkout_flow import card_problem, complete_session, expire_session
from ..errors import StripeError
from ..objects.catalog import product_name
from ..timeutil import real_now
from .common import TEMPLATES, absolute, card_from_form, money, page

bp = Blueprint("checkout_page", __name__, template_folder=TEMPLATES)


def _session(session_id: str) -> dict[str, Any] | None:
    emu = emulator()
    session = emu.store.get(session_id, "checkout.session")
    if session is not None and session["status"] == "open" and session["expires_at"] <= real_now():
        expire_session(emu, session, real_now())
    return session


def _missing() -> Response:
    return page("message.html", 404, heading="No such checkout session.")


def _show(session: dict[str, Any], status: int = 200, error: str | None = None,
          form: dict[str, str] | None = None) -> Response:
    emu = emulator()
    lines, interval = [], "month"
    for line in session["_line_items"]:
        price = emu.store.get(line["price"], "price") or {}
        interval = (price.get("recurring") or {}).get("interval", "month")
        lines.append({"name": product_name(emu, price), "quantity": line["quantity"],
                      "unit": money(price.get("unit_amount"), price.get("currency")),
                      "interval": interval})
    customer = emu.store.get(session["customer"] or "", "customer") or {}
    email = session["customer_email"] or customer.get("email") or (form or {}).get("email")
    total = sum((emu.store.get(l["price"], "price") or {}).get("unit_amount", 0) * l["quantity"]
                for l in session["_line_items"])
    success_url = (session["success_url"] or "").replace("{CHECKOUT_SESSION_ID}", session["id"])
    return page("checkout.html", status, session=session, lines=lines, interval=interval,
                plan_name=" + ".join(l["name"] for l in lines), total=money(total,
                                                                            session["currency"]),
                trial_days=session["_trial_days"], email=email,
                email_locked=bool(session["customer_email"] or customer.get("email")),
                needs_email=not session["customer"], error=error, success_url=success_url,
                name_value=(form or {}).get("name"))


@bp.get("/checkout/<session_id>")
def show(session_id: str) -> Response:
    """The checkout page: plan, price, trial and card form."""
    with emulator().lock:
        session = _session(session_id)
        return _missing() if session is None else _show(session)


@bp.post("/checkout/<session_id>")
def pay(session_id: str) -> Response:
    """Pay (or start the trial) with the posted card; declines re-show the form with the error."""
    def act(session: dict[str, Any]) -> Response:
        emu = emulator()
        if session["status"] != "open":
            return _show(session, 409, "This checkout session is no longer open.")
        email = session["customer_email"] or request.form.get("email", "").strip() or None
        if not session["customer"] and not email:
            return _show(session, 400, "Please enter your email address.", request.form)
        pm = card_from_form(request.form, real_now())
        failure = card_problem(session, pm)
        if failure is not None:
            raise failure
        emu.store.put(pm)
        if cards.needs_authentication(pm):
            session["_pending"] = {"pm": pm["id"], "email": email,
                                   "name": request.form.get("name") or None}
            emu.store.put(session)
            return redirect(absolute("checkout_page.three_d_secure", session_id=session_id), 303)
        return _finish(session, pm, email, request.form.get("name") or None)
    return _run_atomically(session_id, act)


def _run_atomically(session_id: str, action: Callable[[dict[str, Any]], Response]) -> Response:
    """Run a form post as one transaction; an error undoes it all and re-shows the page."""
    emu = emulator()
    try:
        with emu.store.transaction():
            session = _session(session_id)
            return _missing() if session is None else action(session)
    except StripeError as err:
        with emu.lock:
            session = _session(session_id)
            if session is None:
                return _missing()
            return _show(session, err.status, err.message, request.form)


def _finish(session: dict[str, Any], pm: dict[str, Any], email: str | None,
            name: str | None) -> Response:
    complete_session(emulator(), session, pm, email, name)
    if session["success_url"]:
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return redirect(target, 303)
    return page("message.html", heading="Thanks! Your subscription has started.")


@bp.get("/checkout/<session_id>/3ds")
def three_d_secure(session_id: str) -> Response:
    """The 3-D Secure challenge: Complete or Fail."""
    emu = emulator()
    with emu.lock:
        session = _session(session_id)
        if session is None or not session.get("_pending"):
            return _missing()
        pm = emu.store.get(session["_pending"]["pm"], "payment_method") or {"card": {}}
        amount = None if session["_trial_days"] else money(session["amount_total"],
                                                           session["currency"])
        return page("three_d_secure.html", last4=pm["card"].get("last4"), amount=amount,
                    action=url_for("checkout_page.authenticate", session_id=session_id))


@bp.post("/checkout/<session_id>/3ds")
def authenticate(session_id: str) -> Response:
    """Finish the checkout (Complete) or show the authentication failure (Fail)."""
    def act(session: dict[str, Any]) -> Response:
        emu = emulator()
        if not session.get("_pending") or session["status"] != "open":
            return _missing()
        pending = session["_pending"]
        session["_pending"] = None
        emu.store.put(session)
        pm = emu.fetch("payment_method", pending["pm"])
        if request.form.get("action") != "complete":
            return _show(session, 402, cards.AUTH_FAILED)
        pm["_authenticated"] = True
        emu.store.put(pm)
        return _finish(session, pm, pending["email"], pending["name"])
    return _run_atomically(session_id, act)


@bp.post("/checkout/<session_id>/cancel")
def cancel(session_id: str) -> Response:
    """Leave checkout: back to cancel_url (the session stays open until it expires)."""
    with emulator().lock:
        session = _session(session_id)
        if session is None:
            return _missing()
        if session["cancel_url"]:
            return redirect(session["cancel_url"], 303)
        return page("message.html", heading="Checkout canceled.")
