"""The domain error family: services raise these, `error_handlers` turns them into responses.

Every code the API can answer with is listed in CODES so clients and docs have one list.
"""
from __future__ import annotations

CODES = {
    "INVALID_REQUEST": "The request body or a field in it is not acceptable.",
    "INVALID_CREDENTIALS": "Email or password is wrong.",
    "UNAUTHORIZED": "A valid Bearer token is required.",
    "FORBIDDEN": "The signed-in user may not do this.",
    "EMAIL_TAKEN": "An account with this email already exists.",
    "NOT_FOUND": "No such resource.",
    "METHOD_NOT_ALLOWED": "The route does not accept this HTTP method.",
    "RATE_LIMITED": "Too many requests; retry after the Retry-After header's seconds.",
    "INTERNAL_ERROR": "An unexpected error; it has been logged.",
    "SERVICE_UNAVAILABLE": "A dependency (the database) is not answering.",
    "UNKNOWN_PRICE": "The price or plan is not one we sell.",
    "ALREADY_SUBSCRIBED": "The tenant has a subscription; change plans in the Billing Portal.",
    "NO_BILLING_ACCOUNT": "The tenant has no Stripe customer yet; subscribe first.",
    "BILLING_UNAVAILABLE": "Stripe is not configured or not reachable.",
    "STRIPE_ERROR": "Stripe refused the request.",
    "BAD_SIGNATURE": "The webhook's Stripe-Signature is missing, wrong or too old.",
    "INVALID_EVENT": "The webhook body is not a Stripe event.",
    "EVENT_IN_PROGRESS": "Another delivery of this event is being processed; retry later.",
    "WEBHOOK_FAILED": "Processing the event failed; it is kept and Stripe will retry.",
    "COMPANY_LIMIT_REACHED": "The plan's company allowance is used up.",
    "COMPANY_EXISTS": "A company with this name already exists.",
    "CSRF_FAILED": "The form's CSRF token is missing or stale.",
}


class DomainError(Exception):
    """A failure the client can act on; `status` and `code` decide the response."""

    status = 400
    code = "INVALID_REQUEST"
    retry_after: int | None = None

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = details


class ValidationError(DomainError):
    """Bad input: `fields` maps each offending field to what is wrong with it."""

    status = 400
    code = "INVALID_REQUEST"

    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int = 400) -> None:
        super().__init__(message, fields=fields or {})
        self.fields = fields or {}
        self.status = status


class InvalidCredentials(DomainError):
    """Login failed; the same answer whether or not the email exists."""

    status = 401
    code = "INVALID_CREDENTIALS"


class Unauthorized(DomainError):
    """No valid Bearer token on an /api/ route."""

    status = 401
    code = "UNAUTHORIZED"


class Forbidden(DomainError):
    """Authenticated, but not allowed."""

    status = 403
    code = "FORBIDDEN"


class EmailTaken(DomainError):
    """Sign-up with an email that is already registered."""

    status = 409
    code = "EMAIL_TAKEN"


class NotFound(DomainError):
    """A resource that does not exist or belongs to another tenant."""

    status = 404
    code = "NOT_FOUND"


class Conflict(DomainError):
    """A request that clashes with the current state; `code` is given by the raiser."""

    status = 409

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message, **details)
        self.code = code


class PaywallError(DomainError):
    """402 when the tenant's plan does not include the action, 429 when a period cap is used up."""

    def __init__(self, code: str, status: int, plan: str, message: str,
                 retry_after: int | None = None, **details: object) -> None:
        super().__init__(message, plan=plan, **details)
        self.code, self.status, self.retry_after = code, status, retry_after


class BillingUnavailable(DomainError):
    """Stripe is not configured (no key) or did not answer."""

    status = 503
    code = "BILLING_UNAVAILABLE"


class StripeRequestFailed(DomainError):
    """Stripe answered with an error to a request we made."""

    status = 502
    code = "STRIPE_ERROR"


class WebhookRejected(DomainError):
    """A webhook delivery that is not a verified Stripe event: 400, nothing stored."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
