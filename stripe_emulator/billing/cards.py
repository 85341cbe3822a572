"""Stripe's test cards and how each behaves when attached, authenticated and charged."""
from __future__ import annotations

import hashlib
from typing import Any

from ..errors import StripeError, card_error

OK, DECLINE, INSUFFICIENT, THREE_DS, CHARGE_FAIL = "ok", "decline", "insufficient", "3ds", \
    "charge_fail"
BEHAVIOUR = {"4000000000000002": DECLINE, "4000000000009995": INSUFFICIENT,
             "4000002500003155": THREE_DS, "4000000000000341": CHARGE_FAIL}
MAGIC = {"pm_card_visa": "4242424242424242", "pm_card_mastercard": "5555555555554444",
         "pm_card_amex": "378282246310005", "pm_card_chargeDeclined": "4000000000000002",
         "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
         "pm_card_chargeCustomerFail": "4000000000000341",
         "pm_card_authenticationRequiredOnSetup": "4000002500003155",
         "tok_visa": "4242424242424242", "tok_mastercard": "5555555555554444",
         "tok_chargeDeclined": "4000000000000002",
         "tok_chargeDeclinedInsufficientFunds": "4000000000009995",
         "tok_chargeCustomerFail": "4000000000000341"}
AUTH_FAILED = ("We are unable to authenticate your payment method. Please choose a different "
               "payment method and try again.")


def behaviour(number: str) -> str:
    """How a card number behaves (ok for any valid number that is not a special test card)."""
    return BEHAVIOUR.get(number, OK)


def brand(number: str) -> str:
    """Card brand from the number's prefix."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if number[:2] in ("51", "52", "53", "54", "55") or number[:1] == "2":
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def is_digits(text: str) -> bool:
    """Only ASCII digits (str.isdigit alone also takes "²", which int() refuses)."""
    return text.isascii() and text.isdigit()


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every real card number passes."""
    if not is_digits(number) or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def parse_expiry(text: str) -> tuple[int, int] | None:
    """"12/34", "12 / 2034", "1234" -> (12, 2034); None when unreadable."""
    digits = "".join(c for c in text if is_digits(c) or c == "/")
    month, _, year = digits.partition("/") if "/" in digits else (digits[:2], "", digits[2:])
    if not (is_digits(month) and is_digits(year)) or len(year) > 4:
        return None
    m, y = int(month), int(year)
    y = y + 2000 if y < 100 else y
    return (m, y) if 1 <= m <= 12 else None


def check_card(number: str, exp_month: int, exp_year: int, cvc: str | None,
               now_year: int, now_month: int) -> None:
    """Raise the card_error Stripe gives for a bad number, expiry or CVC."""
    if not luhn_valid(number):
        raise card_error("incorrect_number", "Your card number is incorrect.", param="number")
    if not 1 <= exp_month <= 12:
        raise card_error("invalid_expiry_month", "Your card's expiration month is invalid.",
                         param="exp_month")
    if (exp_year, exp_month) < (now_year, now_month):
        raise card_error("expired_card", "Your card has expired.", param="exp_year")
    if cvc is not None and not (is_digits(cvc) and len(cvc) in (3, 4)):
        raise card_error("invalid_cvc", "Your card's security code is invalid.", param="cvc")


def card_details(number: str, exp_month: int, exp_year: int) -> dict[str, Any]:
    """The `card` hash of a payment method."""
    card_brand = brand(number)
    return {"brand": card_brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": "US", "display_brand": card_brand, "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": hashlib.sha256(number.encode()).hexdigest()[:16],
            "funding": "credit", "generated_from": None, "last4": number[-4:],
            "networks": {"available": [card_brand], "preferred": None},
            "three_d_secure_usage": {"supported": True}, "wallet": None,
            "regulated_status": None}


def setup_error(pm: dict[str, Any]) -> StripeError | None:
    """Why attaching/saving this card fails, if it does (declines fail at setup, like Stripe)."""
    kind = pm.get("_behaviour", OK)
    if kind == DECLINE:
        return card_error("card_declined", "Your card was declined.", "generic_decline")
    if kind == INSUFFICIENT:
        return card_error("card_declined", "Your card has insufficient funds.",
                          "insufficient_funds")
    return None


def needs_authentication(pm: dict[str, Any]) -> bool:
    """A 3-D Secure card not yet authenticated by the cardholder."""
    return pm.get("_behaviour") == THREE_DS and not pm.get("_authenticated")


def charge_error(pm: dict[str, Any] | None) -> StripeError | None:
    """Why charging this card fails, if it does."""
    if pm is None:
        return StripeError("The customer has no default payment method.", code="resource_missing",
                           status=402, type="card_error")
    failure = setup_error(pm)
    if failure is not None:
        return failure
    if pm.get("_behaviour") == CHARGE_FAIL:
        return card_error("card_declined", "Your card was declined.", "generic_decline")
    if needs_authentication(pm):
        return card_error("authentication_required", "Your card was declined. This transaction "
                          "requires authentication.", "authentication_required")
    return None
