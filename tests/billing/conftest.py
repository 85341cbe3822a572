"""Billing fixtures: a fresh Stripe emulator per test, the app served over real HTTP, the catalog bootstrapped.

The app talks to the emulator with the real stripe library, and the emulator delivers signed webhooks
to the app's live server, so every leg of the billing flow is real HTTP on 127.0.0.1.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from stripe_emulator import EmulatorServer
from tests.conftest import ApiClient, running_app, signup_api_client
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
        """Block until the emulator has delivered every queued webhook."""
        self.emulator.wait_for_webhooks(timeout=timeout)

    def entitlement(self, tenant_id: str) -> Entitlement:
        """The tenant's entitlement as the database has it now."""
        _db.session.expire_all()
        ent = _db.session.get(Entitlement, tenant_id)
        assert ent is not None
        return ent


@pytest.fixture
def billing_overrides() -> dict[str, Any]:
    """Extra config for a billing test module (override this fixture)."""
    return {}


@pytest.fixture
def billing(database_url: str, billing_overrides: dict[str, Any], tmp_path: Any) -> Iterator[BillingEnv]:
    """A fresh emulator wired to a live server of the app, with the plan catalog bootstrapped."""
    lazy = LazyWSGI()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lazy, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    emulator = EmulatorServer(port=0, webhook_url=f"{url}/api/billing/webhook", webhook_secret=WEBHOOK_SECRET,
                              webhook_retry_schedule=(0.05, 0.1, 0.2))
    emulator.start()
    overrides = {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_API_BASE": emulator.url,
                 "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                 "STRIPE_PRODUCTS_FILE": str(tmp_path / "stripe_products.json"), **billing_overrides}
    try:
        with running_app(database_url, overrides) as app:
            lazy.app = app
            catalog = bootstrap_service.bootstrap()
            client = stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url})
            yield BillingEnv(app=app, url=url, emulator=emulator, stripe=client, catalog=catalog)
            emulator.wait_for_webhooks(timeout=5)
    finally:
        emulator.stop()
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def tenant(billing: BillingEnv) -> ApiClient:
    """A signed-up tenant of the billing app."""
    return signup_api_client(billing.app.test_client())


@pytest.fixture
def logged_in_billing(billing: BillingEnv, tenant: ApiClient) -> Any:
    """A browser session (test client with cookie) of `tenant`, logged in through the form."""
    from tests.conftest import csrf_token_from

    web = billing.app.test_client()
    token = csrf_token_from(web.get("/login").get_data(as_text=True))
    resp = web.post("/login", data={"email": tenant.email, "password": "testpass123", "csrf_token": token})
    assert resp.status_code == 302
    return web


@pytest.fixture
def app(billing: BillingEnv) -> Flask:
    """In billing tests the app is the one served live to the emulator (so `db` and `client` use it)."""
    return billing.app
