"""The AI Bookkeeper web application: `create_app` builds it; nothing happens at import time."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response

from webapp.config import Config, config_from_env

ROOT = Path(__file__).resolve().parent.parent


# How many distinct plain callables App.ensure_sync remembers (the app registers a few dozen).
PLAIN_CALLABLES_KEPT = 1024


class App(Flask):
    """Flask, answering `ensure_sync` from memory for the plain functions it has already seen.

    Flask asks `ensure_sync` for every hook and view of every request (a dozen per API request), and
    each answer inspects the function's code flags again (inspect.iscoroutinefunction), although a
    function's being `async def` or not never changes. The answer for async functions is Flask's own,
    every time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_callables: set[Callable[..., Any]] = set()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            if func in self._plain_callables:
                return func
        except TypeError:  # an unhashable callable object: asked every time
            return super().ensure_sync(func)
        answer = super().ensure_sync(func)
        if answer is func and len(self._plain_callables) < PLAIN_CALLABLES_KEPT:
            self._plain_callables.add(func)
        return answer


def create_app(config: Config | None = None) -> Flask:
    """Build the app; tests pass TestConfig(...), wsgi.py and the flask CLI pass nothing."""
    app = App(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(ROOT / "instance"))
    app.config.from_object(config or config_from_env())
    from webapp.logs import configure_logging

    configure_logging(app)
    register_extensions(app)
    register_request_policies(app)
    register_blueprints(app)
    register_metrics(app)
    register_error_handlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind db, migrations, log-in sessions, CSRF and the rate limiter to the app."""
    from webapp import models  # noqa: F401  (every table registered before migrate/create_all)
    from webapp.auth.services import load_user
    from webapp.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from sqlalchemy import event

        from webapp.extensions import configure_sqlite_connection

        with app.app_context():
            event.listen(db.engine, "connect", configure_sqlite_connection)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"),
                     render_as_batch=app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    from webapp.auth.guards import BearerOnlyApiSessions, login_page_answer

    app.session_interface = BearerOnlyApiSessions()  # /api/ requests neither read nor set the session cookie
    login_manager.unauthorized_handler(login_page_answer)
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_user)
    csrf.init_app(app)
    limiter.init_app(app)
    from webapp.billing import stripe_gateway

    stripe_gateway.init_app(app)


def register_request_policies(app: Flask) -> None:
    """What every request goes through before its view: real client addresses and the rate limiter's
    failure handling (webapp/rate_limits.py), then the input policy (webapp/input_policy.py)."""
    from webapp import input_policy, rate_limits

    rate_limits.init_app(app)
    input_policy.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Register each area's page and API blueprints; API blueprints are CSRF-exempt (Bearer only)."""
    from webapp import auth, billing, bookkeeping, metering, ops
    from webapp.billing.webhook import webhook_bp
    from webapp.extensions import csrf

    for blueprint in (auth.bp, billing.bp, bookkeeping.bp, metering.bp, ops.bp):
        app.register_blueprint(blueprint)
    for api in (auth.api_bp, billing.api_bp, bookkeeping.api_bp, metering.api_bp, webhook_bp):
        csrf.exempt(api)
        app.register_blueprint(api)


def register_metrics(app: Flask) -> None:
    """Prometheus counters for /metrics (webapp/ops/metrics.py): requests, webhook outcomes, gate decisions."""
    from webapp.ops import metrics

    metrics.init_app(app)


def register_error_handlers(app: Flask) -> None:
    """One error contract for the whole app (see webapp/error_handlers.py)."""
    from webapp.billing.paywall import paywall_view
    from webapp.bookkeeping.pages import stale_workspace
    from webapp.error_handlers import register_error_handlers as register
    from webapp.errors import PaywallError

    register(app, views={PaywallError: paywall_view}, companions=[stale_workspace])  # type: ignore[dict-item]


def register_commands(app: Flask) -> None:
    """The `flask billing|usage|ops|demo ...` commands (`flask db ...` comes with Flask-Migrate)."""
    from webapp.billing import cli as billing_cli
    from webapp.metering import cli as usage_cli
    from webapp.ops import cli as ops_cli
    from webapp.ops import demo_cli
    from webapp.ops import support_cli

    billing_cli.init_app(app)
    usage_cli.init_app(app)
    ops_cli.init_app(app)
    demo_cli.init_app(app)
    support_cli.init_app(app)


def register_template_helpers(app: Flask) -> None:
    """Template filters, and Vary on every response that htmx may fetch as a fragment."""
    from webapp.templating import cents, date_utc, datetime_utc

    app.add_template_filter(cents)
    app.add_template_filter(date_utc)
    app.add_template_filter(datetime_utc)

    @app.after_request
    def vary_on_htmx(response: Response) -> Response:
        # getlist, not `in`: a missing header is the common case, and `in` answers it by raising KeyError.
        if response.headers.getlist("Vary"):
            response.vary.add("HX-Request")
        else:  # the common case, without parsing and re-serialising a header set
            response.headers["Vary"] = "HX-Request"
        return response
