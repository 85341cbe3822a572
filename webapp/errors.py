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
    "NO_TENANT": "A Stripe customer or subscription that no tenant is linked to.",
    "STRIPE_UNREACHABLE": "Stripe did not answer (or refused our key) while an event was being applied.",
    "COMPANY_LIMIT_REACHED": "The plan's company allowance is used up.",
    "COMPANY_EXISTS": "A company with this name already exists.",
    "COMPANY_ARCHIVED": "The company is archived: its books are read-only until it is restored.",
    "WRONG_COMPANY": "Some rows named belong to another company than the one the request is for.",
    "CSRF_FAILED": "The form's CSRF token is missing or stale.",
    "ALREADY_POSTED": "Some entries (or transactions) are posted already; `ids` lists them.",
    "IMPORT_CONFLICT": "The same transactions were imported by a concurrent request; retry.",
    "PROPOSAL_CONFLICT": "The same transactions were proposed by a concurrent request; retry.",
    "UNBALANCED_ENTRY": "An entry's lines do not sum to zero; it was not posted.",
    "FREE_CAP_EXCEEDED": "The free tier's transactions for this UTC day are used up (429, Retry-After).",
    "SUBSCRIPTION_REQUIRED": "Posting entries needs a paid plan.",
    "PAYMENT_REQUIRED": "The subscription's payment failed (past_due or unpaid); update it in the portal.",
    "MONTHLY_CAP_EXCEEDED": "This request would pass the plan's monthly posting cap.",
    "BULK_APPROVE_NOT_INCLUDED": "The plan commits one entry per request.",
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


class RefusedInput(ValidationError):
    """Text the input policy refuses (NUL, a lone surrogate) in a named field: 400, nothing read or written."""


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


class Unbalanced(DomainError):
    """A journal entry whose lines do not sum to zero: it is never posted."""

    status = 422
    code = "UNBALANCED_ENTRY"


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


class EventFailure(DomainError):
    """A known reason a Stripe event cannot be applied yet: `cause` says what, `fix` what the runbook does.

    The event stays stored and failed (`last_error`), the webhook answers non-2xx so Stripe retries, and
    one ERROR line names cause and fix: no traceback, since nothing unexpected happened.
    """

    status = 500
    code = "WEBHOOK_FAILED"

    def __init__(self, cause: str, message: str, fix: str, status: int = 500, **details: object) -> None:
        super().__init__(message, cause=cause, fix=fix, **details)
        self.cause, self.fix, self.status = cause, fix, status
