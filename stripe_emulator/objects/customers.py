"""Customers and card payment methods."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..billing import cards
from ..errors import invalid, missing_param
from ..ids import new_id, random_token
from .common import empty_address, merge_metadata

if TYPE_CHECKING:
    from ..core import Emulator


def new_customer(params: dict[str, Any], created: int) -> dict[str, Any]:
    """A customer from CustomerCreateParams, created at `created` (its clock's time)."""
    settings = params.get("invoice_settings") or {}
    return {"id": new_id("cus", 14), "object": "customer", "address": params.get("address"),
            "balance": params.get("balance") or 0, "created": created, "currency": None,
            "default_source": None, "delinquent": False,
            "description": params.get("description"), "discount": None,
            "email": params.get("email"), "invoice_prefix": random_token(8).upper(),
            "invoice_settings": {"custom_fields": None,
                                 "default_payment_method": settings.get("default_payment_method"),
                                 "footer": None, "rendering_options": None},
            "livemode": False, "metadata": merge_metadata({}, params.get("metadata") or {}),
            "name": params.get("name"), "next_invoice_sequence": 1,
            "phone": params.get("phone"), "preferred_locales": params.get("preferred_locales") or [],
            "shipping": None, "tax_exempt": params.get("tax_exempt") or "none",
            "test_clock": params.get("test_clock")}


def new_card_payment_method(number: str, exp_month: int, exp_year: int, created: int,
                            billing: dict[str, Any] | None = None) -> dict[str, Any]:
    """A card payment method; private fields remember how the test card behaves."""
    billing = billing or {}
    return {"id": new_id("pm"), "object": "payment_method", "allow_redisplay": "unspecified",
            "billing_details": {"address": billing.get("address") or empty_address(),
                                "email": billing.get("email"), "name": billing.get("name"),
                                "phone": billing.get("phone"), "tax_id": None},
            "card": cards.card_details(number, exp_month, exp_year), "created": created,
            "customer": None, "livemode": False, "metadata": {}, "type": "card",
            "customer_account": None, "_behaviour": cards.behaviour(number),
            "_authenticated": False}


def card_from_params(card: dict[str, Any], created: int) -> dict[str, Any]:
    """A payment method from PaymentMethodCreateParams[card] (a number, or a test token)."""
    if card.get("token"):
        number = cards.MAGIC.get(card["token"])
        if number is None:
            raise invalid(f"No such token: '{card['token']}'", "card[token]", "resource_missing")
        return new_card_payment_method(number, 12, _year(created) + 5, created)
    for field in ("number", "exp_month", "exp_year"):
        if field not in card:
            raise missing_param(f"card[{field}]")
    number = str(card["number"]).replace(" ", "")
    when = datetime.fromtimestamp(created, timezone.utc)
    cards.check_card(number, card["exp_month"], _full_year(card["exp_year"]), card.get("cvc"),
                     when.year, when.month)
    return new_card_payment_method(number, card["exp_month"], _full_year(card["exp_year"]),
                                   created)


def resolve_payment_method(emu: "Emulator", pm_id: str, param: str, created: int
                           ) -> dict[str, Any]:
    """A stored payment method, or a fresh one for a test id such as pm_card_visa."""
    if pm_id in cards.MAGIC:
        pm = new_card_payment_method(cards.MAGIC[pm_id], 12, _year(created) + 5, created)
        emu.store.put(pm)
        return pm
    return emu.fetch("payment_method", pm_id, param)


def _year(ts: int) -> int:
    return datetime.fromtimestamp(ts, timezone.utc).year


def _full_year(year: int) -> int:
    return year + 2000 if year < 100 else year
