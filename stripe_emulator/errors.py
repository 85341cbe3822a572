"""Stripe-shaped API errors: the one place that knows the error body and status codes."""
from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs"


class StripeError(Exception):
    """An error answered as Stripe does: {"error": {"type", "code", "message", "param", ...}}."""

    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None,
                 status: int | None = None, type: str | None = None,  # noqa: A002 - Stripe's name
                 replayable: bool = True, keep_changes: bool = False, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.replayable = replayable  # False: failed validation, so idempotency keeps nothing
        # True: the request did real work before failing (a declined charge), which Stripe keeps;
        # otherwise the request's transaction is rolled back (Store.transaction)
        self.keep_changes = keep_changes
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """Return the JSON body Stripe would send for this error."""
        err: dict[str, Any] = {"type": self.type, "code": self.code, "message": self.message,
                               "param": self.param}
        if self.code:
            err["doc_url"] = f"{DOCS}/error-codes/{self.code.replace('_', '-')}"
        err.update(self.extra)
        return {"error": err}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """A 400 invalid_request_error raised while validating parameters (not kept for idempotency)."""
    return StripeError(message, code=code, param=param, replayable=False)


def missing_param(param: str) -> StripeError:
    """400 parameter_missing, worded as Stripe words it."""
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def unknown_param(param: str) -> StripeError:
    """400 parameter_unknown, worded as Stripe words it."""
    return invalid(f"Received unknown parameter: {param}", param, "parameter_unknown")


def resource_missing(label: str, obj_id: str, param: str = "id") -> StripeError:
    """404 resource_missing: "No such customer: 'cus_x'"."""
    return StripeError(f"No such {label}: '{obj_id}'", code="resource_missing", param=param,
                       status=404)


def card_error(code: str, message: str, decline_code: str | None = None,
               param: str | None = None, keep_changes: bool = False) -> StripeError:
    """402 card_error, with decline_code when the issuer declined."""
    extra: dict[str, Any] = {}
    if decline_code:
        extra["decline_code"] = decline_code
    return StripeError(message, code=code, param=param, status=402, type="card_error",
                       keep_changes=keep_changes, **extra)


def auth_error(message: str) -> StripeError:
    """401 invalid_request_error for a missing, malformed or live key."""
    return StripeError(message, status=401, replayable=False)


def idempotency_error(message: str, status: int = 400) -> StripeError:
    """400 (parameters differ) or 409 (still running) idempotency_error."""
    return StripeError(message, status=status, type="idempotency_error",
                       code="idempotency_key_in_use" if status == 409 else None, replayable=False)
