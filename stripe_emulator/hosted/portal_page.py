"""The hosted Billing Portal: {base}/billing_portal/{bps_id}."""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, request, url_for

from ..api.base import emulator
from ..billing import cards
from ..billing.changes import change_items, set_cancel_at_period_end
from ..billing.invoicing import open_invoices, payment_method_for
from ..billing.status import tracking
from ..errors import StripeError
from ..objects.catalog import is_addon, product_name
from ..objects.portal_configurations import allowed_prices, default_configuration
from ..objects.subscriptions import items_of, items_amount, period_of
from ..timeutil import iso, real_now
from .common import TEMPLATES, absolute, card_from_form, money, page
from .portal_actions import offered_prices, plan_items, portal_price, save_card

bp = Blueprint("portal_page", __name__, template_folder=TEMPLATES)
MAX_ADDON_QUANTITY = 1000
NOTICES = {"plan": "Your plan has been changed.", "addon": "Quantity updated.",
           "card": "Your card has been updated.", "paid": "Your card has been updated and the "
           "unpaid invoice was paid.", "cancel": "Your plan will be canceled at the end of the "
           "billing period.", "resume": "Your plan will continue.",
           "unpaid": "Your card has been updated, but the unpaid invoice could not be charged."}


def _current_sub(customer_id: str) -> dict[str, Any] | None:
    subs = emulator().store.all("subscription", lambda s: s["customer"] == customer_id
                                and not s.get("deleted")
                                and s["status"] not in ("canceled", "incomplete_expired"))
    return subs[0] if subs else None


def configuration_of(session: dict[str, Any]) -> dict[str, Any]:
    """The session's portal configuration (the default for sessions made before it existed)."""
    emu = emulator()
    found = emu.store.get(session.get("configuration") or "", "billing_portal.configuration")
    return found if found is not None else default_configuration(emu, real_now())


def _feature(session: dict[str, Any], name: str) -> dict[str, Any]:
    """A feature of the session's configuration; a 403 page when it is switched off."""
    feature = configuration_of(session)["features"][name]
    if not feature["enabled"]:
        raise StripeError("This portal does not offer that.", status=403)
    return feature


def _view(session: dict[str, Any], status: int = 200, error: str | None = None) -> Response:
    emu = emulator()
    customer = emu.fetch("customer", session["customer"], allow_deleted=True)
    sub = _current_sub(customer["id"])
    features = configuration_of(session)["features"]
    ctx: dict[str, Any] = {"session": session, "customer": customer, "sub": sub, "error": error,
                           "notice": NOTICES.get(request.args.get("notice", "")),
                           "return_host": urlsplit(session["return_url"] or "").netloc or "app",
                           "features": {k: v["enabled"] for k, v in features.items()}}
    pm = payment_method_for(emu, sub, customer["id"])
    ctx["card"] = pm["card"] if pm else None
    if sub is not None:
        ctx.update(_plan_context(sub, configuration_of(session)))
    ctx["open_invoices"] = [{"number": i["number"], "amount": money(i["amount_remaining"],
                                                                    i["currency"]),
                             "attempts": i["attempt_count"]}
                            for i in open_invoices(emu, customer["id"])]
    ctx["invoices"] = [{"number": i["number"], "date": iso(i["created"]),
                        "amount": money(i["total"], i["currency"]), "status": i["status"],
                        "url": i["hosted_invoice_url"]}
                       for i in emu.store.all("invoice", lambda i: i["customer"] == customer["id"]
                                              and i["status"] != "draft")][:24]
    return page("portal.html", status, **ctx)


def _plan_context(sub: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    emu = emulator()
    items = items_of(emu, sub)
    plan_price = emu.fetch("price", plan_items(emu, sub)[0]["price"])
    plans, addons = offered_prices(emu, sub, allowed_prices(config))
    update = config["features"]["subscription_update"]

    def label(price: dict[str, Any]) -> str:
        return (f"{product_name(emu, price)} – {money(price['unit_amount'], price['currency'])}"
                f" / {price['recurring']['interval']}")

    quantities = {i["price"]: i["quantity"] for i in items}
    _, end = period_of(emu, sub)
    return {"plan_name": product_name(emu, plan_price), "plan_price": label(plan_price)
            .split(" – ", 1)[1], "plan_price_id": plan_price["id"],
            "plans": [{"id": p["id"], "label": label(p)} for p in plans],
            "addons": [{"id": p["id"], "label": product_name(emu, p), "quantity":
                        quantities.get(p["id"], 0)} for p in addons],
            "can_change_plan": update["enabled"] and len(plans) > 1,
            "can_adjust": update["enabled"] and "quantity" in update["default_allowed_updates"],
            "period_end": iso(end), "trial_end": iso(sub["trial_end"]),
            "next_invoice": None if sub["cancel_at_period_end"] else
            money(items_amount(emu, sub), sub["currency"])}


def _with_session(session_id: str, action: Callable[[dict[str, Any]], Response]) -> Response:
    """Run `action` as one transaction; an error undoes all of it and re-shows the portal."""
    emu = emulator()
    try:
        with emu.store.transaction():
            session = emu.store.get(session_id, "billing_portal.session")
            if session is None:
                return page("message.html", 404, heading="No such billing portal session.")
            return action(session)
    except StripeError as err:
        with emu.lock:
            return _view(emu.fetch("billing_portal.session", session_id), err.status, err.message)


def _back(session: dict[str, Any], notice: str) -> Response:
    return redirect(absolute("portal_page.show", session_id=session["id"], notice=notice), 303)


def _form_sub(session: dict[str, Any]) -> dict[str, Any]:
    sub = emulator().fetch("subscription", request.form.get("subscription"), "subscription")
    if sub["customer"] != session["customer"]:
        raise StripeError("That subscription belongs to another customer.", status=403)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError("This subscription has ended.", param="subscription")
    return sub


@bp.get("/billing_portal/<session_id>")
def show(session_id: str) -> Response:
    """The portal page: plan, status, next invoice, card, and the forms."""
    return _with_session(session_id, _view)


@bp.post("/billing_portal/<session_id>/plan")
def change_plan(session_id: str) -> Response:
    """Switch the plan item to another offered plan price (fields subscription, price)."""
    def act(session: dict[str, Any]) -> Response:
        emu, sub = emulator(), _form_sub(session)
        update = _feature(session, "subscription_update")
        price = portal_price(emu, sub, request.form.get("price", ""), addon=False,
                             allowed=allowed_prices(configuration_of(session)))
        now = emu.customer_now(sub["customer"])
        with tracking(emu, sub, now):
            change_items(emu, sub, [{"id": plan_items(emu, sub)[0]["id"], "price": price["id"]}],
                         now, update["proration_behavior"])
        return _back(session, "plan")
    return _with_session(session_id, act)


@bp.post("/billing_portal/<session_id>/addon")
def change_addon(session_id: str) -> Response:
    """Set an add-on price's quantity (fields subscription, price, quantity; 0 removes it)."""
    def act(session: dict[str, Any]) -> Response:
        emu, sub = emulator(), _form_sub(session)
        update = _feature(session, "subscription_update")
        if "quantity" not in update["default_allowed_updates"]:
            raise StripeError("This portal does not offer quantity changes.", status=403)
        raw = request.form.get("quantity", "").strip()
        if not (cards.is_digits(raw) and int(raw) <= MAX_ADDON_QUANTITY):
            raise StripeError(f"Please enter a whole number of at least 0 (to remove it) and at "
                              f"most {MAX_ADDON_QUANTITY}.", param="quantity")
        quantity, price_id = int(raw), request.form.get("price", "")
        current = [i for i in items_of(emu, sub) if i["price"] == price_id
                   and is_addon(emu, emu.fetch("price", price_id))]
        if current:
            change = {"id": current[0]["id"], **({"deleted": True} if quantity == 0
                                                 else {"quantity": quantity})}
        else:
            change = {"price": portal_price(emu, sub, price_id, addon=True,
                                            allowed=allowed_prices(configuration_of(session)))
                      ["id"], "quantity": quantity}
        if current or quantity:
            now = emu.customer_now(sub["customer"])
            with tracking(emu, sub, now):
                change_items(emu, sub, [change], now, update["proration_behavior"])
        return _back(session, "addon")
    return _with_session(session_id, act)


@bp.post("/billing_portal/<session_id>/cancel")
def cancel(session_id: str) -> Response:
    """Cancel at period end (field subscription)."""
    return _with_session(session_id, lambda s: _set_cancel(s, True))


@bp.post("/billing_portal/<session_id>/resume")
def resume(session_id: str) -> Response:
    """Undo a scheduled cancellation (field subscription)."""
    return _with_session(session_id, lambda s: _set_cancel(s, False))


def _set_cancel(session: dict[str, Any], flag: bool) -> Response:
    _feature(session, "subscription_cancel")
    emu, sub = emulator(), _form_sub(session)
    now = emu.customer_now(sub["customer"])
    with tracking(emu, sub, now):
        set_cancel_at_period_end(sub, flag, now)
    return _back(session, "cancel" if flag else "resume")


@bp.post("/billing_portal/<session_id>/card")
def update_card(session_id: str) -> Response:
    """Save a new card (fields card_number, exp, cvc, name) and retry open invoices with it."""
    def act(session: dict[str, Any]) -> Response:
        emu = emulator()
        _feature(session, "payment_method_update")
        pm = card_from_form(request.form, real_now())
        failure = cards.setup_error(pm)
        if failure is not None:
            raise failure
        emu.store.put(pm)
        if cards.needs_authentication(pm):
            session["_pending"] = {"pm": pm["id"]}
            emu.store.put(session)
            return redirect(absolute("portal_page.three_d_secure", session_id=session_id), 303)
        return _back(session, save_card(emu, session, pm))
    return _with_session(session_id, act)


@bp.get("/billing_portal/<session_id>/3ds")
def three_d_secure(session_id: str) -> Response:
    """The 3-D Secure challenge for a new card: Complete or Fail."""
    def act(session: dict[str, Any]) -> Response:
        pm = emulator().fetch("payment_method", (session.get("_pending") or {}).get("pm"))
        return page("three_d_secure.html", last4=pm["card"]["last4"], amount=None,
                    action=url_for("portal_page.authenticate", session_id=session_id))
    return _with_session(session_id, act)


@bp.post("/billing_portal/<session_id>/3ds")
def authenticate(session_id: str) -> Response:
    """Save the card after Complete; show the failure after Fail."""
    def act(session: dict[str, Any]) -> Response:
        emu = emulator()
        pm = emu.fetch("payment_method", (session.get("_pending") or {}).get("pm"))
        session["_pending"] = None
        emu.store.put(session)
        if request.form.get("action") != "complete":
            return _view(session, 402, cards.AUTH_FAILED)
        pm["_authenticated"] = True
        return _back(session, save_card(emu, session, pm))
    return _with_session(session_id, act)


