"""Rate limiting that holds: shared storage (REDIS_URL), fail open on storage failure, real client addresses.

The limiter (webapp.extensions.limiter) counts per client address in RATELIMIT_STORAGE_URI: Redis when
REDIS_URL is set, so every worker and process shares one count. If the storage fails, the request is let
through (RATELIMIT_SWALLOW_ERRORS) and one ERROR line `ratelimit.storage_failed` is logged — never a 500.
Behind TRUSTED_PROXIES reverse proxies, the client address comes from their X-Forwarded-For (ProxyFix),
so clients do not share the proxy's bucket; with the default 0, forwarded headers are ignored.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask
from flask.globals import request_ctx
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)
T = TypeVar("T")
# Where Flask-Limiter (4.1.1, pinned) keeps a request's limits (LimiterContext), on the request context; made on
# first use. If a release renamed it, the limiter's headers would vanish from limited routes (a test checks them).
LIMITER_CONTEXT = "_limiter_request_context"


class StorageFailureFilter(logging.Filter):
    """Turns Flask-Limiter's swallowed storage errors into one `ratelimit.storage_failed` line of ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        error = record.exc_info[1] if record.exc_info else None
        log.error("ratelimit.storage_failed", extra={"error": f"{type(error).__name__}: {error}" if error else
                                                     record.getMessage(), "fail_open": True})
        return False


def init_app(app: Flask) -> None:
    """Trust TRUSTED_PROXIES hops of X-Forwarded-* headers, log storage failures our way, and leave the
    limiter's every-request pass out while every limit is a route decorator."""
    _check_only_decorated_routes(app)
    hops = int(app.config.get("TRUSTED_PROXIES", 0))
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    limiter_log = logging.getLogger("flask-limiter")
    if not any(isinstance(f, StorageFailureFilter) for f in limiter_log.filters):
        limiter_log.addFilter(StorageFailureFilter())


def _check_only_decorated_routes(app: Flask) -> None:
    """Our limits are all route decorators (the auth routes'), and a decorated route checks its limits in
    its own wrapper. The limiter's before_request pass exists for default, application and blueprint
    limits; with none configured it only works out, on every request, that nothing applies (about a
    tenth of a stored webhook's CPU). It stays as soon as any such limit is configured."""
    from webapp.extensions import limiter

    # (A blueprint limit, `limiter.limit(...)(bp)`, would need the pass too: we have none.)
    global_limits = app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION")
    hooks = app.before_request_funcs.get(None, [])
    if not global_limits and limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)
        _skip_wind_up_where_nothing_was_limited(app, limiter)


def _skip_wind_up_where_nothing_was_limited(app: Flask, limiter: object) -> None:
    """The limiter's after_request (rate-limit headers, conditional deductions) and teardown (reset its
    context) have nothing to do in a request no limit was checked in: its per-request context would be
    made only to be found empty. Without the every-request pass, only a decorated route checks a limit,
    and that check makes the context; so a request without the context skips both hooks, and the answer
    is the same (no headers to add, nothing to deduct or reset); an API commit saves a few per cent of its CPU."""

    def ours(hook: object) -> bool:  # the partial(Limiter.__inject_headers, limiter) and limiter.__release_context
        return getattr(hook, "__self__", None) is limiter or getattr(hook, "args", None) == (limiter,)

    for hooks in (app.after_request_funcs.setdefault(None, []), app.teardown_request_funcs.setdefault(None, [])):
        hooks[:] = [_when_limited(hook) if ours(hook) else hook for hook in hooks]


def _when_limited(hook: Callable[[T], T]) -> Callable[[T], T]:
    """Run a limiter hook only in a request that checked a limit; else pass its argument through."""

    def guarded(arg: T) -> T:
        return hook(arg) if hasattr(request_ctx, LIMITER_CONTEXT) else arg

    guarded.__qualname__ = f"when_limited({getattr(hook, '__qualname__', hook)!r})"
    return guarded
