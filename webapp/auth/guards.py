"""Bearer-token authentication for /api/ routes (never the session cookie)."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request

from webapp.auth import services
from webapp.errors import Unauthorized
from webapp.models import User

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
