"""Bearer-token authentication for /api/ routes (never the session cookie)."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import flash, g, make_response, redirect, request
from flask_login import login_url
from werkzeug.wrappers import Response

from webapp.auth import services
from webapp.errors import Unauthorized
from webapp.models import User
from webapp.redirects import same_site_path

P = ParamSpec("P")
R = TypeVar("R")


def bearer_required(view: Callable[P, R]) -> Callable[P, R]:
    """Reject the request with 401 UNAUTHORIZED unless it carries a live Bearer token."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = services.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise Unauthorized("A valid Bearer token is required: send 'Authorization: Bearer <token>'.")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapped


def api_user() -> User:
    """The user authenticated by `bearer_required` for this request."""
    user: User = g.api_user
    return user


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
