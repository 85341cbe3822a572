"""Bearer-token authentication for /api/ routes (never the session cookie)."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import NoReturn, ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, make_response, redirect, request
from flask.sessions import NullSession, SecureCookieSessionInterface
from flask_login import login_url
from werkzeug.wrappers import Request, Response

from webapp.auth import services
from webapp.errors import Unauthorized
from webapp.models import User
from webapp.redirects import same_site_path

P = ParamSpec("P")
R = TypeVar("R")


# Set on a view whose gate reads the tenant's entitlement (metering's @metered): the token's read brings it.
READS_ENTITLEMENT = "reads_entitlement"


def bearer_required(view: Callable[P, R]) -> Callable[P, R]:
    """Reject the request with 401 UNAUTHORIZED unless it carries a live Bearer token."""
    entitlement_too = getattr(view, READS_ENTITLEMENT, False)

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with_entitlement = entitlement_too and current_app.config["GATE_ENABLED"]
        caller = (services.caller_for_token(token.strip(), with_entitlement=with_entitlement)
                  if scheme.lower() == "bearer" else None)
        if caller is None:
            raise Unauthorized("A valid Bearer token is required: send 'Authorization: Bearer <token>'.")
        g.api_caller = caller
        return view(*args, **kwargs)

    return wrapped


def api_tenant_id() -> str:
    """The tenant of the Bearer token `bearer_required` accepted for this request (no database read)."""
    caller: services.ApiCaller = g.api_caller
    return caller.tenant_id


def api_user() -> User:
    """The user of the Bearer token `bearer_required` accepted (read on first use; most routes need the tenant only)."""
    caller: services.ApiCaller = g.api_caller
    user = services.user_by_id(caller.user_id)
    if user is None:  # deleted since the token was read: its tokens went with it
        raise Unauthorized("A valid Bearer token is required: send 'Authorization: Bearer <token>'.")
    return user


API_PREFIX = "/api/"


class NoCookieSession(NullSession):
    """The session of an /api/ request: always empty, and writing to it is a bug (nothing would be sent)."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("An /api/ request has no cookie session: it is authenticated by its Bearer token only.")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _refuse  # type: ignore[assignment]


class BearerOnlyApiSessions(SecureCookieSessionInterface):
    """The signed cookie session for pages; none for /api/ requests, which authenticate by Bearer token only.

    An /api/ request's session cookie is not read, and its answer sets no cookie and does not vary on
    Cookie (nothing in it depends on one), so it costs neither the cookie's signature check nor its save.
    An htmx request keeps the session even on /api/: its answer is HTML for the browser's page (a paywall
    fragment), whose forms carry a CSRF token of the browser's session.
    """

    null_session_class = NoCookieSession

    def open_session(self, app: Flask, request: Request) -> NullSession | None:  # type: ignore[override]
        if request.path.startswith(API_PREFIX) and "HX-Request" not in request.headers:
            return self.make_null_session(app)
        return super().open_session(app, request)


LOGIN_MESSAGE = "Please log in to see this page."


def login_page_answer() -> Response:
    """Flask-Login's unauthorized handler: send the browser to the log-in page, then back where it was.

    An htmx request (a poll, a form swap) gets 401 with HX-Redirect, so htmx loads the log-in page as a
    whole page instead of swapping it into a fragment; `next` is then the page the user was on.
    """
    from webapp.error_handlers import is_htmx

    flash(LOGIN_MESSAGE, "info")
    htmx = is_htmx()
    page = _page_path(request.headers.get("HX-Current-URL", "")) if htmx else None
    target = login_url("auth.login", next_url=page or same_site_path(request.full_path.rstrip("?")) or "/")
    if not htmx:
        return redirect(target)
    resp = make_response("", 401)
    resp.headers["HX-Redirect"] = target
    return resp


def _page_path(url: str) -> str | None:
    """The same-site path (and query) of the page htmx says the user is on; None for another site's URL."""
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return None
    return same_site_path(parts.path + (f"?{parts.query}" if parts.query else ""))
