"""Stripe-style identifiers and secrets."""
from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    """A random base62 string: one uniform draw below 62**length, written in base 62 (one call to
    the OS's generator instead of one per character)."""
    number = secrets.randbelow(len(_ALPHABET) ** length)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def new_id(prefix: str, length: int = 24) -> str:
    """A new id with Stripe's prefix, e.g. new_id("cus") -> "cus_Qx...". """
    if prefix == "cs":
        return "cs_test_" + random_token(58)
    return f"{prefix}_{random_token(length)}"


def webhook_secret() -> str:
    """A new webhook signing secret (whsec_...)."""
    return "whsec_" + random_token(32)
