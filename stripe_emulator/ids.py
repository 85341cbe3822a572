"""Stripe-style identifiers and secrets."""
from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    """A random base62 string."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    """A new id with Stripe's prefix, e.g. new_id("cus") -> "cus_Qx...". """
    if prefix == "cs":
        return "cs_test_" + random_token(58)
    return f"{prefix}_{random_token(length)}"


def webhook_secret() -> str:
    """A new webhook signing secret (whsec_...)."""
    return "whsec_" + random_token(32)
