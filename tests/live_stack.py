"""The app served live over HTTP beside a fresh Stripe emulator: shared by the billing and browser tests.

The app talks to the emulator with the real stripe library, and the emulator delivers signed webhooks
to the app's live server and redirects browsers back to it, so every leg is real HTTP on 127.0.0.1.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stripe
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from stripe_emulator import EmulatorServer
from tests.conftest import running_app
from webapp.billing import background
from webapp.billing import bootstrap as bootstrap_service
from webapp.extensions import db as _db
from webapp.models import Entitlement

WEBHOOK_SECRET = "whsec_test_billing_suite"
API_KEY = "sk_test_billing_suite"


class LazyWSGI:
    """Lets the server start (and so know its port) before the app it serves is built."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "live server called before its app was set"
        return self.app(environ, start_response)


@dataclass
class BillingEnv:
    """The pieces of one billing test: app, its URL, the emulator and a Stripe client on it."""

    app: Flask
    url: str
    emulator: Any
    stripe: stripe.StripeClient
    catalog: dict[str, dict[str, Any]]

    def wait_for_webhooks(self, timeout: float = 10.0) -> None:
        """Block until the emulator has delivered every queued webhook, and the app has applied the events
        it answered as `queued` (its background reads: webapp/billing/sync_lease.py)."""
        self.emulator.wait_for_webhooks(timeout=timeout)
        assert background.wait_idle(timeout), "the app's background reads did not finish"

    def entitlement(self, tenant_id: str) -> Entitlement:
        """The tenant's entitlement as the database has it now."""
        _db.session.expire_all()
        ent = _db.session.get(Entitlement, tenant_id)
        assert ent is not None
        return ent


@contextmanager
def live_billing(database_url: str, files: Path, overrides: dict[str, Any] | None = None) -> Iterator[BillingEnv]:
    """Serve the app on a free port with a fresh emulator wired to it and the plan catalog bootstrapped."""
    lazy = LazyWSGI()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lazy, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    emulator = EmulatorServer(port=0, webhook_url=f"{url}/api/billing/webhook", webhook_secret=WEBHOOK_SECRET,
                              webhook_retry_schedule=(0.05, 0.1, 0.2))
    emulator.start()
    config = {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_API_BASE": emulator.url, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
              "STRIPE_PRODUCTS_FILE": str(files / "stripe_products.json"),
              # Outside debug, return links come from configuration, never from the Host header.
              "BILLING_RETURN_URL": f"{url}/billing", **(overrides or {})}
    try:
        with running_app(database_url, config) as app:
            lazy.app = app
            catalog = bootstrap_service.bootstrap()
            client = stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url})
            yield BillingEnv(app=app, url=url, emulator=emulator, stripe=client, catalog=catalog)
            emulator.wait_for_webhooks(timeout=5)
    finally:
        emulator.stop()
        server.shutdown()
        thread.join(timeout=5)
