"""The known reasons a Stripe event cannot be applied yet, and what `last_error` keeps of a failure.

A known cause (unknown price, no tenant, Stripe unreachable or refusing) is an EventFailure: one ERROR
line naming it and the runbook's fix, no traceback. Anything else is unexpected and keeps its traceback.
"""
from __future__ import annotations

from webapp.errors import BillingUnavailable, EventFailure, StripeRequestFailed


def known_failure(exc: Exception) -> EventFailure | None:
    """The known reasons an event cannot be applied yet, as an EventFailure; None for anything unexpected."""
    if isinstance(exc, EventFailure):
        return exc
    if isinstance(exc, BillingUnavailable):
        return EventFailure("STRIPE_UNREACHABLE", exc.message,
                            "nothing to do if Stripe is down: it retries the delivery; otherwise check "
                            "STRIPE_SECRET_KEY / STRIPE_API_BASE, then `flask billing replay --failed`",
                            status=exc.status)  # 503: unavailable for now, as BillingUnavailable says
    if isinstance(exc, StripeRequestFailed):
        return EventFailure("STRIPE_ERROR", exc.message,
                            "check the object in the Stripe Dashboard, then `flask billing replay --failed`")
    return None


def error_text(exc: Exception) -> str:
    """What `last_error` keeps: the known cause and its fix, or the exception's type and message."""
    known = known_failure(exc)
    text = f"{known.cause}: {known.message} (fix: {known.fix})" if known else f"{type(exc).__name__}: {exc}"
    return text[:2000]
