"""The one module that turns errors into responses: JSON for API clients, a modal for htmx, a page otherwise."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.errors import DomainError, PaywallError, RefusedInput
from webapp.extensions import db, limiter
from webapp.input_policy import form_page_for_endpoint

log = logging.getLogger(__name__)

# Which fragment an htmx request gets for an error class; the default is the generic error fragment.
FRAGMENTS: dict[type[DomainError], str] = {PaywallError: "billing/_paywall.html"}
# Which view model a fragment gets (`view`), registered by create_app: e.g. billing.paywall.paywall_view.
ErrorView = Callable[[DomainError], object]
# Extra HTML for an htmx error answer, registered by create_app: e.g. a page's refreshed content to swap
# out of band beside the modal, when the error says that page is stale. "" adds nothing.
ErrorCompanion = Callable[[DomainError], str]

_HTTP_CODES = {
    400: ("INVALID_REQUEST", "The request could not be understood."),
    401: ("UNAUTHORIZED", "A valid Bearer token is required."),
    403: ("FORBIDDEN", "You may not do this."),
    404: ("NOT_FOUND", "There is nothing at this address."),
    405: ("METHOD_NOT_ALLOWED", "This address does not accept that method."),
    413: ("INVALID_REQUEST", "The request body is too large."),
    429: ("RATE_LIMITED", "Too many requests. Try again shortly."),
    500: ("INTERNAL_ERROR", "Something went wrong on our side. It has been logged."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
}


def wants_json() -> bool:
    """True for /api/ routes and for clients that explicitly prefer JSON over HTML."""
    if request.path.startswith("/api/"):
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def is_htmx() -> bool:
    """True for an htmx request (but not a history-restore, which wants a full page)."""
    # The WSGI environ's names for HX-Request and HX-History-Restore-Request: a dict lookup, where
    # request.headers answers a missing header (every non-htmx request's case) by raising KeyError.
    environ = request.environ
    return environ.get("HTTP_HX_REQUEST") == "true" and environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST") != "true"


def error_response(err: DomainError) -> Response:
    """Render a domain error in the shape the client asked for."""
    fragment = next((t for cls, t in FRAGMENTS.items() if isinstance(err, cls)), None)
    if is_htmx():
        companions: list[ErrorCompanion] = current_app.extensions.get("error_companions", [])
        html = render_template(fragment or "errors/_error.html", err=err, view=_view_of(err))
        resp = make_response(html + "".join(companion(err) for companion in companions))
        resp.headers["HX-Retarget"] = "#modal"
        resp.headers["HX-Reswap"] = "innerHTML"
    elif wants_json():
        resp = jsonify(code=err.code, message=err.message, **err.details)
    else:
        resp = make_response(render_template("errors/page.html", err=err, fragment=fragment, view=_view_of(err)))
    resp.status_code = err.status
    if err.retry_after is not None:
        resp.headers["Retry-After"] = str(err.retry_after)
    resp.vary.update(("Accept", "HX-Request"))
    return resp


def _view_of(err: DomainError) -> object:
    """The view model registered for the error's class (None if there is none)."""
    views: Mapping[type[DomainError], ErrorView] = current_app.extensions.get("error_views", {})
    build = next((b for cls, b in views.items() if isinstance(err, cls)), None)
    return build(err) if build is not None else None


def _from_http(exc: HTTPException) -> DomainError:
    status = exc.code or 500
    code, message = _HTTP_CODES.get(status, ("HTTP_ERROR", exc.description or "Request failed."))
    err = DomainError(message)
    err.status, err.code = status, code
    if status == 413:
        limit = request.max_content_length
        err.details["fields"] = {"body": f"larger than the {limit} bytes allowed"}
        err.message = f"The request body is larger than the {limit} bytes allowed."
    elif status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        err.details["allowed"] = sorted(exc.valid_methods)  # type: ignore[attr-defined]
    return err


def handle_domain_error(err: DomainError) -> Response:
    """Domain errors are expected outcomes: answer them, roll back whatever the request began."""
    db.session.rollback()
    if isinstance(err, RefusedInput) and not wants_json() and any(name in request.form for name in err.fields):
        page = form_page_for_endpoint(current_app, request.endpoint)
        shown = page(err.fields) if page is not None else None
        if shown is not None:  # the form again, each refused field marked
            resp = make_response(shown)
            resp.status_code = err.status
            return resp
    return error_response(err)


def handle_rate_limited(exc: RateLimitExceeded) -> Response:
    """Flask-Limiter's 429 in our shape, with Retry-After."""
    err = _from_http(exc)
    err.retry_after = _retry_after_seconds(exc)
    err.details["limit"] = str(exc.limit.limit) if exc.limit else None
    return error_response(err)


def _retry_after_seconds(exc: RateLimitExceeded) -> int:
    window = limiter.current_limit
    if window is not None:
        return max(1, int(window.reset_at - time.time()))
    return 60


def handle_csrf_error(exc: CSRFError) -> Response:
    """A form posted without a valid CSRF token: nothing was changed."""
    err = DomainError("The form has expired or was not sent from this site. Reload the page and try again.")
    err.code = "CSRF_FAILED"
    return error_response(err)


def handle_http_exception(exc: HTTPException) -> Response:
    """404, 405, 413 and friends in the error contract."""
    if exc.code == 500:
        return handle_unexpected(exc)
    return error_response(_from_http(exc))


def handle_unexpected(exc: Exception) -> Response:
    """Anything unforeseen: roll back, log the traceback, answer 500 without leaking it."""
    db.session.rollback()
    log.exception("unhandled_error", extra={"path": request.path, "method": request.method})
    err = DomainError(_HTTP_CODES[500][1])
    err.status, err.code = 500, "INTERNAL_ERROR"
    return error_response(err)


def register_error_handlers(app: Flask, views: Mapping[type[DomainError], ErrorView] | None = None,
                            companions: list[ErrorCompanion] | None = None) -> None:
    """Route every error class to its handler; `views` build the view model each error fragment gets,
    `companions` add HTML (out-of-band swaps) to htmx error answers."""
    app.extensions["error_views"] = dict(views or {})
    app.extensions["error_companions"] = list(companions or [])
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
