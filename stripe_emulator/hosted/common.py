"""Helpers shared by the hosted pages: money, card forms, 3-D Secure, page rendering."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Response, make_response, render_template, url_for
from werkzeug.datastructures import MultiDict

from ..billing import cards
from ..errors import StripeError, card_error
from ..objects.customers import new_card_payment_method

TEMPLATES = str(Path(__file__).resolve().parent.parent / "templates")


def money(amount: int | None, currency: str | None) -> str:
    """2000, "usd" -> "20.00 USD"."""
    return f"{(amount or 0) / 100:.2f} {(currency or 'usd').upper()}"


def absolute(endpoint: str, **values: Any) -> str:
    """An absolute URL of a hosted page (redirect targets must be absolute)."""
    from ..api.base import base_url
    return base_url() + url_for(endpoint, **values)


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render a hosted page with a status code."""
    resp = make_response(render_template(template, **context), status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def card_from_form(form: MultiDict[str, str], now: int) -> dict[str, Any]:
    """A (not yet stored) payment method from fields card_number, exp, cvc, name."""
    number = "".join(ch for ch in form.get("card_number", "") if cards.is_digits(ch))
    expiry = cards.parse_expiry(form.get("exp", ""))
    if expiry is None:
        raise card_error("invalid_expiry_month", "Your card's expiration date is incomplete.",
                         param="exp")
    when = datetime.fromtimestamp(now, timezone.utc)
    cards.check_card(number, expiry[0], expiry[1], form.get("cvc", "").strip(), when.year,
                     when.month)
    name = form.get("name", "").strip() or None
    return new_card_payment_method(number, expiry[0], expiry[1], now, {"name": name})


def error_text(err: StripeError) -> str:
    """What the payer reads for a card error."""
    return err.message
