"""The Flask application: Stripe's /v1 API, the /_emulator control API and the hosted pages."""
from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .core import Emulator
from .errors import StripeError

log = logging.getLogger(__name__)


def create_app(emu: Emulator) -> Flask:
    """Build the WSGI app serving `emu`."""
    from .api import billing, catalog, checkout, control, customers, events, subscriptions
    from .api import portal_configurations, test_clocks
    from .hosted import checkout_page, events_page, invoice_page, portal_page

    app = Flask(__name__)
    app.extensions["stripe_emulator"] = emu
    for module in (catalog, customers, checkout, subscriptions, billing, events, test_clocks,
                   control, checkout_page, portal_page, events_page, portal_configurations,
                   invoice_page):
        app.register_blueprint(module.bp)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def _is_api() -> bool:
    return request.path.startswith(("/v1/", "/_emulator/"))


def _http_error(exc: HTTPException) -> Response | HTTPException:
    if not _is_api():
        return exc
    from .api.base import json_response
    if exc.code in (404, 405):
        err = StripeError(f"Unrecognized request URL ({request.method}: {request.path}). Please "
                          "see https://stripe.com/docs or we can help at "
                          "https://support.stripe.com/.", status=404)
    else:
        err = StripeError(exc.description or "Invalid request.", status=exc.code or 400)
    return json_response(err.body(), err.status)


def _unexpected(exc: Exception) -> Response:
    log.exception("emulator.unexpected_error", extra={"path": request.path})
    from .api.base import json_response
    err = StripeError("An unexpected error occurred in the Stripe emulator.", status=500,
                      type="api_error")
    return json_response(err.body(), 500)
